package proxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/target"
	"github.com/rdsgate/rdsgate/tunnel/direct"
)

// shortListener fails its first Accepts with the given errors (as the
// kernel's accept does when the process is out of file descriptors), then
// accepts from the real listener.
type shortListener struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (l *shortListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// A listener that runs out of file descriptors (or the system does) is
// retried after a pause, the shortage is logged once per episode, not per
// failed accept, and counted; the server then serves the next client.
func TestAcceptBacksOffOnResourceShortage(t *testing.T) {
	for _, tc := range []struct {
		desc string
		errs []error
	}{
		{"EMFILE", []error{acceptErr(syscall.EMFILE), acceptErr(syscall.EMFILE), acceptErr(syscall.EMFILE)}},
		{"ENFILE", []error{acceptErr(syscall.ENFILE), acceptErr(syscall.ENFILE)}},
		{"ENOBUFS then EMFILE", []error{acceptErr(syscall.ENOBUFS), acceptErr(syscall.EMFILE)}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var logs safeBuffer
			up := &Upstream{Target: target.Target{Identifier: "echo", Host: "echo.invalid", Port: 1}, Dialer: &direct.Dialer{Address: testharness.EchoServer(t)}}
			s := NewServer(&shortListener{Listener: ln, errs: tc.errs}, rawEngine{}, up, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
			h := NewHealth()
			h.Add(s, nil)
			done := make(chan error, 1)
			go func() { done <- s.Serve(context.Background()) }()

			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // a safety net, not a measure
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 4)
			if _, err := io.ReadFull(c, got); err != nil {
				select {
				case err := <-done:
					t.Fatalf("Serve returned (%v) instead of retrying", err)
				default:
				}
				t.Fatalf("client not served after the shortage: %v", err)
			}
			if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
				t.Errorf("%d warnings for one episode of %d failed accepts, want 1:\n%s", n, len(tc.errs), logs.String())
			}
			var metrics strings.Builder
			h.writeMetrics(&metrics)
			want := `rdsgate_accept_errors_total{target="echo",engine="raw"} ` + string(rune('0'+len(tc.errs)))
			if !strings.Contains(metrics.String(), want) {
				t.Errorf("metrics lack %q:\n%s", want, metrics.String())
			}
			s.Close()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
}

// Errors that are not a shortage still end Serve, with the listener named.
func TestAcceptFailsOnOtherErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	up := &Upstream{Target: target.Target{Identifier: "echo", Host: "echo.invalid", Port: 1}, Dialer: &direct.Dialer{Address: "127.0.0.1:1"}}
	s := NewServer(&shortListener{Listener: ln, errs: []error{acceptErr(syscall.EINVAL)}}, rawEngine{}, up, Options{})
	if err := s.Serve(context.Background()); err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("Serve after EINVAL = %v, want an error naming the listener", err)
	}
}
