package embeddb

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/rdsgate/rdsgate/pgwire"
)

// PostgreSQL type OIDs the face uses.
const (
	oidBool    = 16
	oidBytea   = 17
	oidInt8    = 20
	oidText    = 25
	oidFloat8  = 701
	pgMaxQuery = 1 << 24
)

// PostgresServer is the PostgreSQL face of a DB.
type PostgresServer struct {
	db *DB

	mu      sync.Mutex
	nextPID uint32
	running map[uint32]*pgRunning // pid -> the session's cancel state
	wg      sync.WaitGroup
}

type pgRunning struct {
	key    [4]byte
	mu     sync.Mutex
	cancel context.CancelFunc // of the statement running now, if any
}

// NewPostgresServer returns the PostgreSQL face of d.
func NewPostgresServer(d *DB) *PostgresServer {
	return &PostgresServer{db: d, nextPID: 10000, running: map[uint32]*pgRunning{}}
}

// Negotiation returns the NegotiateProtocolVersion message the face sends
// for sm (nil when none), as PostgreSQL 15 would: it speaks 3.0 and
// recognizes no protocol options.
func Negotiation(sm *pgwire.StartupMessage) []byte {
	if sm.Minor() == 0 && len(sm.ProtocolOptions()) == 0 {
		return nil
	}
	return pgwire.NegotiateProtocolVersion(0, sm.ProtocolOptions())
}

// Cancel cancels the statement running in the session with pid if key is
// its secret, as a CancelRequest does; a wrong key is ignored silently.
func (ps *PostgresServer) Cancel(pid uint32, key []byte) {
	ps.mu.Lock()
	r := ps.running[pid]
	ps.mu.Unlock()
	if r == nil || len(key) != 4 || [4]byte(key) != r.key {
		return
	}
	r.mu.Lock()
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Unlock()
}

// Wait waits for the sessions started by Serve to end.
func (ps *PostgresServer) Wait() { ps.wg.Wait() }

// Serve runs one session on c in a goroutine (see ServeConn).
func (ps *PostgresServer) Serve(ctx context.Context, c net.Conn, trusted bool) {
	ps.wg.Add(1)
	go func() {
		defer ps.wg.Done()
		ps.ServeConn(ctx, c, trusted)
	}()
}

// ServeConn runs one session on c until the client terminates, c fails or
// ctx ends; c is closed on return. The client's first packet must be its
// StartupMessage (this face offers no TLS: the front in front of it does).
// A trusted session logs in without a password (the front checked an IAM
// token); otherwise the face asks for the user's password in clear text.
func (ps *PostgresServer) ServeConn(ctx context.Context, c net.Conn, trusted bool) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	br := bufio.NewReader(c)
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	p, err := pgwire.ReadStartup(br)
	if err != nil {
		return
	}
	sm, ok := p.(*pgwire.StartupMessage)
	if !ok {
		if cr, ok := p.(*pgwire.CancelRequest); ok {
			ps.Cancel(cr.ProcessID, cr.SecretKey)
		}
		return
	}
	be := pgproto3.NewBackend(br, c)
	be.SetMaxBodyLen(pgMaxQuery)
	ss := &pgSession{ps: ps, be: be, conn: c}
	if npv := Negotiation(sm); npv != nil {
		if _, err := c.Write(npv); err != nil {
			return
		}
	}
	sess, err := ss.login(ctx, sm, trusted)
	if err != nil {
		return
	}
	defer sess.close()
	_ = c.SetDeadline(time.Time{})
	ss.sess = sess
	ss.loop(ctx)
}

// pgSession is one client of the PostgreSQL face.
type pgSession struct {
	ps   *PostgresServer
	be   *pgproto3.Backend
	conn net.Conn
	sess *session
	run  *pgRunning
	pid  uint32

	stmts   map[string]*pgStmt
	portals map[string]*pgPortal
	skip    bool // after an error in the extended protocol, until Sync
}

type pgStmt struct {
	sql     string // translated
	nParams int
	fields  []pgproto3.FieldDescription // nil: no rows
	typed   bool
}

type pgPortal struct {
	stmt    *pgStmt
	args    []any
	formats []int16
	res     *result // after the first Execute
	pos     int
}

func (ss *pgSession) fatal(code, msg string) error {
	ss.be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg})
	_ = ss.be.Flush()
	return errors.New(msg)
}

func (ss *pgSession) login(ctx context.Context, sm *pgwire.StartupMessage, trusted bool) (*session, error) {
	user, dbname := sm.User(), sm.Database()
	if _, ok := ss.ps.db.account(user); !ok {
		return nil, ss.fatal(pgwire.CodeInvalidAuthorization, fmt.Sprintf("role %q does not exist", user))
	}
	if !trusted {
		ss.be.Send(&pgproto3.AuthenticationCleartextPassword{})
		if err := ss.be.Flush(); err != nil {
			return nil, err
		}
		_ = ss.be.SetAuthType(pgproto3.AuthTypeCleartextPassword)
		msg, err := ss.be.Receive()
		if err != nil {
			return nil, err
		}
		pw, ok := msg.(*pgproto3.PasswordMessage)
		if !ok || !ss.ps.db.checkPassword(user, pw.Password) {
			return nil, ss.fatal(pgwire.CodeInvalidPassword, fmt.Sprintf("password authentication failed for user %q", user))
		}
	}
	sess, err := ss.ps.db.newSession(ctx, postgres, user, dbname)
	if err != nil {
		var nd *noDatabaseError
		if errors.As(err, &nd) {
			return nil, ss.fatal("3D000", nd.Error())
		}
		return nil, ss.fatal(pgwire.CodeConnectionFailure, err.Error())
	}
	ss.be.Send(&pgproto3.AuthenticationOk{})
	app, _ := sm.Param("application_name")
	for _, kv := range [][2]string{
		{"application_name", app}, {"client_encoding", "UTF8"}, {"DateStyle", "ISO, MDY"},
		{"integer_datetimes", "on"}, {"IntervalStyle", "postgres"}, {"is_superuser", "off"},
		{"server_encoding", "UTF8"}, {"server_version", PostgresVersion}, {"session_authorization", user},
		{"standard_conforming_strings", "on"}, {"TimeZone", "UTC"},
	} {
		ss.be.Send(&pgproto3.ParameterStatus{Name: kv[0], Value: kv[1]})
	}
	ss.register()
	sess.connID = ss.pid
	ss.be.Send(&pgproto3.BackendKeyData{ProcessID: ss.pid, SecretKey: ss.run.key[:]})
	ss.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := ss.be.Flush(); err != nil {
		sess.close()
		ss.unregister()
		return nil, err
	}
	return sess, nil
}

func (ss *pgSession) register() {
	r := &pgRunning{}
	_, _ = rand.Read(r.key[:])
	ss.ps.mu.Lock()
	ss.ps.nextPID++
	ss.pid = ss.ps.nextPID
	ss.ps.running[ss.pid] = r
	ss.ps.mu.Unlock()
	ss.run = r
}

func (ss *pgSession) unregister() {
	ss.ps.mu.Lock()
	delete(ss.ps.running, ss.pid)
	ss.ps.mu.Unlock()
}

// statementContext is ctx, cancellable by a CancelRequest.
func (ss *pgSession) statementContext(ctx context.Context) (context.Context, func()) {
	c, cancel := context.WithCancel(ctx)
	ss.run.mu.Lock()
	ss.run.cancel = cancel
	ss.run.mu.Unlock()
	return c, func() {
		ss.run.mu.Lock()
		ss.run.cancel = nil
		ss.run.mu.Unlock()
		cancel()
	}
}

func (ss *pgSession) txStatus() byte {
	switch {
	case ss.sess.failed:
		return 'E'
	case ss.sess.inTx:
		return 'T'
	}
	return 'I'
}

func (ss *pgSession) loop(ctx context.Context) {
	defer ss.unregister()
	ss.stmts, ss.portals = map[string]*pgStmt{}, map[string]*pgPortal{}
	for {
		msg, err := ss.be.Receive()
		if err != nil {
			return
		}
		if ss.skip {
			if _, ok := msg.(*pgproto3.Sync); !ok {
				if _, ok := msg.(*pgproto3.Terminate); !ok {
					continue
				}
			}
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			ss.simpleQuery(ctx, m.String)
			ss.be.Send(&pgproto3.ReadyForQuery{TxStatus: ss.txStatus()})
		case *pgproto3.Parse:
			if err := ss.parse(ctx, m); err != nil {
				ss.fail(err)
				continue
			}
			ss.be.Send(&pgproto3.ParseComplete{})
		case *pgproto3.Bind:
			if err := ss.bind(m); err != nil {
				ss.fail(err)
				continue
			}
			ss.be.Send(&pgproto3.BindComplete{})
		case *pgproto3.Describe:
			if err := ss.describe(ctx, m); err != nil {
				ss.fail(err)
			}
		case *pgproto3.Execute:
			if err := ss.execute(ctx, m); err != nil {
				ss.fail(err)
			}
		case *pgproto3.Close:
			if m.ObjectType == 'S' {
				delete(ss.stmts, m.Name)
			} else {
				delete(ss.portals, m.Name)
			}
			ss.be.Send(&pgproto3.CloseComplete{})
		case *pgproto3.Sync:
			ss.skip = false
			delete(ss.portals, "")
			ss.be.Send(&pgproto3.ReadyForQuery{TxStatus: ss.txStatus()})
		case *pgproto3.Flush:
		case *pgproto3.Terminate:
			_ = ss.be.Flush()
			return
		default:
			ss.fail(&pgError{code: pgwire.CodeFeatureNotSupported, msg: fmt.Sprintf("the embedded engine does not support %T", msg)})
			if _, ok := msg.(*pgproto3.CopyData); !ok {
				ss.skip = false
			}
		}
		if err := ss.be.Flush(); err != nil {
			return
		}
	}
}

// engineHint explains errors that come from the engine not being the
// real thing, with the way to get the real thing.
func engineHint(product, catalog, pkg string) string {
	return "The sandbox's embedded engine is SQLite behind the " + product + " protocol: no " + product +
		" catalog (" + catalog + "), no " + product + "-only syntax. For the real server, install " + pkg +
		" (the sandbox then uses it) or give 'rdsgate sandbox --backend' a server's URL."
}

// pgError is an error with a SQLSTATE.
type pgError struct {
	code, msg string
}

func (e *pgError) Error() string { return e.msg }

// fail reports err and, in the extended protocol, skips to the next Sync.
func (ss *pgSession) fail(err error) {
	ss.be.Send(ss.errorResponse(err))
	ss.skip = true
}

func (ss *pgSession) errorResponse(err error) *pgproto3.ErrorResponse {
	code, msg := "42601", err.Error() // syntax_error: most of what SQLite refuses
	var pe *pgError
	var uv *unknownVariableError
	var ce *catalogError
	switch {
	case errors.As(err, &pe):
		code, msg = pe.code, pe.msg
	case errors.As(err, &uv):
		code, msg = "42704", fmt.Sprintf("unrecognized configuration parameter %q", uv.name)
	case errors.As(err, &ce):
		code, msg = "0A000", ce.Error() // feature_not_supported
	case errors.Is(err, context.Canceled):
		code, msg = pgwire.CodeQueryCanceled, "canceling statement due to user request"
	default:
		msg = strings.TrimPrefix(msg, "SQL logic error: ")
		if i := strings.LastIndex(msg, " (1)"); i > 0 {
			msg = msg[:i]
		}
		if strings.Contains(msg, "no such table") {
			code = "42P01"
		} else if strings.Contains(msg, "constraint failed") {
			code = "23505"
		}
	}
	if ss.sess.inTx {
		ss.sess.failed = true
	}
	e := &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: msg}
	if code == "42601" || code == "42P01" {
		e.Hint = engineHint("PostgreSQL", `psql's \d, pg_catalog`, "postgresql")
	}
	return e
}

func (ss *pgSession) translator() translator {
	return translator{s: ss.sess, vars: pgSetting}
}

// pgSetting answers SHOW for the few settings clients ask about.
func pgSetting(name string) (string, bool) {
	switch strings.ToLower(name) {
	case "server_version":
		return PostgresVersion, true
	case "server_encoding", "client_encoding":
		return "UTF8", true
	case "timezone":
		return "UTC", true
	case "datestyle":
		return "ISO, MDY", true
	case "standard_conforming_strings", "integer_datetimes":
		return "on", true
	case "transaction_isolation", "default_transaction_isolation":
		return "serializable", true
	}
	return "", false
}

// special handles the statements SQLite has no equivalent for: SET and
// SHOW. done reports whether stmt was one.
func (ss *pgSession) special(stmt string) (res *result, done bool, err error) {
	switch firstWord(stmt) {
	case "SET", "RESET", "DISCARD", "DEALLOCATE", "LISTEN", "UNLISTEN":
		return &result{verb: firstWord(stmt)}, true, nil
	case "SHOW":
		f := strings.Fields(stmt)
		if len(f) != 2 {
			return nil, true, &pgError{code: "42601", msg: "syntax error in SHOW"}
		}
		name := strings.ToLower(strings.Trim(f[1], `"`))
		v, ok := pgSetting(name)
		if !ok {
			return nil, true, &pgError{code: "42704", msg: fmt.Sprintf("unrecognized configuration parameter %q", name)}
		}
		return &result{verb: "SHOW", hasRows: true, cols: []column{{name: name}}, rows: [][]any{{v}}, affected: 1}, true, nil
	}
	return nil, false, nil
}

func (ss *pgSession) simpleQuery(ctx context.Context, q string) {
	stmts := splitStatements(q)
	if len(stmts) == 0 {
		ss.be.Send(&pgproto3.EmptyQueryResponse{})
		return
	}
	for _, st := range stmts {
		res, err := ss.runOne(ctx, st, nil)
		if err != nil {
			ss.be.Send(ss.errorResponse(err))
			return
		}
		if res.hasRows {
			fields := fieldsOf(res)
			ss.be.Send(&pgproto3.RowDescription{Fields: fields})
			for _, row := range res.rows {
				vals, err := encodeRow(row, fields, nil)
				if err != nil {
					ss.be.Send(ss.errorResponse(err))
					return
				}
				ss.be.Send(&pgproto3.DataRow{Values: vals})
			}
		}
		ss.be.Send(&pgproto3.CommandComplete{CommandTag: commandTag(res)})
	}
}

// runOne runs one statement of the client's dialect.
func (ss *pgSession) runOne(ctx context.Context, stmt string, args []any) (*result, error) {
	if res, done, err := ss.special(stmt); done {
		return res, err
	}
	if ss.sess.failed && !isEndOfTx(stmt) {
		return nil, &pgError{code: "25P02", msg: "current transaction is aborted, commands ignored until end of transaction block"}
	}
	tr, _, err := ss.translator().translate(stmt)
	if err != nil {
		return nil, err
	}
	sctx, done := ss.statementContext(ctx)
	defer done()
	return ss.sess.run(sctx, tr, args)
}

func isEndOfTx(stmt string) bool {
	switch firstWord(stmt) {
	case "ROLLBACK", "COMMIT", "END", "ABORT":
		return true
	}
	return false
}

func commandTag(res *result) []byte {
	switch res.verb {
	case "INSERT":
		return []byte("INSERT 0 " + strconv.FormatInt(res.affected, 10))
	case "UPDATE", "DELETE", "SELECT", "MERGE":
		return []byte(res.verb + " " + strconv.FormatInt(res.affected, 10))
	case "WITH", "VALUES", "TABLE":
		return []byte("SELECT " + strconv.FormatInt(res.affected, 10))
	case "CREATE", "DROP", "ALTER":
		return []byte(res.verb)
	case "END":
		return []byte("COMMIT")
	case "START":
		return []byte("BEGIN")
	}
	return []byte(res.verb)
}

func (ss *pgSession) parse(ctx context.Context, m *pgproto3.Parse) error {
	stmts := splitStatements(m.Query)
	if len(stmts) > 1 {
		return &pgError{code: "42601", msg: "cannot insert multiple commands into a prepared statement"}
	}
	st := &pgStmt{}
	if len(stmts) == 1 {
		st.sql = stmts[0]
		_, n, err := ss.translator().translate(st.sql)
		if err != nil {
			return err
		}
		st.nParams = max(n, len(m.ParameterOIDs))
	}
	if m.Name != "" {
		if _, dup := ss.stmts[m.Name]; dup {
			return &pgError{code: "42P05", msg: fmt.Sprintf("prepared statement %q already exists", m.Name)}
		}
	}
	ss.stmts[m.Name] = st
	return nil
}

func (ss *pgSession) bind(m *pgproto3.Bind) error {
	st, ok := ss.stmts[m.PreparedStatement]
	if !ok {
		return &pgError{code: "26000", msg: fmt.Sprintf("prepared statement %q does not exist", m.PreparedStatement)}
	}
	if len(m.Parameters) != st.nParams {
		return &pgError{code: pgwire.CodeProtocolViolation, msg: fmt.Sprintf("bind message supplies %d parameters, but prepared statement %q requires %d", len(m.Parameters), m.PreparedStatement, st.nParams)}
	}
	args := make([]any, len(m.Parameters))
	for i, p := range m.Parameters {
		f := int16(0)
		switch len(m.ParameterFormatCodes) {
		case 0:
		case 1:
			f = m.ParameterFormatCodes[0]
		default:
			f = m.ParameterFormatCodes[i]
		}
		switch {
		case p == nil:
			args[i] = nil
		case f == 0:
			args[i] = string(p)
		default:
			return &pgError{code: pgwire.CodeFeatureNotSupported, msg: "the embedded engine takes parameters in text format only"}
		}
	}
	ss.portals[m.DestinationPortal] = &pgPortal{stmt: st, args: args, formats: m.ResultFormatCodes}
	return nil
}

// describe answers Describe. The result columns of a statement are found
// by running it once in a savepoint that is rolled back, with NULL
// parameters: SQLite types values, not statements.
func (ss *pgSession) describe(ctx context.Context, m *pgproto3.Describe) error {
	var st *pgStmt
	if m.ObjectType == 'S' {
		var ok bool
		if st, ok = ss.stmts[m.Name]; !ok {
			return &pgError{code: "26000", msg: fmt.Sprintf("prepared statement %q does not exist", m.Name)}
		}
		oids := make([]uint32, st.nParams)
		for i := range oids {
			oids[i] = 0 // unspecified: pgx sends text for any Go value
		}
		ss.be.Send(&pgproto3.ParameterDescription{ParameterOIDs: oids})
	} else {
		p, ok := ss.portals[m.Name]
		if !ok {
			return &pgError{code: "34000", msg: fmt.Sprintf("portal %q does not exist", m.Name)}
		}
		st = p.stmt
	}
	if err := ss.typeStatement(ctx, st); err != nil {
		return err
	}
	if st.fields == nil {
		ss.be.Send(&pgproto3.NoData{})
		return nil
	}
	fields := st.fields
	if m.ObjectType == 'P' {
		fields = withFormats(fields, ss.portals[m.Name].formats)
	}
	ss.be.Send(&pgproto3.RowDescription{Fields: fields})
	return nil
}

func (ss *pgSession) typeStatement(ctx context.Context, st *pgStmt) error {
	if st.typed || st.sql == "" {
		return nil
	}
	if _, done, _ := ss.special(st.sql); done {
		st.typed = true
		if firstWord(st.sql) == "SHOW" {
			res, _, err := ss.special(st.sql)
			if err != nil {
				return err
			}
			st.fields = fieldsOf(res)
		}
		return nil
	}
	verb := firstWord(st.sql)
	if !returnsRows(verb, st.sql) {
		st.typed = true
		return nil
	}
	if ss.sess.failed {
		return &pgError{code: "25P02", msg: "current transaction is aborted, commands ignored until end of transaction block"}
	}
	tr, _, err := ss.translator().translate(st.sql)
	if err != nil {
		return err
	}
	if ss.sess.conn == nil {
		return errNoDatabase
	}
	if _, err := ss.sess.conn.ExecContext(ctx, "SAVEPOINT rdsgate_describe"); err != nil {
		return err
	}
	res, runErr := ss.sess.run(ctx, tr, make([]any, st.nParams))
	if _, err := ss.sess.conn.ExecContext(ctx, "ROLLBACK TO rdsgate_describe; RELEASE rdsgate_describe"); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	st.fields, st.typed = fieldsOf(res), true
	return nil
}

func withFormats(fields []pgproto3.FieldDescription, formats []int16) []pgproto3.FieldDescription {
	out := append([]pgproto3.FieldDescription(nil), fields...)
	for i := range out {
		out[i].Format = formatAt(formats, i)
	}
	return out
}

func formatAt(formats []int16, i int) int16 {
	switch len(formats) {
	case 0:
		return 0
	case 1:
		return formats[0]
	}
	if i < len(formats) {
		return formats[i]
	}
	return 0
}

func (ss *pgSession) execute(ctx context.Context, m *pgproto3.Execute) error {
	p, ok := ss.portals[m.Portal]
	if !ok {
		return &pgError{code: "34000", msg: fmt.Sprintf("portal %q does not exist", m.Portal)}
	}
	if p.stmt.sql == "" {
		ss.be.Send(&pgproto3.EmptyQueryResponse{})
		return nil
	}
	if p.res == nil {
		if err := ss.typeStatement(ctx, p.stmt); err != nil {
			return err
		}
		res, err := ss.runOne(ctx, p.stmt.sql, p.args)
		if err != nil {
			return err
		}
		p.res = res
	}
	res := p.res
	if res.hasRows {
		fields := p.stmt.fields
		if fields == nil {
			fields = fieldsOf(res)
		}
		for sent := uint32(0); p.pos < len(res.rows); p.pos, sent = p.pos+1, sent+1 {
			if m.MaxRows > 0 && sent == m.MaxRows {
				ss.be.Send(&pgproto3.PortalSuspended{})
				return nil
			}
			vals, err := encodeRow(res.rows[p.pos], fields, p.formats)
			if err != nil {
				return err
			}
			ss.be.Send(&pgproto3.DataRow{Values: vals})
		}
	}
	ss.be.Send(&pgproto3.CommandComplete{CommandTag: commandTag(res)})
	return nil
}

// fieldsOf types a result's columns: by declared type where the column is
// a table's, else by the values.
func fieldsOf(res *result) []pgproto3.FieldDescription {
	fields := make([]pgproto3.FieldDescription, len(res.cols))
	for i, c := range res.cols {
		oid := oidOfDecl(c.declType)
		if oid == 0 {
			oid = oidOfValues(res.rows, i)
		}
		size := int16(-1)
		switch oid {
		case oidInt8, oidFloat8:
			size = 8
		case oidBool:
			size = 1
		}
		fields[i] = pgproto3.FieldDescription{Name: []byte(c.name), DataTypeOID: oid, DataTypeSize: size, TypeModifier: -1}
	}
	return fields
}

func oidOfDecl(decl string) uint32 {
	switch {
	case decl == "":
		return 0
	case strings.Contains(decl, "INT"):
		return oidInt8
	case strings.Contains(decl, "BOOL"):
		return oidBool
	case strings.Contains(decl, "CHAR"), strings.Contains(decl, "TEXT"), strings.Contains(decl, "CLOB"):
		return oidText
	case strings.Contains(decl, "BLOB"), strings.Contains(decl, "BYTEA"):
		return oidBytea
	case strings.Contains(decl, "REAL"), strings.Contains(decl, "FLOA"), strings.Contains(decl, "DOUB"),
		strings.Contains(decl, "NUMERIC"), strings.Contains(decl, "DECIMAL"):
		return oidFloat8
	}
	return oidText
}

// oidOfValues types an expression column: integers, reals (any real
// among integers makes it float8), bytes, or text.
func oidOfValues(rows [][]any, col int) uint32 {
	oid := uint32(0)
	for _, r := range rows {
		switch r[col].(type) {
		case nil:
		case int64:
			if oid == 0 {
				oid = oidInt8
			}
		case float64:
			if oid == 0 || oid == oidInt8 {
				oid = oidFloat8
			}
		case []byte:
			if oid == 0 {
				oid = oidBytea
			}
		default:
			return oidText
		}
	}
	if oid == 0 {
		return oidText
	}
	return oid
}

// encodeRow renders a row as the fields' types, in each column's format.
func encodeRow(row []any, fields []pgproto3.FieldDescription, formats []int16) ([][]byte, error) {
	out := make([][]byte, len(row))
	for i, v := range row {
		if v == nil {
			continue
		}
		b, err := encodeValue(v, fields[i].DataTypeOID, formatAt(formats, i) == 1)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", fields[i].Name, err)
		}
		out[i] = b
	}
	return out, nil
}

func encodeValue(v any, oid uint32, binaryFmt bool) ([]byte, error) {
	switch oid {
	case oidInt8:
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return nil, fmt.Errorf("value %v is not an integer", x)
			}
			n = int64(x)
		case string:
			var err error
			if n, err = strconv.ParseInt(x, 10, 64); err != nil {
				return nil, fmt.Errorf("invalid input syntax for type bigint: %q", x)
			}
		default:
			return nil, fmt.Errorf("cannot send %T as bigint", v)
		}
		if binaryFmt {
			return binary.BigEndian.AppendUint64(nil, uint64(n)), nil
		}
		return strconv.AppendInt(nil, n, 10), nil
	case oidFloat8:
		var f float64
		switch x := v.(type) {
		case int64:
			f = float64(x)
		case float64:
			f = x
		case string:
			var err error
			if f, err = strconv.ParseFloat(x, 64); err != nil {
				return nil, fmt.Errorf("invalid input syntax for type double precision: %q", x)
			}
		default:
			return nil, fmt.Errorf("cannot send %T as double precision", v)
		}
		if binaryFmt {
			return binary.BigEndian.AppendUint64(nil, math.Float64bits(f)), nil
		}
		return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
	case oidBool:
		t := false
		switch x := v.(type) {
		case int64:
			t = x != 0
		case float64:
			t = x != 0
		case string:
			t = x == "t" || x == "true" || x == "1"
		}
		switch {
		case binaryFmt && t:
			return []byte{1}, nil
		case binaryFmt:
			return []byte{0}, nil
		case t:
			return []byte("t"), nil
		}
		return []byte("f"), nil
	case oidBytea:
		b, ok := v.([]byte)
		if !ok {
			b = []byte(textOf(v))
		}
		if binaryFmt {
			return b, nil
		}
		return []byte(`\x` + hex.EncodeToString(b)), nil
	}
	return []byte(textOf(v)), nil
}

// textOf renders a SQLite value as text.
func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.999999")
	case bool:
		if x {
			return "1"
		}
		return "0"
	}
	return fmt.Sprint(v)
}

var _ io.Closer = (*DB)(nil)
