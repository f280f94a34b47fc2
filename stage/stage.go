// Package stage names the stages of the path to a database (credentials,
// identity, target, route, TLS, login, client) and the error a stage fails
// with, so that a failure is told once, on one line, with its stage; and it
// keeps the internals (SDK dumps with request ids, driver details) out of
// messages, for -v.
package stage

import (
	"errors"
	"fmt"
	"strings"
)

// Name is a stage of the path, in the order a connection runs them.
type Name string

// The stages.
const (
	Credentials Name = "credentials" // AWS credentials and configuration
	Identity    Name = "identity"    // who the credentials are (STS)
	Target      Name = "target"      // the database, from the RDS API
	Route       Name = "route"       // the bastion, tunnel or address
	TLS         Name = "tls"         // the server's certificate, verified
	Login       Name = "login"       // the database accepting the user
	Client      Name = "client"      // the local client and its program
)

// Error is a stage's failure: Err says what went wrong (and, where known,
// what to do). Its message is Err's: a program that reports it puts the
// stage in front ("route: ...").
type Error struct {
	Stage Name
	// Target names the database the path is to, when known: the report
	// can point at `rdsgate doctor TARGET`.
	Target string
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns what went wrong.
func (e *Error) Unwrap() error { return e.Err }

// Wrap marks err as a failure of stage s. nil stays nil, and an error that
// already has a stage keeps it: the innermost stage is where it failed.
func Wrap(s Name, err error) error {
	if err == nil || Of(err) != "" {
		return err
	}
	return &Error{Stage: s, Err: err}
}

// WrapTarget is Wrap for the path to the database named target; an error
// that has a stage but no target gets the target.
func WrapTarget(s Name, target string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		if e.Target == "" {
			e.Target = target
		}
		return err
	}
	if err == nil {
		return nil
	}
	return &Error{Stage: s, Target: target, Err: err}
}

// Of is the stage err failed in, or "".
func Of(err error) Name {
	var e *Error
	if errors.As(err, &e) {
		return e.Stage
	}
	return ""
}

// Detail is an error whose message leaves out the errors it wraps: they
// stay reachable for errors.Is and errors.As, and for Details (-v), but a
// person reads only Msg.
type Detail struct {
	Msg  string
	Errs []error
}

// Hide returns an error reading msg that wraps errs without repeating them.
func Hide(msg string, errs ...error) error { return &Detail{Msg: msg, Errs: errs} }

// Hidef is Hide with a formatted message; every error among args is
// wrapped as well as formatted, so use it for sentinel errors whose text
// belongs in the message (ErrAgentOffline), and put the internals in errs
// of Hide.
func Hidef(internal error, format string, args ...any) error {
	d := &Detail{Msg: fmt.Sprintf(format, args...)}
	for _, a := range args {
		if e, ok := a.(error); ok {
			d.Errs = append(d.Errs, e)
		}
	}
	if internal != nil {
		d.Errs = append(d.Errs, internal)
	}
	return d
}

func (d *Detail) Error() string { return d.Msg }

// Unwrap returns the wrapped errors.
func (d *Detail) Unwrap() []error { return d.Errs }

// Hider is an error that leaves a cause out of its message (an SDK
// error, request ids), for a verbose report to show.
type Hider interface {
	Hidden() error
}

// Details are the texts that err's message leaves out (the errors a
// Detail hides, a Hider's hidden cause), innermost last, for a verbose
// report.
func Details(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if h, ok := e.(Hider); ok && h.Hidden() != nil {
			out = append(out, h.Hidden().Error())
		}
		if d, ok := e.(*Detail); ok {
			for _, w := range d.Errs {
				if w != nil && !isSentinelIn(d.Msg, w) {
					out = append(out, w.Error())
				}
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if w := u.Unwrap(); w != nil {
				walk(w)
			}
		case interface{ Unwrap() []error }:
			for _, w := range u.Unwrap() {
				if w != nil {
					walk(w)
				}
			}
		}
	}
	walk(err)
	return out
}

// isSentinelIn: an error whose text is already in msg (a sentinel that
// was formatted into it) is no detail.
func isSentinelIn(msg string, err error) bool {
	s := err.Error()
	return s != "" && strings.Contains(msg, s)
}

// Line is err as one line for a person: the stage in front ("route: ..."),
// line breaks joined, the "rdsgate: " a message picked up crossing the
// local proxy dropped, and for a route, TLS or login failure on a named
// target, where to look next.
func Line(err error) string {
	msg := strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; "), "rdsgate: ", "")
	var e *Error
	if !errors.As(err, &e) {
		return msg
	}
	msg = string(e.Stage) + ": " + strings.TrimPrefix(msg, string(e.Stage)+": ")
	if e.Target != "" && (e.Stage == Route || e.Stage == TLS || e.Stage == Login) && !strings.Contains(msg, "rdsgate doctor") {
		msg += " (rdsgate doctor " + e.Target + " checks every stage)"
	}
	return msg
}
