package mysql

import (
	"github.com/rdsgate/rdsgate/mysqlwire"
	"github.com/rdsgate/rdsgate/session"
)

// Command bytes the walker looks at.
const (
	comQuery       = 0x03
	comChangeUser  = 0x11
	comStmtPrepare = 0x16
)

// maxCaptured bounds what is buffered of one statement packet: the
// statement (the recorder cuts it at session.MaxStatementBytes and marks it
// truncated) plus room for query attributes before it.
const maxCaptured = session.MaxStatementBytes + 4<<10

// maxQueryAttributes bounds the query attributes the capture skips over to
// find a statement's text; a statement with more is not captured.
const maxQueryAttributes = 64

// commandWalker follows the client-to-server packet stream of the command
// phase as it is relayed. It reads only packet headers and, for a packet
// that starts a command, the command byte: it drops COM_CHANGE_USER
// packets (counting them in refused, so that the caller answers each with
// an ERR) and, when emit is set, buffers (bounded) the text of COM_QUERY
// and COM_STMT_PREPARE. Everything else — COM_STMT_EXECUTE parameters,
// LOAD DATA LOCAL file contents, long data — is skipped by length and never
// looked at or copied aside. It allocates nothing per packet.
//
// A packet starts a command when its sequence id is 0 and it does not
// continue a 16 MiB chunk. With LOAD DATA LOCAL negotiated (localInfile),
// the file's data packets also run through sequence id 0 every 256
// packets; the walker then treats a non-empty packet with another sequence
// id as the start of a file transfer, which lasts until an empty packet,
// and sees no command in it. (Without LOAD DATA LOCAL a client has no
// reason to send such packets; a server refuses them as out of order.)
type commandWalker struct {
	// localInfile: LOAD DATA LOCAL is negotiated.
	localInfile bool
	// queryAttrs: CLIENT_QUERY_ATTRIBUTES is negotiated, so COM_QUERY
	// carries attributes before the statement text.
	queryAttrs bool
	// emit receives captured statements; nil disables capture.
	emit func(stmt string)

	// refused counts dropped COM_CHANGE_USER packets not yet answered.
	refused int

	rem      int  // payload bytes of the current physical packet still to come
	curLen   int  // length of the current physical packet
	inPacket bool // a packet header has been consumed and its payload is pending
	cont     bool // the last physical packet was MaxChunk long: a continuation follows
	drop     bool // the current logical packet is dropped
	capture  bool // the current logical packet is buffered for capture
	infile   bool // inside a LOAD DATA LOCAL file transfer
	body     []byte
}

// filter walks b, the next bytes of the stream, and compacts in place the
// bytes to forward into b[:out]. The last keep bytes of b start a packet
// that cannot be classified yet (an incomplete header, or a header without
// its command byte); the caller must present them again, first, with the
// next bytes. out+keep <= len(b) always.
func (w *commandWalker) filter(b []byte) (out, keep int) {
	i := 0
	for i < len(b) {
		if !w.inPacket {
			if len(b)-i < mysqlwire.HeaderSize {
				return out, len(b) - i
			}
			n := int(b[i]) | int(b[i+1])<<8 | int(b[i+2])<<16
			seq := b[i+3]
			if !w.cont {
				// A new logical packet.
				isCmd := seq == 0 && !w.infile
				if isCmd && n > 0 && len(b)-i < mysqlwire.HeaderSize+1 {
					return out, len(b) - i
				}
				w.drop, w.capture = false, false
				switch {
				case isCmd && n > 0:
					switch b[i+mysqlwire.HeaderSize] {
					case comChangeUser:
						w.drop = true
					case comQuery, comStmtPrepare:
						w.capture = w.emit != nil
					}
				case !isCmd && w.localInfile:
					// File data (or its empty terminator).
					w.infile = n != 0
				}
				w.body = w.body[:0]
			}
			if !w.drop {
				out += copy(b[out:], b[i:i+mysqlwire.HeaderSize])
			}
			i += mysqlwire.HeaderSize
			w.rem, w.curLen, w.inPacket = n, n, true
		}
		k := min(w.rem, len(b)-i)
		if w.capture { // before the compaction below overwrites b[i:]
			if room := maxCaptured - len(w.body); room > 0 {
				w.body = append(w.body, b[i:i+min(k, room)]...)
			}
		}
		if !w.drop {
			out += copy(b[out:], b[i:i+k])
		}
		i += k
		w.rem -= k
		if w.rem == 0 {
			w.endPacket()
		}
	}
	return out, 0
}

// endPacket finishes a physical packet, and the logical packet unless a
// continuation follows.
func (w *commandWalker) endPacket() {
	w.inPacket = false
	w.cont = w.curLen == mysqlwire.MaxChunk
	if w.cont {
		return
	}
	if w.drop {
		w.refused++
		w.drop = false
	}
	if w.capture {
		w.capture = false
		if stmt, ok := statementText(w.body, w.queryAttrs); ok {
			w.emit(stmt)
		}
	}
	if cap(w.body) > maxCaptured {
		w.body = nil // do not keep a grown buffer for the session's life
	}
	w.body = w.body[:0]
}

// statementText returns the SQL of a (possibly cut) COM_QUERY or
// COM_STMT_PREPARE payload. COM_QUERY under CLIENT_QUERY_ATTRIBUTES starts
// with its attributes, which are skipped, never returned.
func statementText(p []byte, queryAttrs bool) (string, bool) {
	if len(p) == 0 {
		return "", false
	}
	cmd, rest := p[0], p[1:]
	if cmd == comQuery && queryAttrs {
		var ok bool
		if rest, ok = skipQueryAttributes(rest); !ok {
			return "", false
		}
	}
	return string(rest), true
}

// skipQueryAttributes skips the attribute block of a COM_QUERY sent under
// CLIENT_QUERY_ATTRIBUTES: parameter count, parameter set count, and with
// parameters a NULL bitmap, the new-params-bound flag, the types and names,
// and the binary values. ok is false when the block is cut or malformed.
func skipQueryAttributes(p []byte) (rest []byte, ok bool) {
	count, n, ok := mysqlwire.ReadLenEncInt(p)
	if !ok {
		return nil, false
	}
	p = p[n:]
	if _, n, ok = mysqlwire.ReadLenEncInt(p); !ok { // parameter_set_count, always 1
		return nil, false
	}
	p = p[n:]
	if count == 0 {
		return p, true
	}
	if count > maxQueryAttributes {
		return nil, false // more attributes than anyone sends: give up
	}
	nb := int(count+7) / 8
	if len(p) < nb+1 {
		return nil, false
	}
	nulls := p[:nb]
	bound := p[nb]
	p = p[nb+1:]
	if bound != 1 {
		// Types not sent: the values cannot be told apart from the text.
		return nil, false
	}
	var typeBuf [maxQueryAttributes]byte
	types := typeBuf[:count]
	for j := range types {
		if len(p) < 2 {
			return nil, false
		}
		types[j] = p[0]
		p = p[2:]
		if _, n, ok = mysqlwire.ReadLenEncString(p); !ok {
			return nil, false
		}
		p = p[n:]
	}
	for j, typ := range types {
		if nulls[j/8]&(1<<(j%8)) != 0 {
			continue
		}
		size, ok := binaryValueSize(typ, p)
		if !ok {
			return nil, false
		}
		p = p[size:]
	}
	return p, true
}

// binaryValueSize is the length of a binary-protocol value of type typ at
// the start of p.
func binaryValueSize(typ byte, p []byte) (int, bool) {
	size := 0
	switch typ {
	case 0x06: // NULL
	case 0x01: // TINY
		size = 1
	case 0x02, 0x0d: // SHORT, YEAR
		size = 2
	case 0x03, 0x09, 0x04: // LONG, INT24, FLOAT
		size = 4
	case 0x08, 0x05: // LONGLONG, DOUBLE
		size = 8
	case 0x07, 0x0a, 0x0b, 0x0c: // TIMESTAMP, DATE, TIME, DATETIME: length byte and data
		if len(p) < 1 {
			return 0, false
		}
		size = 1 + int(p[0])
	case 0x00, 0x0f, 0x10, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff:
		_, n, ok := mysqlwire.ReadLenEncString(p)
		if !ok {
			return 0, false
		}
		size = n
	default:
		return 0, false
	}
	if size > len(p) {
		return 0, false
	}
	return size, true
}
