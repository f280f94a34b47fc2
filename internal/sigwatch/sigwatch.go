// Package sigwatch turns SIGINT and SIGTERM into the cancellation of a
// command's context, except that SIGINT can be left to a child that owns
// the terminal (psql cancels its query on Ctrl-C; rdsgate keeps the path
// up until the child exits).
package sigwatch

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// Watcher watches for the signals. The zero value watches nothing and
// reports no signal.
type Watcher struct {
	passInt    atomic.Bool
	terminated atomic.Bool
	got        atomic.Value // os.Signal that cancelled
	again      atomic.Value // func(os.Signal), for a second signal
	stop       func()
}

// Watch starts watching; cancel is called on the first signal that stops
// the process. Stop the Watcher when done.
func Watch(cancel context.CancelFunc) *Watcher {
	w := &Watcher{}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case sig := <-ch:
				if sig == os.Interrupt && w.passInt.Load() {
					continue
				}
				if sig == syscall.SIGTERM {
					w.terminated.Store(true)
				}
				if !w.got.CompareAndSwap(nil, sig) {
					if f, ok := w.again.Load().(func(os.Signal)); ok {
						f(sig) // a second one: the person does not want to wait
					}
				}
				cancel()
			case <-done:
				return
			}
		}
	}()
	w.stop = func() { signal.Stop(ch); close(done); <-finished }
	return w
}

// Again sets what a second stopping signal does (one that arrives while the
// first is being honoured: a proxy draining its sessions), e.g. exit at
// once.
func (w *Watcher) Again(f func(os.Signal)) { w.again.Store(f) }

// PassInterrupt leaves SIGINT to a child (on) or makes it cancel again.
func (w *Watcher) PassInterrupt(on bool) { w.passInt.Store(on) }

// Terminated reports whether a SIGTERM arrived.
func (w *Watcher) Terminated() bool { return w != nil && w.terminated.Load() }

// Signal is the signal that cancelled, or nil.
func (w *Watcher) Signal() os.Signal {
	if w == nil {
		return nil
	}
	sig, _ := w.got.Load().(os.Signal)
	return sig
}

// Stop stops watching and waits for the watcher's goroutine.
func (w *Watcher) Stop() {
	if w != nil && w.stop != nil {
		w.stop()
	}
}

// ExitCode is the shell's exit status for a process stopped by the signal
// that cancelled (128 + its number: 130 after SIGINT, 143 after SIGTERM),
// or 0 when none did.
func (w *Watcher) ExitCode() int {
	if sig, ok := w.Signal().(syscall.Signal); ok {
		return 128 + int(sig)
	}
	return 0
}
