// Package netaccept is the one accept loop of rdsgate's listeners (the
// proxy, the port forward, the sandbox's fronts): it hands each connection
// to a handler, backs off while the process or the system is out of file
// descriptors, and stops cleanly when the listener is closed on purpose.
package netaccept

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// Back-off: an Accept that fails for lack of resources (out of file
// descriptors, of socket buffers) is retried after a pause that starts at
// minDelay and doubles up to maxDelay, as net/http does. Clients meanwhile
// wait in the listen queue.
const (
	minDelay = 5 * time.Millisecond
	maxDelay = time.Second
)

// Options tune Loop; the zero value works.
type Options struct {
	// Log receives one line when a shortage starts and one when it ends;
	// nil logs nothing.
	Log *slog.Logger
	// Stopping reports a deliberate close of the listener (Loop then
	// returns nil, not the Accept error). When nil, any close of the
	// listener (net.ErrClosed) counts as deliberate.
	Stopping func() bool
	// Shortage, if set, is called for each Accept that failed for lack of
	// resources (for a metric).
	Shortage func()
}

// Loop calls handle with each connection ln accepts, until ln is closed
// on purpose (see Options.Stopping) or ctx ends, which closes ln: it then
// returns nil. An Accept error that is not a passing shortage ends Loop
// too, and is returned as is, for the caller to wrap with its own name and
// the listener's address. handle runs on Loop's goroutine, so it must not
// block for long: it starts the connection's own goroutine.
func Loop(ctx context.Context, ln net.Listener, opts Options, handle func(net.Conn)) error {
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
			if stopped(ctx, opts, err) {
				return nil
			}
			if !retryable(err) {
				return err
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
			delay = min(max(2*delay, minDelay), maxDelay)
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

// stopped reports whether a failed Accept is the end Loop was asked for.
func stopped(ctx context.Context, opts Options, err error) bool {
	switch {
	case ctx.Err() != nil:
		return true
	case opts.Stopping != nil:
		return opts.Stopping()
	}
	return errors.Is(err, net.ErrClosed)
}

// retryable reports whether an Accept error is a passing shortage (the
// process or the system out of file descriptors, the kernel out of socket
// buffers or memory, a timeout) rather than a closed or broken listener.
func retryable(err error) bool {
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
