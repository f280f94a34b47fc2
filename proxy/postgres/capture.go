package postgres

import (
	"bytes"
	"encoding/binary"

	"github.com/rdsgate/rdsgate/session"
)

// statementCapture follows the frontend message stream as it is relayed and
// reports the SQL of simple queries ('Q') and of Parse messages ('P'). It
// buffers only those bodies, capped, and skips everything else by length,
// so it costs nothing per byte of COPY data or Bind parameters (which are
// never recorded: they may hold secrets).
type statementCapture struct {
	emit func(string)
	hdr  [5]byte
	nhdr int
	// remaining is how many body bytes of the current message are still to come.
	remaining int
	typ       byte
	body      []byte
}

// maxCaptured bounds what is buffered of one statement message.
const maxCaptured = session.MaxStatementBytes + 256

func newStatementCapture(emit func(string)) *statementCapture { return &statementCapture{emit: emit} }

func (c *statementCapture) feed(b []byte) {
	for len(b) > 0 {
		if c.remaining == 0 && c.nhdr < 5 {
			n := copy(c.hdr[c.nhdr:], b)
			c.nhdr += n
			b = b[n:]
			if c.nhdr < 5 {
				return
			}
			c.typ = c.hdr[0]
			length := int(binary.BigEndian.Uint32(c.hdr[1:])) - 4
			if length < 0 {
				length = 0
			}
			c.remaining = length
			c.body = c.body[:0]
			if length == 0 {
				c.done()
			}
			continue
		}
		n := min(c.remaining, len(b))
		if c.typ == 'Q' || c.typ == 'P' {
			room := maxCaptured - len(c.body)
			c.body = append(c.body, b[:min(n, max(room, 0))]...)
		}
		c.remaining -= n
		b = b[n:]
		if c.remaining == 0 {
			c.done()
		}
	}
}

func (c *statementCapture) done() {
	c.nhdr = 0
	body := c.body
	switch c.typ {
	case 'Q':
		c.emit(cstr(body))
	case 'P':
		// Parse: statement name, then the query.
		if i := bytes.IndexByte(body, 0); i >= 0 {
			c.emit(cstr(body[i+1:]))
		}
	}
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
