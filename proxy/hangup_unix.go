//go:build unix

package proxy

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// clientSocket is the accepted connection, with its descriptor, for
// watching it without reading from it.
type clientSocket struct {
	conn net.Conn // its deadlines are the socket's, whatever wraps it later
	rc   syscall.RawConn
}

func newClientSocket(c net.Conn) *clientSocket {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &clientSocket{conn: c, rc: rc}
}

// Socket states seen by peeking at it.
const (
	peekIdle   = iota // nothing to read yet
	peekData          // the client sent bytes (not ours to read here)
	peekHungUp        // end of stream, or the connection reset
)

// peek looks at the socket's receive queue without taking anything from it.
func peek(fd uintptr) int {
	var b [1]byte
	for {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		switch {
		case n > 0:
			return peekData
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK):
			return peekIdle
		}
		return peekHungUp // n == 0: end of stream; or ECONNRESET and the like
	}
}

// watchHangup calls gone when the client at sock hangs up: at once if it
// already has (a connect-and-close client usually has by the time it is
// accepted), else from a goroutine that waits for the socket to become
// readable, as the runtime's poller does for a read, and peeks. Bytes the
// client sends end the watch without gone: they are the engine's to read.
// stop ends the watch (waking the wait with a past read deadline) and sets
// the read deadline to deadline.
func watchHangup(sock *clientSocket, gone func(), deadline time.Time) (stop func()) {
	if sock == nil {
		return func() {}
	}
	state := peekIdle
	if err := sock.rc.Read(func(fd uintptr) bool { state = peek(fd); return true }); err != nil {
		return func() {} // e.g. the deadline passed: the handshake fails on its own
	}
	switch state {
	case peekHungUp:
		gone()
		return func() {}
	case peekData:
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		state := peekIdle
		err := sock.rc.Read(func(fd uintptr) bool {
			state = peek(fd)
			return state != peekIdle
		})
		if err == nil && state == peekHungUp {
			gone()
		}
	}()
	return func() {
		_ = sock.conn.SetReadDeadline(time.Unix(1, 0))
		<-done
		_ = sock.conn.SetReadDeadline(deadline)
	}
}
