package config

import (
	"fmt"
	"strings"
)

// scanLayout looks for the faults people make in a YAML file by hand — a
// tab in the indentation, a key indented unlike its siblings, a key without
// its colon, text after a quoted value — line by line, and returns the
// first. It reads block mappings of plain keys, which is what a
// configuration file is; on anything else (lists, multi-line quoted or
// flow values, quoted keys) it stops and reports nothing, leaving the
// YAML library's message to be translated. It is only asked about a file
// the YAML library has refused, so what it finds is a real fault.
func scanLayout(lines []string) (fault, bool) {
	var s layout
	for i, text := range lines {
		f, verdict := s.line(i+1, text)
		switch verdict {
		case found:
			return f, true
		case unsure:
			return fault{}, false
		}
	}
	return fault{}, false
}

// verdict is what one line told the scan.
type verdict int

const (
	fine   verdict = iota // go on
	found                 // the line is at fault
	unsure                // the line is beyond what the scan reads
)

// key is a key line: its indentation (in spaces), line number and name.
type key struct {
	indent, line int
	name         string
}

// valueKind is what follows a key, which decides what deeper lines may be.
type valueKind int

const (
	noValue  valueKind = iota // "key:" alone: deeper keys or a value may follow
	plain                     // a plain value, which deeper lines may continue
	complete                  // a quoted, flow, alias or block value
)

// layout is the scan's state between lines.
type layout struct {
	// open are the keys of the enclosing mappings, outermost first: one
	// per indentation, the last key seen at it.
	open []key
	// last is the latest key line and kind its value's kind.
	last key
	kind valueKind
	// ownLine is where a plain value that began on a line of its own (under
	// a "key:" alone) starts, 0 for none: "targets:\n  a\n" leaves it at 2,
	// since a deeper key below it means "a" lacks its colon.
	ownLine, ownColumn int
	ownText            string
	// block is the indentation of the block scalar (| or >) being
	// skipped: -1 before its first line; inBlock says whether one is.
	inBlock bool
	block   int
}

func (s *layout) line(n int, text string) (fault, verdict) {
	ws := len(text) - len(strings.TrimLeft(text, " \t"))
	rest := text[ws:]
	spaces := len(text) - len(strings.TrimLeft(text, " "))
	if s.inBlock {
		if rest == "" {
			return fault{}, fine
		}
		if s.block < 0 && spaces > s.last.indent {
			s.block = spaces
			return fault{}, fine
		}
		if s.block >= 0 && spaces >= s.block {
			return fault{}, fine
		}
		s.inBlock = false // the block ends; the line is read as any other
	}
	tab := strings.IndexByte(text[:ws], '\t')
	if rest == "" || rest[0] == '#' {
		// A tab in a blank line is refused as far in as the enclosing keys.
		if tab >= 0 && tab <= s.indent() {
			return tabFault(n, text, tab), found
		}
		return fault{}, fine
	}
	name, value, at, isKey := splitKey(rest)
	if tab >= 0 {
		if isKey || tab <= s.indent() {
			return tabFault(n, text, tab), found
		}
		return fault{}, unsure
	}
	if ws == 0 && (isMarker(rest, "---") || isMarker(rest, "...")) {
		*s = layout{} // a new document
		return fault{}, fine
	}
	if strings.ContainsRune(`-?"'[{|>&*!%@`+"`", rune(rest[0])) && (rest[0] != '-' || len(rest) == 1 || rest[1] == ' ') {
		return fault{}, unsure // a list, a quoted key or a value without a key
	}
	if !isKey {
		return s.nonKey(n, text, ws, rest)
	}
	if name == "" {
		return fault{}, unsure
	}
	k := key{indent: ws, line: n, name: name}
	if f, v := s.place(k, text); v != fine {
		return f, v
	}
	return s.value(k, text, ws+at, value)
}

// nonKey reads a line that holds no "key: value": a plain value under a
// "key:" alone, the continuation of a plain value, or a fault.
func (s *layout) nonKey(n int, text string, ws int, rest string) (fault, verdict) {
	if len(s.open) > 0 && ws > s.last.indent {
		switch s.kind {
		case noValue:
			s.kind, s.ownLine, s.ownColumn, s.ownText = plain, n, column(text, ws), stripComment(rest)
			return fault{}, fine
		case plain:
			return fault{}, fine
		}
	}
	rest = stripComment(rest)
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		return fault{line: n, column: column(text, ws+i),
			problem: fmt.Sprintf("%q needs a space after its colon", rest),
			fix:     "write key: value"}, found
	}
	return fault{line: n, column: column(text, ws),
		problem: fmt.Sprintf("%q has no colon", rest),
		fix:     "write key: value, with a space after the colon"}, found
}

// place fits key line k among the open mappings: a child of a "key:"
// alone, a sibling of a key above, or out of line.
func (s *layout) place(k key, text string) (fault, verdict) {
	if len(s.open) > 0 && k.indent > s.last.indent {
		switch {
		case s.kind == noValue:
			s.open = append(s.open, k)
			return fault{}, fine
		case s.ownLine > 0:
			return fault{line: s.ownLine, column: s.ownColumn,
				problem: fmt.Sprintf("%q has no colon", s.ownText),
				fix:     fmt.Sprintf("write %q to give it the keys below", s.ownText+":")}, found
		}
		return fault{line: k.line, column: column(text, k.indent),
			problem: fmt.Sprintf("%q is indented more than %q above it (line %d)", k.name, s.last.name, s.last.line),
			fix:     fmt.Sprintf("start it at column %d, like %q", s.last.indent+1, s.last.name)}, found
	}
	var inner *key
	for len(s.open) > 0 && s.open[len(s.open)-1].indent > k.indent {
		inner = &s.open[len(s.open)-1]
		s.open = s.open[:len(s.open)-1]
	}
	if len(s.open) == 0 {
		s.open = append(s.open, k) // the first key, or one at a new outermost level
		return fault{}, fine
	}
	outer := &s.open[len(s.open)-1]
	if outer.indent == k.indent {
		*outer = k
		return fault{}, fine
	}
	// Between two levels: it lines up with neither.
	return fault{line: k.line, column: column(text, k.indent),
		problem: fmt.Sprintf("%q lines up with no key above it", k.name),
		fix: fmt.Sprintf("start it at column %d, like %q (line %d), or at column %d, like %q (line %d)",
			inner.indent+1, inner.name, inner.line, outer.indent+1, outer.name, outer.line)}, found
}

// value reads the value of key line k, which starts at byte at of text
// (comments removed: v), and sets what deeper lines may be.
func (s *layout) value(k key, text string, at int, v string) (fault, verdict) {
	s.last, s.kind, s.ownLine = k, complete, 0
	// Anchors and tags come before the value proper: "&base", "!!str x".
	for v != "" && (v[0] == '&' || v[0] == '!') {
		tok, after, _ := strings.Cut(v, " ")
		after = strings.TrimLeft(after, " \t")
		at += len(tok) + (len(v) - len(tok) - len(after))
		v = stripComment(after)
	}
	switch {
	case v == "":
		s.kind = noValue
	case v[0] == '"' || v[0] == '\'':
		raw := text[at:]
		end := closingQuote(raw)
		if end < 0 {
			return fault{}, unsure // a quoted value over several lines
		}
		tail := strings.TrimLeft(raw[end+1:], " \t")
		if tail != "" && tail[0] != '#' {
			return fault{line: k.line, column: column(text, len(text)-len(tail)),
				problem: "text after the closing quote",
				fix:     "put the whole value in quotes"}, found
		}
	case v[0] == '[' || v[0] == '{':
		if !balanced(v) {
			return fault{}, unsure // a flow value over several lines
		}
	case v[0] == '|' || v[0] == '>':
		s.inBlock, s.block = true, -1
	case v[0] == '*': // an alias: complete on its line
	case strings.ContainsRune("@`%", rune(v[0])):
		return fault{line: k.line, column: column(text, at),
			problem: fmt.Sprintf("a value cannot start with %q", v[:1]),
			fix:     "put the value in quotes"}, found
	case v[0] == '-' && (len(v) == 1 || v[1] == ' '), v[0] == '?', strings.ContainsRune(",]}", rune(v[0])):
		return fault{}, unsure
	default:
		s.kind = plain
		if i := strings.Index(v+" ", ": "); i >= 0 {
			return fault{line: k.line, column: column(text, at+i),
				problem: "a colon and a space inside a value",
				fix:     "put the value in quotes, or each key on a line of its own"}, found
		}
	}
	return fault{}, fine
}

// indent is the indentation of the innermost open key, 0 for none.
func (s *layout) indent() int {
	if len(s.open) == 0 {
		return 0
	}
	return s.open[len(s.open)-1].indent
}

func tabFault(n int, text string, tab int) fault {
	return fault{line: n, column: column(text, tab), problem: tabProblem, fix: tabFix}
}

func isMarker(rest, marker string) bool {
	return rest == marker || strings.HasPrefix(rest, marker+" ") || strings.HasPrefix(rest, marker+"\t")
}

// splitKey finds "key: value" in a line with its indentation removed: the
// key, the value without a trailing comment, and the byte offset where the
// value starts. A colon counts only when a space, a tab or the line's end
// follows it, and not after a comment has begun.
func splitKey(rest string) (name, value string, at int, ok bool) {
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case c == '#' && (i == 0 || rest[i-1] == ' ' || rest[i-1] == '\t'):
			return "", "", 0, false
		case c == ':' && (i+1 == len(rest) || rest[i+1] == ' ' || rest[i+1] == '\t'):
			after := strings.TrimLeft(rest[i+1:], " \t")
			return strings.TrimRight(rest[:i], " \t"), stripComment(after), len(rest) - len(after), true
		}
	}
	return "", "", 0, false
}

// stripComment removes a trailing " # comment" and the spaces before it.
func stripComment(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] == '#' && (i == 0 || v[i-1] == ' ' || v[i-1] == '\t') {
			v = v[:i]
			break
		}
	}
	return strings.TrimRight(v, " \t")
}

// closingQuote is the byte offset of the quote that closes the quoted
// value v starts with, or -1 when the line does not close it.
func closingQuote(v string) int {
	q := v[0]
	for i := 1; i < len(v); i++ {
		switch {
		case q == '"' && v[i] == '\\':
			i++ // an escaped character
		case v[i] == q && q == '\'' && i+1 < len(v) && v[i+1] == '\'':
			i++ // '' is a quote inside single quotes
		case v[i] == q:
			return i
		}
	}
	return -1
}

// balanced reports whether the brackets of flow value v close on its line
// (quoted text aside).
func balanced(v string) bool {
	depth := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		case '"', '\'':
			end := closingQuote(v[i:])
			if end < 0 {
				return false
			}
			i += end
		}
	}
	return depth == 0
}
