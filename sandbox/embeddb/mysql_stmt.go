package embeddb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/rdsgate/rdsgate/mysqlwire"
)

// The binary (prepared-statement) protocol: what go-sql-driver/mysql and
// most MySQL connectors use for queries with arguments.
const (
	comStmtPrepare = 0x16
	comStmtExecute = 0x17
	comStmtClose   = 0x19
	comStmtReset   = 0x1a

	myTypeTiny      = 0x01
	myTypeShort     = 0x02
	myTypeLong      = 0x03
	myTypeFloat     = 0x04
	myTypeNull      = 0x06
	myTypeTimestamp = 0x07
	myTypeInt24     = 0x09
	myTypeDate      = 0x0a
	myTypeTime      = 0x0b
	myTypeDatetime  = 0x0c
	myTypeYear      = 0x0d

	maxPreparedPerSession = 1024
)

// myStmt is a prepared statement of one session.
type myStmt struct {
	sql     string // translated
	nParams int
	fields  []pgproto3.FieldDescription // typed by a dry run; nil: no rows
	types   []byte                      // parameter types from the last execute
}

var errMalformedExecute = errors.New("malformed COM_STMT_EXECUTE")

// prepare answers COM_STMT_PREPARE.
func (ss *mySession) prepare(ctx context.Context, q string) error {
	stmts := splitStatements(q)
	if len(stmts) != 1 {
		return ss.writeErr(erParse, sqlStateSyntax, "a prepared statement takes exactly one statement")
	}
	if len(ss.stmts) >= maxPreparedPerSession {
		return ss.writeErr(1461, sqlStateSyntax, fmt.Sprintf("Can't create more than max_prepared_stmt_count statements (current value: %d)", maxPreparedPerSession))
	}
	tr, n, err := (translator{s: ss.sess, vars: ss.variable}).translate(stmts[0])
	if err != nil {
		return ss.sendError(err)
	}
	st := &myStmt{sql: tr, nParams: n}
	if returnsRows(firstWord(tr), tr) {
		res, err := ss.dryRun(ctx, tr, n)
		if err != nil {
			return ss.sendError(err)
		}
		st.fields = fieldsOf(res)
	}
	ss.nextStmt++
	id := ss.nextStmt
	if ss.stmts == nil {
		ss.stmts = map[uint32]*myStmt{}
	}
	ss.stmts[id] = st

	ok := []byte{0}
	ok = binary.LittleEndian.AppendUint32(ok, id)
	ok = binary.LittleEndian.AppendUint16(ok, uint16(len(st.fields)))
	ok = binary.LittleEndian.AppendUint16(ok, uint16(n))
	ok = append(ok, 0, 0, 0)
	if err := ss.pc.WritePacket(ok); err != nil {
		return err
	}
	if n > 0 {
		for range n {
			if err := ss.pc.WritePacket(columnDef("", "?", oidText)); err != nil {
				return err
			}
		}
		if !ss.caps.Has(mysqlwire.ClientDeprecateEOF) {
			if err := ss.eof(0); err != nil {
				return err
			}
		}
	}
	if len(st.fields) > 0 {
		for _, f := range st.fields {
			if err := ss.pc.WritePacket(columnDef(ss.sess.db, string(f.Name), f.DataTypeOID)); err != nil {
				return err
			}
		}
		if !ss.caps.Has(mysqlwire.ClientDeprecateEOF) {
			if err := ss.eof(0); err != nil {
				return err
			}
		}
	}
	return nil
}

// dryRun runs a row-returning statement once with NULL parameters in a
// savepoint that is rolled back, to learn its columns.
func (ss *mySession) dryRun(ctx context.Context, stmt string, nParams int) (*result, error) {
	if ss.sess.conn == nil {
		return ss.runDetached(ctx, stmt, make([]any, nParams))
	}
	if _, err := ss.sess.conn.ExecContext(ctx, "SAVEPOINT rdsgate_prepare"); err != nil {
		return nil, err
	}
	res, runErr := ss.sess.run(ctx, stmt, make([]any, nParams))
	if _, err := ss.sess.conn.ExecContext(ctx, "ROLLBACK TO rdsgate_prepare; RELEASE rdsgate_prepare"); err != nil {
		return nil, err
	}
	return res, runErr
}

// execute answers COM_STMT_EXECUTE.
func (ss *mySession) execute(ctx context.Context, p []byte) error {
	if len(p) < 10 {
		return ss.writeErr(mysqlwire.ErHandshake, mysqlwire.SQLStateHandshake, errMalformedExecute.Error())
	}
	id := binary.LittleEndian.Uint32(p[1:])
	st := ss.stmts[id]
	if st == nil {
		return ss.writeErr(1243, sqlStateGeneral, fmt.Sprintf("Unknown prepared statement handler (%d) given to mysqld_stmt_execute", id))
	}
	args, err := decodeParams(p[10:], st)
	if err != nil {
		return ss.writeErr(mysqlwire.ErHandshake, mysqlwire.SQLStateHandshake, err.Error())
	}
	res, err := ss.runPrepared(ctx, st, args)
	if err != nil {
		return ss.sendError(err)
	}
	if !res.hasRows {
		return ss.ok(uint64(res.affected), 0)
	}
	fields := st.fields
	if len(fields) != len(res.cols) {
		fields = fieldsOf(res)
	}
	if err := ss.pc.WritePacket(mysqlwire.AppendLenEncInt(nil, uint64(len(fields)))); err != nil {
		return err
	}
	for i, f := range fields {
		if err := ss.pc.WritePacket(columnDef(ss.sess.db, res.cols[i].name, f.DataTypeOID)); err != nil {
			return err
		}
	}
	if !ss.caps.Has(mysqlwire.ClientDeprecateEOF) {
		if err := ss.eof(0); err != nil {
			return err
		}
	}
	for _, r := range res.rows {
		row, err := binaryRow(r, fields)
		if err != nil {
			return ss.sendError(err)
		}
		if err := ss.pc.WritePacket(row); err != nil {
			return err
		}
	}
	return ss.eof(0)
}

func (ss *mySession) runPrepared(ctx context.Context, st *myStmt, args []any) (*result, error) {
	sctx, done := ss.statementContext(ctx)
	defer done()
	if ss.sess.conn == nil {
		return ss.runDetached(sctx, st.sql, args)
	}
	return ss.sess.run(sctx, st.sql, args)
}

// decodeParams reads the null bitmap, the types (when new ones are bound)
// and the values of an execute's parameters.
func decodeParams(b []byte, st *myStmt) ([]any, error) {
	n := st.nParams
	if n == 0 {
		return nil, nil
	}
	nullLen := (n + 7) / 8
	if len(b) < nullLen+1 {
		return nil, errMalformedExecute
	}
	nulls, b := b[:nullLen], b[nullLen:]
	bound := b[0]
	b = b[1:]
	if bound == 1 {
		if len(b) < 2*n {
			return nil, errMalformedExecute
		}
		st.types = make([]byte, n)
		for i := range n {
			st.types[i] = b[2*i]
		}
		b = b[2*n:]
	}
	if len(st.types) != n {
		return nil, errors.New("COM_STMT_EXECUTE without parameter types")
	}
	args := make([]any, n)
	for i := range n {
		if nulls[i/8]&(1<<(i%8)) != 0 || st.types[i] == myTypeNull {
			continue
		}
		v, rest, err := decodeValue(st.types[i], b)
		if err != nil {
			return nil, fmt.Errorf("parameter %d: %w", i+1, err)
		}
		args[i], b = v, rest
	}
	return args, nil
}

func decodeValue(typ byte, b []byte) (any, []byte, error) {
	fixed := func(n int) ([]byte, []byte, error) {
		if len(b) < n {
			return nil, nil, errMalformedExecute
		}
		return b[:n], b[n:], nil
	}
	switch typ {
	case myTypeTiny:
		v, rest, err := fixed(1)
		if err != nil {
			return nil, nil, err
		}
		return int64(int8(v[0])), rest, nil
	case myTypeShort, myTypeYear:
		v, rest, err := fixed(2)
		if err != nil {
			return nil, nil, err
		}
		return int64(int16(binary.LittleEndian.Uint16(v))), rest, nil
	case myTypeLong, myTypeInt24:
		v, rest, err := fixed(4)
		if err != nil {
			return nil, nil, err
		}
		return int64(int32(binary.LittleEndian.Uint32(v))), rest, nil
	case myTypeLongLong:
		v, rest, err := fixed(8)
		if err != nil {
			return nil, nil, err
		}
		return int64(binary.LittleEndian.Uint64(v)), rest, nil
	case myTypeFloat:
		v, rest, err := fixed(4)
		if err != nil {
			return nil, nil, err
		}
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(v))), rest, nil
	case myTypeDouble:
		v, rest, err := fixed(8)
		if err != nil {
			return nil, nil, err
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(v)), rest, nil
	case myTypeDate, myTypeDatetime, myTypeTimestamp:
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return nil, nil, errMalformedExecute
		}
		n, v := int(b[0]), b[1:1+int(b[0])]
		var t time.Time
		if n >= 4 {
			t = time.Date(int(binary.LittleEndian.Uint16(v)), time.Month(v[2]), int(v[3]), 0, 0, 0, 0, time.UTC)
		}
		if n >= 7 {
			t = t.Add(time.Duration(v[4])*time.Hour + time.Duration(v[5])*time.Minute + time.Duration(v[6])*time.Second)
		}
		if n >= 11 {
			t = t.Add(time.Duration(binary.LittleEndian.Uint32(v[7:])) * time.Microsecond)
		}
		layout := "2006-01-02 15:04:05.999999"
		if typ == myTypeDate {
			layout = "2006-01-02"
		}
		return t.Format(layout), b[1+n:], nil
	case myTypeTime:
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return nil, nil, errMalformedExecute
		}
		n, v := int(b[0]), b[1:1+int(b[0])]
		s := "00:00:00"
		if n >= 8 {
			h := int(binary.LittleEndian.Uint32(v[1:]))*24 + int(v[5])
			s = fmt.Sprintf("%02d:%02d:%02d", h, v[6], v[7])
			if v[0] == 1 {
				s = "-" + s
			}
		}
		return s, b[1+n:], nil
	}
	// Strings, blobs, decimals, JSON, enums: length-encoded bytes.
	s, n, ok := mysqlwire.ReadLenEncString(b)
	if !ok {
		return nil, nil, errMalformedExecute
	}
	return string(s), b[n:], nil
}

// binaryRow encodes a row of the binary protocol: 0x00, the null bitmap
// (offset 2) and the non-null values by column type.
func binaryRow(r []any, fields []pgproto3.FieldDescription) ([]byte, error) {
	nullLen := (len(r) + 7 + 2) / 8
	row := make([]byte, 1+nullLen, 64)
	for i, v := range r {
		if v == nil {
			row[1+(i+2)/8] |= 1 << ((i + 2) % 8)
			continue
		}
		switch fields[i].DataTypeOID {
		case oidInt8, oidBool:
			b, err := encodeValue(v, oidInt8, true) // 8 bytes big-endian
			if err != nil {
				return nil, err
			}
			row = binary.LittleEndian.AppendUint64(row, binary.BigEndian.Uint64(b))
		case oidFloat8:
			b, err := encodeValue(v, oidFloat8, true)
			if err != nil {
				return nil, err
			}
			row = binary.LittleEndian.AppendUint64(row, binary.BigEndian.Uint64(b))
		default:
			row = mysqlwire.AppendLenEncString(row, []byte(textOf(v)))
		}
	}
	return row, nil
}

// statementContext is ctx, cancellable by KILL QUERY.
func (ss *mySession) statementContext(ctx context.Context) (context.Context, func()) {
	sctx, cancel := context.WithCancel(ctx)
	ss.mu.Lock()
	ss.cancel = cancel
	ss.mu.Unlock()
	return sctx, func() {
		ss.mu.Lock()
		ss.cancel = nil
		ss.mu.Unlock()
		cancel()
	}
}
