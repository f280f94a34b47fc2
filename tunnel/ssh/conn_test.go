package ssh

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"
)

// pipeConn is a tunnelConn over one end of net.Pipe (standing in for the
// channel); the other end is returned to play the far side.
func pipeConn(t *testing.T) (*tunnelConn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	sc := &sshConn{chain: "test", done: make(chan struct{}), log: slog.New(slog.DiscardHandler)}
	c := newTunnelConn(a, sc, "db.example:5432")
	t.Cleanup(func() { c.Close(); b.Close() })
	return c, b
}

func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	return string(buf)
}

// TestTunnelConnReadModes: reads switch between the direct path (no
// deadline) and the background read (deadline) without losing or
// reordering bytes, and a timed-out background read's data goes to the
// next Read.
func TestTunnelConnReadModes(t *testing.T) {
	c, far := pipeConn(t)
	go far.Write([]byte("direct1"))
	if got := readN(t, c, 7); got != "direct1" {
		t.Fatalf("direct read %q", got)
	}
	// With a deadline: times out, the background read stays pending.
	c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := c.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v", err)
	}
	if _, err := c.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second read past deadline: %v", err)
	}
	// The far end writes; the pending background read gets it, and the next
	// Read (deadline cleared: direct again afterwards) returns it in order.
	c.SetReadDeadline(time.Time{})
	go far.Write([]byte("after-timeout|direct2"))
	if got := readN(t, c, len("after-timeout|direct2")); got != "after-timeout|direct2" {
		t.Fatalf("after timeout %q", got)
	}
	// A deadline in the future that is not reached: data arrives first.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	go far.Write([]byte("in-time"))
	if got := readN(t, c, 7); got != "in-time" {
		t.Fatalf("deadline read %q", got)
	}
	// A deadline already past fails at once, without reading.
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	// EOF from the far end is sticky.
	far.Close()
	for range 2 {
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("after far close: %v", err)
		}
	}
}

// TestTunnelConnCloseUnblocksDeadlineRead: Close ends a Read waiting with
// a deadline at once (the direct path cannot be interrupted and ends when
// the channel does).
func TestTunnelConnCloseUnblocksDeadlineRead(t *testing.T) {
	c, _ := pipeConn(t)
	c.SetReadDeadline(time.Now().Add(time.Minute))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the Read")
	}
	// A direct read blocked in the channel ends when the channel closes.
	c2, _ := pipeConn(t)
	go func() {
		_, err := c2.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c2.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("direct read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing the channel did not end the direct Read")
	}
}
