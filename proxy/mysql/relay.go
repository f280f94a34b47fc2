package mysql

import (
	"fmt"
	"io"
	"net"

	"github.com/rdsgate/rdsgate/mysqlwire"
)

// Refusal of COM_CHANGE_USER: ER_SPECIFIC_ACCESS_DENIED_ERROR.
const (
	erSpecificAccessDenied = 1227
	changeUserMessage      = "rdsgate: COM_CHANGE_USER is not allowed through the proxy; reconnect as the other user"
)

// changeUserRefusal is the ERR packet, sequence id 1, that answers a
// dropped COM_CHANGE_USER.
var changeUserRefusal, _ = mysqlwire.AppendPacket(nil, 1,
	(&mysqlwire.ErrPacket{Code: erSpecificAccessDenied, SQLState: "42000", Message: changeUserMessage}).Encode())

// clientReader is the client leg's reader for proxy.Relay: it reads the
// client's command-phase bytes and hands on what may go upstream, through
// a commandWalker. A COM_CHANGE_USER never reaches the server (it would
// log in as another user on the proxy's credentials): it is answered here,
// on the client connection, with an ERR, and the session goes on.
type clientReader struct {
	conn     net.Conn
	w        commandWalker
	held     [mysqlwire.HeaderSize]byte
	nheld    int
	onRefuse func()
}

// Read fills p with bytes to forward upstream. It blocks until there are
// some or the client connection fails.
func (r *clientReader) Read(p []byte) (int, error) {
	if len(p) <= len(r.held) {
		return 0, io.ErrShortBuffer
	}
	for {
		n := copy(p, r.held[:r.nheld])
		m, err := r.conn.Read(p[n:])
		b := p[:n+m]
		out, keep := r.w.filter(b)
		r.nheld = copy(r.held[:], b[len(b)-keep:])
		for ; r.w.refused > 0; r.w.refused-- {
			if r.onRefuse != nil {
				r.onRefuse()
			}
			if _, werr := r.conn.Write(changeUserRefusal); werr != nil {
				return out, fmt.Errorf("answer COM_CHANGE_USER: %w", werr)
			}
		}
		if out > 0 || err != nil {
			return out, err
		}
	}
}
