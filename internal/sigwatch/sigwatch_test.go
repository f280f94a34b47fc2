//go:build unix

package sigwatch

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := Watch(cancel)
	defer w.Stop()

	// A child owns the terminal: SIGINT is its business.
	w.PassInterrupt(true)
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
		t.Fatal("SIGINT cancelled while passed to the child")
	case <-time.After(200 * time.Millisecond):
	}
	w.PassInterrupt(false)

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not cancel")
	}
	again := make(chan os.Signal, 1)
	w.Again(func(sig os.Signal) { again <- sig })
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case sig := <-again:
		if sig != os.Interrupt {
			t.Errorf("second signal %v, want interrupt", sig)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second signal did not reach Again")
	}
	if !w.Terminated() || w.Signal() != syscall.SIGTERM || w.ExitCode() != 143 {
		t.Errorf("Terminated %v, Signal %v, exit %d; want true, SIGTERM, 143", w.Terminated(), w.Signal(), w.ExitCode())
	}
}

func TestZeroWatcher(t *testing.T) {
	var w *Watcher
	if w.Terminated() || w.Signal() != nil || w.ExitCode() != 0 {
		t.Error("a nil Watcher reports a signal")
	}
	w.Stop()
	(&Watcher{}).Stop()
}
