package tty

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// A log line written while the spinner turns starts on a cleared line.
func TestScreenClearsTheSpinnerForALine(t *testing.T) {
	var out lockedBuf
	s := NewScreen(&out)
	s.terminal = func() bool { return true }
	stop := s.Spin("route")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "route") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.Write([]byte("warning: slow\n")); err != nil {
		t.Fatal(err)
	}
	stop()
	got := out.String()
	if !strings.Contains(got, "\r\033[Kwarning: slow\n") {
		t.Errorf("the line did not clear the spinner first: %q", got)
	}
	if !strings.HasSuffix(got, "\r\033[K") {
		t.Errorf("stop left the spinner on screen: %q", got)
	}

	var plain lockedBuf
	p := NewScreen(&plain) // not a terminal: no spinner, lines as they are
	p.Spin("route")()
	p.Write([]byte("x\n"))
	if plain.String() != "x\n" {
		t.Errorf("not a terminal: %q", plain.String())
	}
}
