package ssh

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// readBufSize is the buffer of a read that runs in the background while a
// Read with a deadline waits for it.
const readBufSize = 32 << 10

// tunnelAddr is the address of one end of a tunnelled connection.
type tunnelAddr struct{ s string }

func (a tunnelAddr) Network() string { return "tcp" }
func (a tunnelAddr) String() string  { return a.s }

// readOp is a channel read running in the background.
type readOp struct {
	buf  []byte
	n    int
	err  error
	done chan struct{}
}

// tunnelConn is a direct-tcpip channel as a net.Conn with deadlines (the
// proxy bounds handshakes with them).
//
// A Read without a read deadline reads the channel directly, in the
// caller's goroutine: on the relay path, where deadlines are cleared, each
// message costs no extra goroutine hand-off (the channel itself cannot be
// interrupted, so such a Read returns only with data, EOF, the far end's
// close or the SSH connection's end, which keepalives bound). A Read with a
// deadline starts the channel read in the background and waits for it, the
// deadline or Close; on a timeout the background read carries on and the
// next Read takes its result, so a read timeout leaves the connection
// usable. A write that outlives its deadline closes the channel (a blocked
// channel write cannot be interrupted otherwise). When the SSH connection
// under it dies, Read and Write fail with an error wrapping
// ErrConnectionLost instead of a plain EOF.
type tunnelConn struct {
	ch     net.Conn
	sc     *sshConn
	local  tunnelAddr
	remote tunnelAddr

	rmu     sync.Mutex // serialises Read
	op      *readOp    // a background read not yet taken
	buf     []byte     // the last background read's buffer, reused
	pending []byte     // taken from it, not yet returned
	rerr    error      // sticky

	rdl, wdl  deadline
	wmu       sync.Mutex
	wTimedOut bool
	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error
}

func newTunnelConn(ch net.Conn, sc *sshConn, address string) *tunnelConn {
	return &tunnelConn{
		ch:     ch,
		sc:     sc,
		local:  tunnelAddr{"ssh:" + sc.last.String()},
		remote: tunnelAddr{address},
		rdl:    makeDeadline(),
		wdl:    makeDeadline(),
		closed: make(chan struct{}),
	}
}

// Read implements net.Conn.
func (c *tunnelConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(c.pending) > 0 {
			n := copy(p, c.pending)
			c.pending = c.pending[n:]
			return n, nil
		}
		if c.rerr != nil {
			return 0, c.rerr
		}
		if isClosed(c.closed) {
			return 0, net.ErrClosed
		}
		if c.op == nil && c.rdl.isZero() {
			n, err := c.ch.Read(p)
			if err != nil {
				if isClosed(c.closed) {
					err = net.ErrClosed
				} else {
					err = c.mapErr(err)
				}
				if n == 0 {
					c.rerr = err
				}
			}
			return n, err
		}
		if c.op == nil {
			if isClosed(c.rdl.wait()) {
				return 0, os.ErrDeadlineExceeded
			}
			if c.buf == nil {
				c.buf = make([]byte, readBufSize)
			}
			op := &readOp{buf: c.buf, done: make(chan struct{})}
			c.op = op
			go func() {
				op.n, op.err = c.ch.Read(op.buf)
				close(op.done)
			}()
		}
		select {
		case <-c.op.done:
			op := c.op
			c.op = nil
			c.pending = op.buf[:op.n]
			if op.err != nil {
				c.rerr = c.mapErr(op.err)
			}
		case <-c.rdl.wait():
			return 0, os.ErrDeadlineExceeded
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
}

// Write implements net.Conn.
func (c *tunnelConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	if c.wTimedOut {
		return 0, os.ErrDeadlineExceeded
	}
	if c.wdl.isZero() {
		n, err := c.ch.Write(p)
		if err != nil {
			err = c.mapErr(err)
		}
		return n, err
	}
	select {
	case <-c.wdl.wait():
		return 0, os.ErrDeadlineExceeded
	default:
	}
	stop := make(chan struct{})
	timedOut := make(chan struct{})
	go func() {
		select {
		case <-c.wdl.wait():
			c.ch.Close()
			close(timedOut)
		case <-stop:
		}
	}()
	n, err := c.ch.Write(p)
	close(stop)
	if err != nil {
		select {
		case <-timedOut:
			c.wTimedOut = true
			return n, os.ErrDeadlineExceeded
		default:
		}
		return n, c.mapErr(err)
	}
	return n, nil
}

// mapErr turns errors caused by a dead SSH connection into a clear one.
func (c *tunnelConn) mapErr(err error) error {
	if lost := c.sc.lostErr(); lost != nil {
		return lost
	}
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return err
}

// Close implements net.Conn.
func (c *tunnelConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.closeErr = c.ch.Close()
		if errors.Is(c.closeErr, io.EOF) || c.sc.lostErr() != nil {
			c.closeErr = nil
		}
	})
	return c.closeErr
}

// CloseWrite sends EOF to the far end (half close).
func (c *tunnelConn) CloseWrite() error {
	if cw, ok := c.ch.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("ssh: half close not supported")
}

func (c *tunnelConn) LocalAddr() net.Addr  { return c.local }
func (c *tunnelConn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline implements net.Conn.
func (c *tunnelConn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *tunnelConn) SetReadDeadline(t time.Time) error { c.rdl.set(t); return nil }

// SetWriteDeadline implements net.Conn; a write blocked past it closes the
// connection.
func (c *tunnelConn) SetWriteDeadline(t time.Time) error { c.wdl.set(t); return nil }

// deadline is a settable deadline with a channel closed when it passes
// (the pattern of net.Pipe).
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
	at     time.Time
}

func makeDeadline() deadline { return deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired and closed cancel: wait is over
	}
	d.timer = nil
	d.at = t
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) isZero() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.at.IsZero()
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
