package ssmwire

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"

	"github.com/gorilla/websocket"
)

// FastConn wraps the TCP connection under a client's websocket (below TLS)
// for the way Session Manager traffic arrives from AWS's agent: a 1 KiB
// message every millisecond, each waking the process from idle, each to
// be acknowledged.
//
//   - On Linux it reads and writes the socket with raw system calls through
//     the connection's syscall.RawConn (the socket is non-blocking; waiting
//     still goes through Go's network poller). An ordinary net.Conn read
//     enters the system call through the scheduler, which wakes the
//     runtime's monitor thread whenever the process was idle: at a message
//     per millisecond that doubled the CPU time per message.
//   - It lets the channel's reader write acknowledgements itself, without
//     a hand-off to the writer goroutine (a wake-up each): before each read
//     from the socket — when the websocket reader has nothing buffered and
//     may wait — it runs the channel's hook, and a write in "no wait" mode
//     never blocks: what the socket does not take at once is kept and
//     written, first, by the next ordinary write.
//
// Elsewhere, or for a connection that is not TCP, reads and writes are the
// connection's own, and a no-wait write may block like any write (the
// channel then leaves acknowledgements to its writer goroutine).
func FastConn(c net.Conn) net.Conn {
	f := &fastConn{Conn: c}
	f.init()
	return f
}

type fastConn struct {
	net.Conn
	raw    rawIO // nil: use Conn
	onWait atomic.Pointer[func()]

	wmu     sync.Mutex
	noWait  atomic.Bool // the writer in progress must not block
	backlog []byte      // bytes a no-wait write left, sent before any other
}

// rawIO is the raw system call path of a platform.
type rawIO interface {
	read(b []byte) (int, error)
	// write writes all of b, waiting for the socket as needed.
	write(b []byte) (int, error)
	// tryWrite writes what the socket takes now.
	tryWrite(b []byte) (int, error)
}

func (c *fastConn) Read(b []byte) (int, error) {
	if f := c.onWait.Load(); f != nil {
		(*f)()
	}
	if c.raw != nil {
		return c.raw.read(b)
	}
	return c.Conn.Read(b)
}

// Write writes b after any backlog. In no-wait mode (see writeNoWait) it
// never blocks: what the socket does not take joins the backlog.
func (c *fastConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.noWait.Load() && c.raw != nil {
		if len(c.backlog) == 0 {
			n, err := c.raw.tryWrite(b)
			if err != nil {
				return n, err
			}
			c.backlog = append(c.backlog, b[n:]...)
		} else {
			c.backlog = append(c.backlog, b...)
		}
		return len(b), nil
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	if c.raw != nil {
		return c.raw.write(b)
	}
	return c.Conn.Write(b)
}

func (c *fastConn) flushLocked() error {
	if len(c.backlog) == 0 {
		return nil
	}
	var err error
	if c.raw != nil {
		_, err = c.raw.write(c.backlog)
	} else {
		_, err = c.Conn.Write(c.backlog)
	}
	c.backlog = c.backlog[:0]
	return err
}

// flush writes the backlog, waiting as needed.
func (c *fastConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

// writeNoWait runs write (which writes to c, directly or through TLS) in
// no-wait mode and reports whether a backlog is left. Only one goroutine
// may write to c meanwhile: the caller holds the channel's write lock, and
// the websocket's own control writes come from the reading goroutine,
// which is the caller.
func (c *fastConn) writeNoWait(write func() error) (left bool, err error) {
	c.noWait.Store(true)
	err = write()
	c.noWait.Store(false)
	c.wmu.Lock()
	left = len(c.backlog) > 0
	c.wmu.Unlock()
	return left, err
}

// fastConnOf returns the FastConn under a websocket, if any.
func fastConnOf(ws *websocket.Conn) *fastConn {
	nc := ws.NetConn()
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	fc, _ := nc.(*fastConn)
	return fc
}

// inlineWriter is a transport whose reader can write acknowledgements
// without waiting (see FastConn).
type inlineWriter interface {
	Transport
	// notifyReadWait makes f run whenever the reader is about to read from
	// the network; false if the transport cannot (then nothing else of
	// this interface is used).
	notifyReadWait(f func()) bool
	// writeFramesNoWait writes frames without blocking; left reports bytes
	// kept for a later WriteFrames (which may have no frames).
	writeFramesNoWait(frames [][]byte) (left bool, err error)
}

func (t *wsTransport) notifyReadWait(f func()) bool {
	if t.fc == nil || t.fc.raw == nil {
		return false
	}
	t.fc.onWait.Store(&f)
	return true
}

func (t *wsTransport) writeFramesNoWait(frames [][]byte) (bool, error) {
	return t.fc.writeNoWait(func() error { return t.writeFrames(frames) })
}
