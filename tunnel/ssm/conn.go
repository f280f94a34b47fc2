package ssm

import (
	"github.com/rdsgate/rdsgate/stage"

	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/xtaci/smux"

	"github.com/rdsgate/rdsgate/tunnel/ssm/ssmwire"
)

// addr names a tunnel end in LocalAddr/RemoteAddr.
type addr string

func (a addr) Network() string { return "ssm" }
func (a addr) String() string  { return string(a) }

// openStream opens one smux stream: one TCP connection on the far side.
func (s *session) openStream() (net.Conn, error) {
	if s.smux == nil {
		return nil, errors.New("ssm: session is not multiplexed")
	}
	refused := s.refused.Load()
	st, err := s.gate.open(s.smux)
	if err != nil {
		return nil, err
	}
	return &streamConn{Stream: st, s: s, refusedAt: refused}, nil
}

// streamConn is one multiplexed connection. When the agent reports that it
// could not reach the destination, the stream ends before any data: Read
// then says so instead of returning a bare EOF.
type streamConn struct {
	*smux.Stream
	s         *session
	refusedAt int64
	gotData   bool
	closeOnce sync.Once
}

// Close closes the stream and uncounts it from its session's load.
func (c *streamConn) Close() error {
	err := c.Stream.Close()
	c.closeOnce.Do(func() { c.s.d.release(c.s) })
	return err
}

func (c *streamConn) Read(b []byte) (int, error) {
	n, err := c.Stream.Read(b)
	if n > 0 {
		c.gotData = true
	}
	if err == io.EOF && !c.gotData && c.s.refused.Load() > c.refusedAt {
		// A route failure, though it shows on the first read.
		return n, stage.Wrap(stage.Route, fmt.Errorf("%w %s (ConnectToPortError from the agent on %s); check that the database listens there and that its security group admits the bastion's", ErrDestinationRefused, c.s.dest, c.s.d.cfg.Target))
	}
	var closed *ssmwire.ClosedError
	if err != nil && c.s.smux.IsClosed() && errors.As(c.s.ch.Err(), &closed) {
		return n, fmt.Errorf("ssm: the tunnel to %s ended: %w", c.s.dest, closed)
	}
	return n, err
}

func (c *streamConn) LocalAddr() net.Addr  { return addr("ssm:" + c.s.id) }
func (c *streamConn) RemoteAddr() net.Addr { return addr(c.s.dest) }

// basicConn is the one connection of a basic-mode session. Closing it
// sends DisconnectToPort and terminates the session. Deadlines apply to
// Read only through SetDeadline/SetReadDeadline.
type basicConn struct {
	s    *session
	once sync.Once
	mu   sync.Mutex
	rdl  time.Time
}

func (s *session) basicConn() net.Conn { return &basicConn{s: s} }

func (c *basicConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	dl := c.rdl
	c.mu.Unlock()
	if dl.IsZero() {
		return c.s.pipe.Read(b)
	}
	if time.Until(dl) <= 0 {
		return 0, errTimeout{}
	}
	// Pipe reads cannot be interrupted; poll with a short deadline loop.
	type res struct {
		n   int
		err error
	}
	ch := make(chan res, 1)
	go func() {
		n, err := c.s.pipe.Read(b)
		ch <- res{n, err}
	}()
	select {
	case r := <-ch:
		return r.n, r.err
	case <-time.After(time.Until(dl)):
		// The pending read completes into b later; the conn is unusable
		// after a read timeout, as with crypto/tls.
		c.Close()
		return 0, errTimeout{}
	}
}

func (c *basicConn) Write(b []byte) (int, error) { return c.s.pipe.Write(b) }

func (c *basicConn) Close() error {
	c.once.Do(func() {
		c.s.pipe.Close()
		c.s.d.forget(c.s) // terminates it in a goroutine the dialer's Close waits for
	})
	return nil
}

func (c *basicConn) LocalAddr() net.Addr  { return addr("ssm:" + c.s.id) }
func (c *basicConn) RemoteAddr() net.Addr { return addr(c.s.dest) }
func (c *basicConn) SetDeadline(t time.Time) error {
	return c.SetReadDeadline(t)
}
func (c *basicConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl = t
	c.mu.Unlock()
	return nil
}
func (c *basicConn) SetWriteDeadline(time.Time) error { return nil }

type errTimeout struct{}

func (errTimeout) Error() string   { return "ssm: i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }
