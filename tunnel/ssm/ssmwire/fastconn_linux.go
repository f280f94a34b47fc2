package ssmwire

import (
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"unsafe"
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
	c.raw = &linuxRaw{rc: rc, lowat: 1, awaited: &c.awaited}
}

// linuxRaw reads and writes a non-blocking socket with RawSyscall: the
// calls return at once (EAGAIN when they would block, and then RawConn
// waits in the network poller), so they need not tell the scheduler.
type linuxRaw struct {
	rc      syscall.RawConn
	lowat   int // SO_RCVLOWAT now set; used by the reading goroutine only
	awaited *atomic.Pointer[func() int]
}

func (r *linuxRaw) read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := r.rc.Read(func(fd uintptr) bool {
		for {
			m, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				r.beforeWait(int(fd))
				return false
			}
			n, errno = int(m), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: errno}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
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
	var n int
	var errno syscall.Errno
	err := r.rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[n])), uintptr(len(b)-n))
			switch e {
			case 0:
				n += int(m)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return !wait // false: the poller waits for room and calls again
			default:
				errno = e
				return true
			}
		}
		return true
	})
	if err == nil && errno != 0 {
		err = &net.OpError{Op: "write", Net: "tcp", Err: errno}
	}
	return n, err
}
