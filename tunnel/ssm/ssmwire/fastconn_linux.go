package ssmwire

import (
	"net"
	"syscall"

	"github.com/rdsgate/rdsgate/internal/rawsock"
)

// Reads wake on any byte. An earlier version raised the socket's receive
// low-water mark (SO_RCVLOWAT) to the payload smux was waiting for, to
// wake once per two messages; but part of that payload could already sit
// in user space (gorilla's read buffer, a TLS record read in part), so the
// kernel waited for more bytes than would ever come, and the reader slept
// until the agent retransmitted or sent something else (issue 15). The
// layers above do not say how much they hold, so no mark can be proven
// safe: TestPartialMessageTail keeps it out.

func (c *fastConn) init() {
	tc, ok := c.Conn.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	c.raw = &linuxRaw{rc: rc}
}

// linuxRaw reads and writes the socket with rawsock (no scheduler hand-off
// per call), adding writes that never wait.
type linuxRaw struct {
	rc syscall.RawConn
}

func (r *linuxRaw) read(b []byte) (int, error) {
	n, err := rawsock.Read(r.rc, b)
	return n, opError("read", err)
}

// opError wraps a socket's errno as the net package would.
func opError(op string, err error) error {
	if errno, ok := err.(syscall.Errno); ok {
		return &net.OpError{Op: op, Net: "tcp", Err: errno}
	}
	return err
}

// write writes all of b, waiting for room in the socket buffer.
func (r *linuxRaw) write(b []byte) (int, error) { return r.writeRaw(b, true) }

// tryWrite writes what the socket buffer takes now and never waits; the
// rest waits in the caller's backlog.
func (r *linuxRaw) tryWrite(b []byte) (int, error) { return r.writeRaw(b, false) }

func (r *linuxRaw) writeRaw(b []byte, wait bool) (int, error) {
	n, err := rawsock.Write(r.rc, b, wait)
	return n, opError("write", err)
}
