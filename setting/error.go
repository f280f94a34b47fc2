package setting

import (
	"cmp"
	"errors"
	"slices"
	"strings"
)

// Renderer is a message that names settings and spells them in the Style it
// is given; Render with the zero Style is its neutral text (for an error,
// its Error()). Errors that name settings implement it, so that Render
// finds them however they are wrapped.
type Renderer interface {
	Render(Style) string
}

// Error is an error whose message names settings. Its Error() spells them
// neutrally; Render (or the function Render, on an error that wraps it)
// spells them in a Style.
type Error struct {
	text    Text
	wrapped []error
}

// Errorf is Textf as an error: a Name or Ref argument of %s or %v is a
// setting reference, and %w wraps its argument as fmt.Errorf does (one or
// several), which is also spelled in the Style the Error is rendered in.
func Errorf(format string, args ...any) error {
	t, wrapped := textf(format, args)
	return &Error{text: t, wrapped: wrapped}
}

// ErrInvalid marks an error about the settings given rather than about the
// world: a missing one, one out of range, two that contradict each other.
// A command line reports such errors as usage mistakes.
var ErrInvalid = errors.New("invalid settings")

// Invalidf is Errorf for a mistake in the settings given: the error also
// matches ErrInvalid (errors.Is).
func Invalidf(format string, args ...any) error {
	e := Errorf(format, args...).(*Error)
	e.wrapped = append(e.wrapped, ErrInvalid)
	return e
}

// Error is the message spelled neutrally.
func (e *Error) Error() string { return e.text.String() }

// Render is the message with its settings spelled in s.
func (e *Error) Render(s Style) string { return e.text.Render(s) }

// Text is the message.
func (e *Error) Text() Text { return e.text }

// Unwrap returns the errors of Errorf's %w verbs.
func (e *Error) Unwrap() []error { return e.wrapped }

// Render is err's message with the settings it names spelled in s: those
// of every Renderer in err's tree (errors.Unwrap, and the []error kind), each
// found in the message by its neutral text, which is how fmt.Errorf and
// errors.Join include the errors they wrap. "" for nil.
func Render(err error, s Style) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	type edit struct {
		at, end int
		with    string
	}
	var edits []edit
	taken := func(at, end int) bool {
		for _, e := range edits {
			if at < e.end && e.at < end {
				return true
			}
		}
		return false
	}
	var visit func(error)
	visit = func(e error) {
		if r, ok := e.(Renderer); ok {
			neutral, styled := e.Error(), r.Render(s)
			if neutral == "" || neutral == styled {
				return
			}
			for from := 0; ; {
				i := strings.Index(msg[from:], neutral)
				if i < 0 {
					return
				}
				at := from + i
				if !taken(at, at+len(neutral)) {
					edits = append(edits, edit{at, at + len(neutral), styled})
					return
				}
				from = at + 1
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if w := u.Unwrap(); w != nil {
				visit(w)
			}
		case interface{ Unwrap() []error }:
			for _, w := range u.Unwrap() {
				if w != nil {
					visit(w)
				}
			}
		}
	}
	visit(err)
	if len(edits) == 0 {
		return msg
	}
	slices.SortFunc(edits, func(a, b edit) int { return cmp.Compare(a.at, b.at) })
	var b strings.Builder
	last := 0
	for _, e := range edits {
		b.WriteString(msg[last:e.at])
		b.WriteString(e.with)
		last = e.end
	}
	b.WriteString(msg[last:])
	return b.String()
}
