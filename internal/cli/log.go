package cli

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// humanHandler writes one short line per record for a person at a terminal:
// "warning: token expires soon (target=orders)". Machines use --log-format json.
type humanHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Leveler
	attrs []slog.Attr
}

func newHumanHandler(w io.Writer, level slog.Leveler) *humanHandler {
	return &humanHandler{mu: &sync.Mutex{}, w: w, level: level}
}

func (h *humanHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *humanHandler) Handle(_ context.Context, r slog.Record) error {
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

func (h *humanHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &n
}

// WithGroup flattens groups: human lines have no nesting.
func (h *humanHandler) WithGroup(string) slog.Handler { return h }
