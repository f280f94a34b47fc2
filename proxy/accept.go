package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/rdsgate/rdsgate/internal/rawsock"
	"github.com/rdsgate/rdsgate/session"
	"github.com/rdsgate/rdsgate/tunnel"
)

// Accept back-off: an Accept that fails for lack of resources (out of
// file descriptors, of socket buffers) is retried after a pause that starts
// at acceptMinDelay and doubles up to acceptMaxDelay, as net/http does.
// Clients meanwhile wait in the listen queue.
const (
	acceptMinDelay = 5 * time.Millisecond
	acceptMaxDelay = time.Second
)

// AcceptOptions tune AcceptLoop; the zero value works.
type AcceptOptions struct {
	// Log receives one line when a shortage starts and one when it ends.
	Log *slog.Logger
	// Stopping reports a deliberate close of the listener (a nil error
	// then, not a failure).
	Stopping func() bool
	// Shortage is called for each Accept that failed for lack of resources.
	Shortage func()
}

// AcceptLoop calls handle (which must not block for long) with each
// connection ln accepts, until ln is closed or ctx ends (nil), or Accept
// fails for another reason than a passing shortage (that error). The one
// accept loop of rdsgate's listeners.
func AcceptLoop(ctx context.Context, ln net.Listener, opts AcceptOptions, handle func(net.Conn)) error {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var delay time.Duration
	var failures int
	var since time.Time
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || opts.Stopping != nil && opts.Stopping() || errors.Is(err, net.ErrClosed) && opts.Stopping == nil {
				return nil
			}
			if !retryableAccept(err) {
				return fmt.Errorf("proxy: accept on %s: %w", ln.Addr(), err)
			}
			if opts.Shortage != nil {
				opts.Shortage()
			}
			if delay == 0 {
				// One line per episode: a shortage repeats every pause.
				since = time.Now()
				opts.Log.Warn("accept failed; pausing new clients until it succeeds (raise the open-files limit, ulimit -n, if this repeats)",
					"listener", ln.Addr(), "err", err)
			}
			failures++
			delay = min(max(2*delay, acceptMinDelay), acceptMaxDelay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			continue
		}
		if delay > 0 {
			opts.Log.Info("accepting again", "listener", ln.Addr(), "failed_accepts", failures, "after", time.Since(since).Round(time.Millisecond))
			delay, failures = 0, 0
		}
		handle(c)
	}
}

// retryableAccept reports whether an Accept error is a passing shortage
// (the process or the system out of file descriptors, the kernel out of
// socket buffers or memory, a timeout) rather than a closed or broken
// listener.
func retryableAccept(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// ForwardDialTimeout bounds opening the route for one forwarded connection.
const ForwardDialTimeout = 60 * time.Second

// Forward is a plain port forward: each connection ln accepts is relayed,
// byte for byte, to address through d. It returns when ctx ends or ln
// closes, after the open relays have ended.
func Forward(ctx context.Context, ln net.Listener, d tunnel.Dialer, address string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	defer func() { close(done); wg.Wait() }()
	return AcceptLoop(ctx, ln, AcceptOptions{Log: log}, func(c net.Conn) {
		c = rawsock.Wrap(c) // see rawsock: a wake-up less per message after idle
		wg.Add(1)
		go func() {
			defer wg.Done()
			dctx, cancel := context.WithTimeout(ctx, ForwardDialTimeout)
			up, err := d.DialContext(dctx, "tcp", address)
			cancel()
			if err != nil {
				log.Warn("could not open the route", "remote", address, "err", err)
				c.Close()
				return
			}
			var counter session.Counter
			reason := Relay(Leg{R: c, Conn: c}, Leg{R: up, Conn: up}, &counter, nil, 0, done)
			in, out := counter.Totals()
			log.Debug("forwarded connection ended", "reason", reason, "bytes_in", in, "bytes_out", out)
		}()
	})
}
