// Package tty talks to the user's terminal: whether a stream is one, a
// password read with echo off, and a spinner for a step in progress. On
// anything that is not a terminal it stays silent, so pipes and logs get
// plain lines only.
package tty

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrNotTerminal means a password was asked for where nobody can type it.
var ErrNotTerminal = errors.New("stdin is not a terminal")

// ReadPassword prints prompt on out and reads one line from in with echo
// off. in must be a terminal.
func ReadPassword(in io.Reader, out io.Writer, prompt string) (string, error) {
	f, ok := in.(*os.File)
	if !ok || !IsTerminal(f) {
		return "", ErrNotTerminal
	}
	restore, err := EchoOff(f)
	if err != nil {
		return "", err
	}
	defer restore()
	fmt.Fprint(out, prompt)
	line, err := bufio.NewReader(f).ReadString('\n')
	fmt.Fprintln(out)
	if err != nil && line == "" {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// Confirm prints prompt on out and reports whether the answer read from in
// is yes (y or yes, any case). in must be a terminal: a question nobody can
// answer is ErrNotTerminal, not a silent no.
func Confirm(in io.Reader, out io.Writer, prompt string) (bool, error) {
	f, ok := in.(*os.File)
	if !ok || !IsTerminal(f) {
		return false, ErrNotTerminal
	}
	fmt.Fprint(out, prompt)
	line, _ := bufio.NewReader(f).ReadString('\n')
	s := strings.ToLower(strings.TrimSpace(line))
	return s == "y" || s == "yes", nil
}

// Screen is a terminal stream shared by a spinner and log lines: a line
// written while the spinner turns clears the spinner's line first (the
// spinner draws again on its next turn), so the two never mix.
type Screen struct {
	w        io.Writer
	mu       sync.Mutex
	spinning bool
	terminal func() bool // whether w is a terminal (tests say yes)
}

// NewScreen returns a Screen writing to w.
func NewScreen(w io.Writer) *Screen {
	return &Screen{w: w, terminal: func() bool {
		f, ok := w.(*os.File)
		return ok && IsTerminal(f)
	}}
}

// Write writes p, clearing a spinner's line first.
func (s *Screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spinning {
		fmt.Fprint(s.w, "\r\033[K")
	}
	return s.w.Write(p)
}

// Status shows text on a line of its own that the next Status redraws in
// place (a progress count), and that a log line clears first; "" clears
// it. When the Screen's stream is not a terminal it does nothing.
func (s *Screen) Status(text string) {
	if !s.terminal() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprint(s.w, "\r\033[K")
	if s.spinning = text != ""; s.spinning {
		fmt.Fprint(s.w, "  "+text)
	}
}

// Spin shows a spinner labelled name while a step runs, until stop is
// called. When the Screen's stream is not a terminal it does nothing.
func (s *Screen) Spin(name string) (stop func()) {
	if !s.terminal() {
		return func() {}
	}
	f := s.w
	done := make(chan struct{})
	finished := make(chan struct{})
	draw := func(frame string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.spinning = frame != ""
		if frame == "" {
			fmt.Fprint(f, "\r\033[K")
			return
		}
		fmt.Fprintf(f, "\r  %-9s %s", name, frame)
	}
	go func() {
		defer close(finished)
		frames := `|/-\`
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			draw(frames[i%len(frames) : i%len(frames)+1])
			select {
			case <-done:
				draw("")
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// Progress shows the steps of a command on a Screen: a spinner while one
// runs, then a line "  name      detail (took)". Progress goes to stderr so
// that stdout stays clean for results. It is an observer of dbpath's
// stages and of bastion's steps.
type Progress struct {
	Screen *Screen
	// Quiet shows nothing (--quiet).
	Quiet bool
	// Silent are steps shown neither spinning nor done (a cached download).
	Silent []string
	stop   func()
}

// Begin shows a spinner for step.
func (p *Progress) Begin(step string) {
	if !slices.Contains(p.Silent, step) {
		p.stop = p.Spin(step)
	}
}

// Done stops the spinner and shows the step's line (none when took < 0).
func (p *Progress) Done(step string, took time.Duration, detail string) {
	if p.stop != nil {
		p.stop()
		p.stop = nil
	}
	if took >= 0 && !slices.Contains(p.Silent, step) {
		p.Line(step, took, detail)
	}
}

// Spin shows a spinner for step until stop is called.
func (p *Progress) Spin(step string) (stop func()) {
	if p.Quiet {
		return func() {}
	}
	return p.Screen.Spin(step)
}

// Line shows a finished step.
func (p *Progress) Line(step string, took time.Duration, detail string) {
	if !p.Quiet {
		fmt.Fprintf(p.Screen, "  %-9s %s (%s)\n", step, detail, took.Round(time.Millisecond))
	}
}

// Since shows a step that began at start.
func (p *Progress) Since(step string, start time.Time, format string, args ...any) {
	p.Line(step, time.Since(start), fmt.Sprintf(format, args...))
}
