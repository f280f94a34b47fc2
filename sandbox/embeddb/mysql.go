package embeddb

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rdsgate/rdsgate/internal/netaccept"
	"github.com/rdsgate/rdsgate/mysqlwire"
)

// MySQL command bytes the face handles.
const (
	comQuit             = 0x01
	comInitDB           = 0x02
	comQuery            = 0x03
	comPing             = 0x0e
	comResetConnection  = 0x1f
	myMaxPacket         = 1 << 24
	myTypeDouble        = 0x05
	myTypeLongLong      = 0x08
	myTypeBlob          = 0xfc
	myTypeVarString     = 0xfd
	myCharsetUTF8       = 33
	myCharsetBinary     = 63
	myFlagBinary        = 128
	myFlagNum           = 32768
	statusAutocommit    = 0x0002
	statusInTrans       = 0x0001
	statusMoreResults   = 0x0008
	erBadDB             = 1049
	erNoDB              = 1046
	erParse             = 1064
	erNoSuchTable       = 1146
	erDupEntry          = 1062
	erUnknownSystemVar  = 1193
	erQueryInterrupted  = 1317
	erNoSuchThread      = 1094
	erNotSupportedYet   = 1235
	erUnknownComError   = 1047
	sqlStateGeneral     = "HY000"
	sqlStateSyntax      = "42000"
	sqlStateNoSuchTable = "42S02"
)

// offeredCaps are the capabilities the face offers: text protocol, plugin
// auth, no TLS (the front in front of it does TLS), no compression.
const offeredCaps = mysqlwire.ClientLongPassword | mysqlwire.ClientFoundRows | mysqlwire.ClientLongFlag |
	mysqlwire.ClientConnectWithDB | mysqlwire.ClientProtocol41 | mysqlwire.ClientInteractive |
	mysqlwire.ClientTransactions | mysqlwire.ClientSecureConnection | mysqlwire.ClientMultiStatements |
	mysqlwire.ClientMultiResults | mysqlwire.ClientPluginAuth | mysqlwire.ClientPluginAuthLenEncClientData |
	mysqlwire.ClientConnectAttrs | mysqlwire.ClientDeprecateEOF | mysqlwire.ClientIgnoreSpace

// MySQLServer is the MySQL face of a DB.
type MySQLServer struct {
	db *DB

	mu      sync.Mutex
	nextID  uint32
	threads map[uint32]*mySession
	wg      sync.WaitGroup
}

// NewMySQLServer returns the MySQL face of d.
func NewMySQLServer(d *DB) *MySQLServer {
	return &MySQLServer{db: d, nextID: 100, threads: map[uint32]*mySession{}}
}

// Serve accepts connections on ln, one goroutine each, until ln is closed
// or ctx ends (nil) or Accept fails (that error); ctx also ends the
// sessions.
func (ms *MySQLServer) Serve(ctx context.Context, ln net.Listener) error {
	err := netaccept.Loop(ctx, ln, netaccept.Options{}, func(c net.Conn) {
		ms.wg.Add(1)
		go func() {
			defer ms.wg.Done()
			ms.ServeConn(ctx, c)
		}()
	})
	if err != nil {
		return fmt.Errorf("embeddb: accept on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Wait waits for the sessions started by Serve to end.
func (ms *MySQLServer) Wait() { ms.wg.Wait() }

// mySession is one client of the MySQL face.
type mySession struct {
	ms   *MySQLServer
	c    net.Conn
	pc   *mysqlwire.Conn
	id   uint32
	caps mysqlwire.Capability
	sess *session

	stmts    map[uint32]*myStmt // prepared statements
	nextStmt uint32

	mu     sync.Mutex
	cancel context.CancelFunc // of the statement running now
}

// ServeConn runs one session on c until the client quits, c fails or ctx
// ends; c is closed on return.
func (ms *MySQLServer) ServeConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	ss := &mySession{ms: ms, c: c, pc: mysqlwire.NewConn(c, mysqlwire.DefaultHandshakeMax)}
	ms.mu.Lock()
	ms.nextID++
	ss.id = ms.nextID
	ms.threads[ss.id] = ss
	ms.mu.Unlock()
	defer func() {
		ms.mu.Lock()
		delete(ms.threads, ss.id)
		ms.mu.Unlock()
	}()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	if err := ss.handshake(ctx); err != nil {
		return
	}
	defer ss.sess.close()
	_ = c.SetDeadline(time.Time{})
	ss.pc = mysqlwire.NewConn(c, myMaxPacket)
	ss.loop(ctx)
}

func (ss *mySession) writeErr(code uint16, state, msg string) error {
	return ss.pc.WritePacket((&mysqlwire.ErrPacket{Code: code, SQLState: state, Message: msg}).Encode())
}

func (ss *mySession) handshake(ctx context.Context) error {
	scramble := make([]byte, mysqlwire.ScrambleLen)
	_, _ = rand.Read(scramble)
	for i := range scramble { // printable and never NUL, as servers send
		scramble[i] = scramble[i]%94 + 33
	}
	g := &mysqlwire.Greeting{ServerVersion: MySQLVersion, ConnectionID: ss.id, Scramble: scramble,
		Capabilities: offeredCaps, Collation: myCharsetUTF8, Status: statusAutocommit, AuthPlugin: mysqlwire.PluginNativePassword}
	if err := ss.pc.WritePacket(g.Encode()); err != nil {
		return err
	}
	p, err := ss.pc.ReadPacket()
	if err != nil {
		return err
	}
	resp, err := mysqlwire.DecodeHandshakeResponse(p)
	if err != nil {
		_ = ss.writeErr(mysqlwire.ErHandshake, mysqlwire.SQLStateHandshake, "Bad handshake")
		return err
	}
	ss.caps = resp.Capabilities & offeredCaps
	authData := resp.AuthResponse
	if resp.AuthPlugin != "" && resp.AuthPlugin != mysqlwire.PluginNativePassword {
		sw := &mysqlwire.AuthSwitchRequest{Plugin: mysqlwire.PluginNativePassword, Data: append(append([]byte{}, scramble...), 0)}
		if err := ss.pc.WritePacket(sw.Encode()); err != nil {
			return err
		}
		if authData, err = ss.pc.ReadPacket(); err != nil {
			return err
		}
	}
	host := "127.0.0.1"
	if h, _, err := net.SplitHostPort(ss.c.RemoteAddr().String()); err == nil {
		host = h
	}
	acc, ok := ss.ms.db.account(resp.User)
	if !ok || !acc.hasPW || subtle.ConstantTimeCompare(authData, mysqlwire.NativePassword(scramble, acc.password)) != 1 {
		e := mysqlwire.AccessDenied(resp.User, host, len(authData) > 0)
		_ = ss.pc.WritePacket(e.Encode())
		return e
	}
	sess, err := ss.ms.db.newSession(ctx, mysqlDialect, resp.User, "")
	if err != nil {
		return err
	}
	sess.connID = ss.id
	ss.sess = sess
	if resp.Database != "" {
		if err := sess.use(ctx, resp.Database); err != nil {
			sess.close()
			_ = ss.writeErr(erBadDB, sqlStateSyntax, fmt.Sprintf("Unknown database '%s'", resp.Database))
			return err
		}
	}
	return ss.ok(0, 0)
}

func (ss *mySession) status() uint16 {
	st := uint16(statusAutocommit)
	if ss.sess != nil && ss.sess.inTx {
		st |= statusInTrans
	}
	return st
}

func (ss *mySession) ok(affected uint64, more uint16) error {
	return ss.pc.WritePacket((&mysqlwire.OKPacket{AffectedRows: affected, Status: ss.status() | more}).Encode(ss.caps))
}

// eof ends column definitions or rows: an EOF packet, or an OK packet
// with the EOF header under CLIENT_DEPRECATE_EOF.
func (ss *mySession) eof(more uint16) error {
	if ss.caps.Has(mysqlwire.ClientDeprecateEOF) {
		return ss.pc.WritePacket((&mysqlwire.OKPacket{Header: mysqlwire.EOFHeader, Status: ss.status() | more}).Encode(ss.caps))
	}
	return ss.pc.WritePacket((&mysqlwire.EOFPacket{Status: ss.status() | more}).Encode())
}

func (ss *mySession) loop(ctx context.Context) {
	for {
		ss.pc.ResetSeq()
		p, err := ss.pc.ReadPacket()
		if err != nil || len(p) == 0 {
			return
		}
		switch p[0] {
		case comQuit:
			return
		case comPing, comResetConnection:
			err = ss.ok(0, 0)
		case comInitDB:
			db := string(p[1:])
			if e := ss.sess.use(ctx, db); e != nil {
				err = ss.writeErr(erBadDB, sqlStateSyntax, fmt.Sprintf("Unknown database '%s'", db))
			} else {
				err = ss.ok(0, 0)
			}
		case comQuery:
			err = ss.query(ctx, string(p[1:]))
		case comStmtPrepare:
			err = ss.prepare(ctx, string(p[1:]))
		case comStmtExecute:
			err = ss.execute(ctx, p)
		case comStmtClose: // no answer
			if len(p) >= 5 {
				delete(ss.stmts, binary.LittleEndian.Uint32(p[1:]))
			}
		case comStmtReset:
			err = ss.ok(0, 0)
		default:
			err = ss.writeErr(erUnknownComError, mysqlwire.SQLStateHandshake,
				fmt.Sprintf("Unknown command 0x%02x: the embedded engine does not support it", p[0]))
		}
		if err != nil {
			return
		}
	}
}

func (ss *mySession) query(ctx context.Context, q string) error {
	stmts := splitStatements(q)
	if len(stmts) == 0 {
		return ss.writeErr(1065, sqlStateSyntax, "Query was empty")
	}
	if len(stmts) > 1 && !ss.caps.Has(mysqlwire.ClientMultiStatements) {
		return ss.writeErr(erParse, sqlStateSyntax, "You have an error in your SQL syntax: multiple statements need CLIENT_MULTI_STATEMENTS")
	}
	for i, st := range stmts {
		more := uint16(0)
		if i < len(stmts)-1 {
			more = statusMoreResults
		}
		res, err := ss.runOne(ctx, st)
		if err != nil {
			return ss.sendError(err)
		}
		if !res.hasRows {
			if err := ss.ok(uint64(res.affected), more); err != nil {
				return err
			}
			continue
		}
		if err := ss.sendRows(res, more); err != nil {
			return err
		}
	}
	return nil
}

func (ss *mySession) sendError(err error) error {
	var me *mysqlwire.ErrPacket
	var uv *unknownVariableError
	var ce *catalogError
	switch {
	case errors.As(err, &me):
		return ss.pc.WritePacket(me.Encode())
	case errors.As(err, &uv):
		return ss.writeErr(erUnknownSystemVar, sqlStateGeneral, uv.Error())
	case errors.As(err, &ce):
		return ss.writeErr(erNotSupportedYet, sqlStateSyntax, ce.Error())
	case errors.Is(err, errNoDatabase):
		return ss.writeErr(erNoDB, "3D000", "No database selected")
	case errors.Is(err, context.Canceled):
		return ss.writeErr(erQueryInterrupted, "70100", "Query execution was interrupted")
	}
	msg := strings.TrimPrefix(err.Error(), "SQL logic error: ")
	if i := strings.LastIndex(msg, " (1)"); i > 0 {
		msg = msg[:i]
	}
	switch {
	case strings.Contains(msg, "no such table"):
		return ss.writeErr(erNoSuchTable, sqlStateNoSuchTable, msg)
	case strings.Contains(msg, "constraint failed"):
		return ss.writeErr(erDupEntry, "23000", msg)
	}
	return ss.writeErr(erParse, sqlStateSyntax, msg+" ("+engineHint("MySQL", "information_schema, SHOW CREATE", "mariadb-server")+")")
}

// mysqlVariable answers @@name for what clients ask at connect time.
func (ss *mySession) variable(name string) (string, bool) {
	switch name {
	case "version":
		return MySQLVersion, true
	case "version_comment":
		return "rdsgate sandbox embedded engine (SQLite)", true
	case "max_allowed_packet":
		return strconv.Itoa(myMaxPacket), true
	case "autocommit":
		return "1", true
	case "sql_mode":
		return "STRICT_TRANS_TABLES", true
	case "character_set_client", "character_set_connection", "character_set_results", "character_set_server", "character_set_database":
		return "utf8mb4", true
	case "collation_connection", "collation_server", "collation_database":
		return "utf8mb4_general_ci", true
	case "tx_isolation", "transaction_isolation":
		return "SERIALIZABLE", true
	case "time_zone", "system_time_zone":
		return "UTC", true
	case "lower_case_table_names", "tx_read_only", "transaction_read_only":
		return "0", true
	case "wait_timeout", "interactive_timeout":
		return "28800", true
	case "net_write_timeout":
		return "60", true
	case "license":
		return "GPL", true
	case "hostname":
		return "embedded", true
	}
	return "", false
}

// runOne runs one statement of the MySQL dialect.
func (ss *mySession) runOne(ctx context.Context, stmt string) (*result, error) {
	words := strings.Fields(strings.ToUpper(stmt))
	switch {
	case len(words) == 0:
		return &result{}, nil
	case words[0] == "SET":
		return &result{verb: "SET"}, nil
	case words[0] == "USE" && len(words) == 2:
		db := strings.Trim(strings.Fields(stmt)[1], "`")
		if err := ss.sess.use(ctx, db); err != nil {
			return nil, &mysqlwire.ErrPacket{Code: erBadDB, SQLState: sqlStateSyntax, Message: fmt.Sprintf("Unknown database '%s'", db)}
		}
		return &result{verb: "USE"}, nil
	case words[0] == "SHOW" && len(words) == 2 && (words[1] == "DATABASES" || words[1] == "SCHEMAS"):
		res := &result{verb: "SHOW", hasRows: true, cols: []column{{name: "Database"}}}
		for _, n := range ss.ms.db.Databases() {
			res.rows = append(res.rows, []any{n})
		}
		return res, nil
	case words[0] == "SHOW" && len(words) == 2 && words[1] == "TABLES":
		if ss.sess.conn == nil {
			return nil, errNoDatabase
		}
		res, err := ss.sess.run(ctx, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name", nil)
		if err == nil {
			res.cols = []column{{name: "Tables_in_" + ss.sess.db}}
		}
		return res, err
	case words[0] == "KILL":
		return ss.kill(words)
	}
	tr, _, err := (translator{s: ss.sess, vars: ss.variable}).translate(stmt)
	if err != nil {
		return nil, err
	}
	if ss.sess.conn == nil && strings.Contains(strings.ToUpper(stmt), "FROM") {
		return nil, errNoDatabase
	}
	sctx, done := ss.statementContext(ctx)
	defer done()
	if ss.sess.conn == nil { // SELECT 1, SELECT @@version: no database needed
		return ss.runDetached(sctx, tr, nil)
	}
	return ss.sess.run(sctx, tr, nil)
}

// runDetached runs a statement that reads no table before a database is
// chosen, on any database's connection.
func (ss *mySession) runDetached(ctx context.Context, stmt string, args []any) (*result, error) {
	dbs := ss.ms.db.Databases()
	if len(dbs) == 0 {
		return nil, errNoDatabase
	}
	tmp, err := ss.ms.db.newSession(ctx, mysqlDialect, ss.sess.user, dbs[0])
	if err != nil {
		return nil, err
	}
	defer tmp.close()
	return tmp.run(ctx, stmt, args)
}

// kill runs KILL [QUERY | CONNECTION] id: the statement running in that
// session is interrupted; KILL CONNECTION also closes it.
func (ss *mySession) kill(words []string) (*result, error) {
	query := false
	if len(words) == 3 && (words[1] == "QUERY" || words[1] == "CONNECTION") {
		query = words[1] == "QUERY"
		words = append(words[:1], words[2])
	}
	if len(words) != 2 {
		return nil, &mysqlwire.ErrPacket{Code: erParse, SQLState: sqlStateSyntax, Message: "You have an error in your SQL syntax near 'KILL'"}
	}
	id, err := strconv.ParseUint(words[1], 10, 32)
	if err != nil {
		return nil, &mysqlwire.ErrPacket{Code: erParse, SQLState: sqlStateSyntax, Message: "You have an error in your SQL syntax near '" + words[1] + "'"}
	}
	ss.ms.mu.Lock()
	target := ss.ms.threads[uint32(id)]
	ss.ms.mu.Unlock()
	if target == nil {
		return nil, &mysqlwire.ErrPacket{Code: erNoSuchThread, SQLState: sqlStateGeneral, Message: fmt.Sprintf("Unknown thread id: %d", id)}
	}
	target.mu.Lock()
	if target.cancel != nil {
		target.cancel()
	}
	target.mu.Unlock()
	if !query {
		target.c.Close()
	}
	return &result{verb: "KILL"}, nil
}

// sendRows writes a text result set.
func (ss *mySession) sendRows(res *result, more uint16) error {
	fields := fieldsOf(res)
	if err := ss.pc.WritePacket(mysqlwire.AppendLenEncInt(nil, uint64(len(fields)))); err != nil {
		return err
	}
	for i, f := range fields {
		if err := ss.pc.WritePacket(columnDef(ss.sess.db, res.cols[i].name, f.DataTypeOID)); err != nil {
			return err
		}
	}
	if !ss.caps.Has(mysqlwire.ClientDeprecateEOF) {
		if err := ss.eof(more); err != nil {
			return err
		}
	}
	var row []byte
	for _, r := range res.rows {
		row = row[:0]
		for i, v := range r {
			if v == nil {
				row = append(row, 0xfb)
				continue
			}
			b, err := encodeValue(v, fields[i].DataTypeOID, false)
			if err != nil {
				return ss.sendError(err)
			}
			if fields[i].DataTypeOID == oidBytea {
				b = []byte(textOf(v))
			}
			row = mysqlwire.AppendLenEncString(row, b)
		}
		if err := ss.pc.WritePacket(row); err != nil {
			return err
		}
	}
	return ss.eof(more)
}

// columnDef encodes a ColumnDefinition41 for a column of the given
// PostgreSQL-face type (the two faces share the typing rules).
func columnDef(db, name string, oid uint32) []byte {
	typ, charset, flags, length, decimals := byte(myTypeVarString), uint16(myCharsetUTF8), uint16(0), uint32(1<<24), byte(0)
	switch oid {
	case oidInt8, oidBool:
		typ, charset, flags, length = myTypeLongLong, myCharsetBinary, myFlagNum|myFlagBinary, 20
	case oidFloat8:
		typ, charset, flags, length, decimals = myTypeDouble, myCharsetBinary, myFlagNum|myFlagBinary, 22, 31
	case oidBytea:
		typ, charset, flags = myTypeBlob, myCharsetBinary, myFlagBinary
	}
	var b []byte
	for _, s := range []string{"def", db, "", "", name, name} {
		b = mysqlwire.AppendLenEncString(b, []byte(s))
	}
	b = append(b, 0x0c, byte(charset), byte(charset>>8),
		byte(length), byte(length>>8), byte(length>>16), byte(length>>24), typ, byte(flags), byte(flags>>8), decimals, 0, 0)
	return b
}
