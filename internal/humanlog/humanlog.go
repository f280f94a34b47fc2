// Package humanlog is a slog handler for people at a terminal: one short
// line per record, "warning: token expires soon (target=orders)", with
// control characters escaped so that a client-chosen name cannot forge a
// line. Machines get slog's JSON handler instead.
package humanlog

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// Handler writes one short line per record.
type Handler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Leveler
	attrs []slog.Attr
}

// New returns a Handler writing records at level or above to w.
func New(w io.Writer, level slog.Leveler) *Handler {
	return &Handler{mu: &sync.Mutex{}, w: w, level: level}
}

// Enabled reports whether l is at the handler's level or above.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// Handle writes r as one line.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	switch {
	case r.Level >= slog.LevelError:
		b.WriteString("error: ")
	case r.Level >= slog.LevelWarn:
		b.WriteString("warning: ")
	case r.Level < slog.LevelInfo:
		b.WriteString("debug: ")
	}
	b.WriteString(escapeControl(r.Message))
	var kv []string
	add := func(a slog.Attr) {
		if a.Equal(slog.Attr{}) {
			return
		}
		kv = append(kv, escapeControl(a.Key)+"="+quoteValue(a.Value.Resolve().String()))
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool { add(a); return true })
	if len(kv) > 0 {
		b.WriteString(" (" + strings.Join(kv, ", ") + ")")
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

// escapeControl writes unprintable runes (newlines, terminal escapes,
// bidirectional overrides) as Go escapes: a client chooses user and database
// names, and must not be able to forge a log line or repaint the terminal.
func escapeControl(s string) string {
	if !hasUnprintable(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == ' ' || strconv.IsPrint(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r) // 'x' with x escaped
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// quoteValue quotes an attribute value that could be mistaken for the
// line's structure: unprintable runes, a quote, or an "=" that could pose
// as another attribute of the "(key=value, ...)" tail.
func quoteValue(s string) string {
	if s == "" || hasUnprintable(s) || strings.ContainsAny(s, `"=`) || strings.TrimSpace(s) != s {
		return strconv.Quote(s)
	}
	return s
}

func hasUnprintable(s string) bool {
	for _, r := range s {
		if r != ' ' && !strconv.IsPrint(r) {
			return true
		}
	}
	return false
}

// WithAttrs returns a handler that adds as to every line.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &n
}

// WithGroup flattens groups: human lines have no nesting.
func (h *Handler) WithGroup(string) slog.Handler { return h }

// MinLevel wraps a handler and drops records below Min: a quieter view of
// the same log.
type MinLevel struct {
	slog.Handler
	Min slog.Level
}

// Enabled reports whether l is at least Min and the wrapped handler wants it.
func (f MinLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.Min && f.Handler.Enabled(ctx, l)
}

// WithAttrs keeps the filter on the derived handler.
func (f MinLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return MinLevel{Handler: f.Handler.WithAttrs(as), Min: f.Min}
}

// WithGroup keeps the filter on the derived handler.
func (f MinLevel) WithGroup(name string) slog.Handler {
	return MinLevel{Handler: f.Handler.WithGroup(name), Min: f.Min}
}
