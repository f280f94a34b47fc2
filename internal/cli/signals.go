package cli

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// signals turns SIGINT and SIGTERM into cancellation of the command's
// context, except while a child owns the terminal (connect): then SIGINT is
// the child's business (the terminal sends it to the child too; psql cancels
// its query) and rdsgate keeps running.
type signals struct {
	ch         chan os.Signal
	passInt    atomic.Bool
	terminated atomic.Bool
	got        atomic.Value // os.Signal that cancelled
	stop       func()
}

// watch starts watching; cancel is called on the first signal that stops
// rdsgate.
func watchSignals(cancel context.CancelFunc) *signals {
	s := &signals{ch: make(chan os.Signal, 4)}
	signal.Notify(s.ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-s.ch:
				if sig == os.Interrupt && s.passInt.Load() {
					continue
				}
				if sig == syscall.SIGTERM {
					s.terminated.Store(true)
				}
				s.got.Store(sig)
				cancel()
			case <-done:
				return
			}
		}
	}()
	s.stop = func() { signal.Stop(s.ch); close(done) }
	return s
}

// exitCode is the code for the signal that stopped rdsgate, or 0.
func (s *signals) exitCode() int {
	if s == nil {
		return 0
	}
	switch s.got.Load() {
	case os.Interrupt:
		return ExitSIGINT
	case syscall.SIGTERM:
		return ExitSIGTERM
	}
	return 0
}
