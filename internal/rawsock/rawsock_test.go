package rawsock

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// pair returns a wrapped client and the server end of one connection.
func pair(t *testing.T, network string) (net.Conn, net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	w := Wrap(c)
	t.Cleanup(func() { w.Close(); s.Close() })
	return w, s
}

func TestConn(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			c, s := pair(t, network)
			_, isTCP := c.(*net.TCPConn)
			_, isUnix := c.(*net.UnixConn)
			if raw := !isTCP && !isUnix; raw != (runtime.GOOS == "linux") {
				t.Fatalf("Wrap gave %T on %s", c, runtime.GOOS)
			}

			// Both ways, more than a socket buffer, so writes must wait.
			want := make([]byte, 8<<20)
			for i := range want {
				want[i] = byte(i * 7)
			}
			go func() { _, _ = io.Copy(s, s) }() // echo
			errc := make(chan error, 1)
			go func() { _, err := c.Write(want); errc <- err }()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("byte %d: %d, want %d", i, got[i], want[i])
				}
			}

			// A deadline ends a waiting read as the net package's would.
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			var ne net.Error
			if _, err := c.Read(got); !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("read past the deadline: %v", err)
			}
			_ = c.SetReadDeadline(time.Time{})

			// Close from another goroutine ends a waiting read with ErrClosed.
			done := make(chan error, 1)
			go func() { _, err := c.Read(got); done <- err }()
			time.Sleep(20 * time.Millisecond)
			c.Close()
			select {
			case err := <-done:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("read after Close: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not end the read")
			}
		})
	}
}

func TestEOF(t *testing.T) {
	c, s := pair(t, "tcp")
	_, _ = s.Write([]byte("bye"))
	s.Close()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "bye" {
		t.Fatalf("ReadAll: %q %v", b, err)
	}
}
