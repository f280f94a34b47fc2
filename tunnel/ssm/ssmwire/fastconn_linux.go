package ssmwire

import (
	"net"
	"sync/atomic"
	"syscall"

	"github.com/rdsgate/rdsgate/internal/rawsock"
)

// Read batching (Linux): while the channel's consumer is known to wait for
// more bytes than have arrived — smux reading the rest of a frame, which
// the agent sends whole, a message a millisecond at AWS's pace — the
// socket's receive low-water mark (SO_RCVLOWAT) is raised to what is
// certain to come, up to two messages, so that the kernel wakes the
// reader once per two messages instead of once per message. Nothing can
// be stranded (those bytes are on their way; an error or EOF wakes the
// reader anyway), the consumer loses nothing (it could not use part of a
// frame), and an acknowledgement waits at most one more message. No
// timer is involved: a timer per wait cost more wake-ups than it saved.
const (
	// messageWire is the wire size of a full 1 KiB message with its
	// websocket header: the most a batch waits for is two of them.
	messageWire = 1024 + FrameOverhead + 4
	batchLowat  = 2 * messageWire
)

func (c *fastConn) init() {
	tc, ok := c.Conn.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	r := &linuxRaw{rc: rc, lowat: 1, awaited: &c.awaited}
	r.onWait = func(fd uintptr) { r.beforeWait(int(fd)) }
	c.raw = r
}

// linuxRaw reads and writes the socket with rawsock (no scheduler hand-off
// per call), adding read batching and writes that never wait.
type linuxRaw struct {
	rc      syscall.RawConn
	lowat   int // SO_RCVLOWAT now set; used by the reading goroutine only
	awaited *atomic.Pointer[func() int]
	onWait  func(fd uintptr) // beforeWait, made once
}

func (r *linuxRaw) read(b []byte) (int, error) {
	n, err := rawsock.Read(r.rc, b, r.onWait)
	return n, opError("read", err)
}

// opError wraps a socket's errno as the net package would.
func opError(op string, err error) error {
	if errno, ok := err.(syscall.Errno); ok {
		return &net.OpError{Op: op, Net: "tcp", Err: errno}
	}
	return err
}

// beforeWait sets the low-water mark for the wait ahead: what the
// consumer is certain to receive, up to batchLowat; one byte otherwise.
func (r *linuxRaw) beforeWait(fd int) {
	want := 1
	if f := r.awaited.Load(); f != nil {
		want = min(max((*f)(), 1), batchLowat)
	}
	if want != r.lowat {
		if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, want) == nil {
			r.lowat = want
		}
	}
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
