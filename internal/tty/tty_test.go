package tty

import (
	"bytes"
	"fmt"
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

func TestScreenStatus(t *testing.T) {
	var b lockedBuf
	s := &Screen{w: &b, terminal: func() bool { return true }}
	s.Status("accounts 1/3")
	s.Status("accounts 2/3")
	fmt.Fprintln(s, "a log line")
	s.Status("")
	want := "\r\033[K  accounts 1/3\r\033[K  accounts 2/3\r\033[Ka log line\n\r\033[K"
	if b.String() != want {
		t.Errorf("%q\nwant %q", b.String(), want)
	}
	var plain lockedBuf
	p := &Screen{w: &plain, terminal: func() bool { return false }}
	p.Status("accounts 1/3")
	if plain.String() != "" {
		t.Errorf("not a terminal: %q", plain.String())
	}
}
