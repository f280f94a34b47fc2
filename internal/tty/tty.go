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
	"strings"
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

// Spin shows a spinner labelled name on w while a step runs, until stop
// is called. When w is not a terminal it does nothing.
func Spin(w io.Writer, name string) (stop func()) {
	f, ok := w.(*os.File)
	if !ok || !IsTerminal(f) {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		frames := `|/-\`
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(f, "\r  %-9s %c", name, frames[i%len(frames)])
			select {
			case <-done:
				fmt.Fprint(f, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
