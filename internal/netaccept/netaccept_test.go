package netaccept

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// An Accept that fails for lack of resources is retried after a pause; the
// shortage is logged once per episode, not per failed Accept, and counted
// for each; the next client is handed over.
func TestLoopBacksOffOnShortage(t *testing.T) {
	for _, tc := range []struct {
		desc string
		errs []error
	}{
		{"EMFILE", []error{acceptErr(syscall.EMFILE), acceptErr(syscall.EMFILE), acceptErr(syscall.EMFILE)}},
		{"ENFILE", []error{acceptErr(syscall.ENFILE), acceptErr(syscall.ENFILE)}},
		{"ENOBUFS then EMFILE", []error{acceptErr(syscall.ENOBUFS), acceptErr(syscall.EMFILE)}},
		{"ENOMEM", []error{acceptErr(syscall.ENOMEM)}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ln := listen(t)
			var logs bytes.Buffer // read once Loop has returned
			var shortages atomic.Int32
			handed := make(chan net.Conn, 1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- Loop(ctx, &shortListener{Listener: ln, errs: tc.errs},
					Options{Log: slog.New(slog.NewTextHandler(&logs, nil)), Shortage: func() { shortages.Add(1) }},
					func(c net.Conn) { handed <- c })
			}()

			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			select {
			case s := <-handed:
				s.Close()
			case err := <-done:
				t.Fatalf("Loop returned (%v) instead of retrying", err)
			case <-time.After(30 * time.Second): // a safety net, not a measure
				t.Fatal("client not handed over after the shortage")
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Loop after cancel = %v, want nil", err)
			}
			if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
				t.Errorf("%d warnings for one episode of %d failed accepts, want 1:\n%s", n, len(tc.errs), logs.String())
			}
			if !strings.Contains(logs.String(), "accepting again") {
				t.Errorf("no line for the end of the episode:\n%s", logs.String())
			}
			if got := int(shortages.Load()); got != len(tc.errs) {
				t.Errorf("Shortage called %d times, want %d", got, len(tc.errs))
			}
		})
	}
}

// Loop returns nil when it is asked to stop (ctx ends, the listener is
// closed on purpose) and the Accept error itself otherwise.
func TestLoopStops(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		errs     []error                                // Accept's first errors
		stopping func() bool                            // Options.Stopping
		stop     func(context.CancelFunc, net.Listener) // nil: let the errors end Loop
		want     error                                  // errors.Is; nil: Loop returns nil
	}{
		{desc: "ctx ends", stop: func(cancel context.CancelFunc, _ net.Listener) { cancel() }},
		{desc: "ctx ends, Stopping false", stopping: func() bool { return false },
			stop: func(cancel context.CancelFunc, _ net.Listener) { cancel() }},
		{desc: "listener closed, no Stopping", stop: func(_ context.CancelFunc, ln net.Listener) { ln.Close() }},
		{desc: "listener closed, Stopping true", stopping: func() bool { return true },
			stop: func(_ context.CancelFunc, ln net.Listener) { ln.Close() }},
		{desc: "listener closed under the owner", stopping: func() bool { return false },
			stop: func(_ context.CancelFunc, ln net.Listener) { ln.Close() }, want: net.ErrClosed},
		{desc: "EINVAL", errs: []error{acceptErr(syscall.EINVAL)}, want: syscall.EINVAL},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ln := listen(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var shortages atomic.Int32
			done := make(chan error, 1)
			go func() {
				done <- Loop(ctx, &shortListener{Listener: ln, errs: tc.errs},
					Options{Stopping: tc.stopping, Shortage: func() { shortages.Add(1) }},
					func(c net.Conn) { c.Close() })
			}()
			if tc.stop != nil {
				// A client handed over first, so that the stop meets a
				// running loop.
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				tc.stop(cancel, ln)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second): // a safety net, not a measure
				t.Fatal("Loop did not return")
			}
			switch {
			case tc.want == nil && err != nil:
				t.Errorf("Loop = %v, want nil", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("Loop = %v, want %v", err, tc.want)
			}
			if n := shortages.Load(); n != 0 {
				t.Errorf("Shortage called %d times for no shortage", n)
			}
		})
	}
}
