package pgwire

import (
	"bufio"
	"net"
)

// BufferedConn is a net.Conn whose reads drain R first: the bufio.Reader
// that already holds bytes read from Conn (for example the first byte of a
// direct TLS ClientHello peeked to tell it from a startup packet). Writes,
// deadlines and Close go to Conn.
type BufferedConn struct {
	net.Conn
	R *bufio.Reader // reads from Conn
}

// Read reads from R.
func (c *BufferedConn) Read(p []byte) (int, error) { return c.R.Read(p) }
