package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SyntaxError is a configuration file that is not valid YAML: where the
// fault is and what is wrong, in plain words rather than the YAML library's.
type SyntaxError struct {
	// Path is the file, as given to Parse.
	Path string
	// Line and Column (1-based, in characters) are where the fault is.
	Line, Column int
	// Problem says what is wrong: "tabs are not allowed in YAML".
	Problem string
	// Fix says what to do about it ("indent with spaces"); it may be empty.
	Fix string
}

// Error is one line: "PATH: PROBLEM: line N, column M; FIX".
func (e *SyntaxError) Error() string {
	s := fmt.Sprintf("%s: %s: line %d, column %d", e.Path, e.Problem, e.Line, e.Column)
	if e.Fix != "" {
		s += "; " + e.Fix
	}
	return s
}

// yamlMessage splits the YAML library's error text: "yaml: line N: what",
// with the line left out when it is the first.
var yamlMessage = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// syntaxError explains yamlErr, the YAML library's refusal of data. The
// library names the line where the enclosing construct began (often not
// the faulty one) and no column, so the lines are scanned for the faults
// people make by hand (a tab, a key out of line, a missing colon) first;
// only when none is found is the library's message translated.
func syntaxError(path string, data []byte, yamlErr error) *SyntaxError {
	lines := splitLines(data)
	if f, ok := scanLayout(lines); ok {
		return f.at(path)
	}
	line, msg := 1, yamlErr.Error()
	if m := yamlMessage.FindStringSubmatch(msg); m != nil {
		msg = m[2]
		if m[1] != "" {
			line, _ = strconv.Atoi(m[1])
		}
	}
	return translate(lines, line, msg).at(path)
}

// fault is a place in the file and what is wrong there.
type fault struct {
	line, column int
	problem, fix string
}

func (f fault) at(path string) *SyntaxError {
	return &SyntaxError{Path: path, Line: f.line, Column: max(f.column, 1), Problem: f.problem, Fix: f.fix}
}

// splitLines cuts data into lines as YAML does (at "\n", "\r\n" or "\r"),
// without a leading byte order mark, so that columns count what an editor
// shows.
func splitLines(data []byte) []string {
	text := strings.TrimPrefix(string(data), "\ufeff")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	return strings.Split(strings.ReplaceAll(text, "\r", "\n"), "\n")
}

// column is the 1-based character column of byte offset i in line.
func column(line string, i int) int {
	i = min(max(i, 0), len(line))
	return utf8.RuneCountInString(line[:i]) + 1
}

// lineAt is line n (1-based) of lines, or "" past the end.
func lineAt(lines []string, n int) string {
	if n < 1 || n > len(lines) {
		return ""
	}
	return lines[n-1]
}

// firstNonBlank is the byte offset of the first character of line that is
// not a space or a tab (len(line) when there is none).
func firstNonBlank(line string) int {
	return len(line) - len(strings.TrimLeft(line, " \t"))
}

// translate says in plain words what the YAML library's msg, reported at
// line, means, and finds the column it names none for.
func translate(lines []string, line int, msg string) fault {
	line = min(max(line, 1), len(lines))
	text := lineAt(lines, line)
	f := fault{line: line, column: column(text, firstNonBlank(text))}
	switch {
	case msg == "found character that cannot start any token":
		i := strings.IndexAny(text, "\t@`%")
		if i < 0 {
			f.problem = "a value starts with a character that cannot start one"
			f.fix = "put the value in quotes"
			break
		}
		f.column = column(text, i)
		if text[i] == '\t' {
			f.problem, f.fix = tabProblem, tabFix
			break
		}
		f.problem = fmt.Sprintf("a value cannot start with %q", text[i:i+1])
		f.fix = "put the value in quotes"
	case strings.HasPrefix(msg, "found a tab character"):
		f.problem, f.fix = tabProblem, tabFix
		for n := line; n <= len(lines); n++ { // the library names the scalar the tab follows
			if i := strings.IndexByte(lineAt(lines, n), '\t'); i >= 0 && i <= firstNonBlank(lineAt(lines, n)) {
				f.line, f.column = n, column(lineAt(lines, n), i)
				break
			}
		}
	case msg == "mapping values are not allowed in this context":
		f.problem = `a colon and a space inside a value`
		f.fix = "put the value in quotes, or each key on a line of its own"
		if i := innerColon(text); i >= 0 {
			f.column = column(text, i)
		}
	case msg == "could not find expected ':'":
		f.problem = "a key without a colon"
		f.fix = "write key: value, with a space after the colon"
	case msg == "found unexpected end of stream":
		f.problem = "a quoted value is never closed"
		f.fix = "end it with the quote it starts with"
		for n, l := range lines {
			if i := unclosedQuote(l); i >= 0 {
				f.line, f.column = n+1, column(l, i)
				break
			}
		}
	case strings.HasPrefix(msg, "did not find expected ',' or "), msg == "did not find expected node content":
		if unclosedFlow(lines, line, &f) {
			break
		}
		f.problem = "a value is missing"
		f.fix = "write the value, or put it in quotes"
		if i := strings.LastIndexAny(text, "[{,]}"); i >= 0 {
			f.column = column(text, i)
		}
	case msg == "did not find expected key":
		f.problem = "the lines below do not line up as keys"
		f.fix = "indent the keys of one mapping by the same number of spaces, and quote values with colons"
	case msg == "did not find expected '-' indicator":
		f.problem = "a list item and a key at the same level"
		f.fix = `use "- item" lines or "key: value" lines in one block, not both`
		for n := line; n < len(lines); n++ { // the first line after a list item that is not one, as far in
			item, next := lineAt(lines, n), lineAt(lines, n+1)
			in := firstNonBlank(item)
			if strings.HasPrefix(item[in:], "- ") && firstNonBlank(next) == in && !strings.HasPrefix(next[in:], "-") {
				f.line, f.column = n+1, column(next, in)
				break
			}
		}
	case msg == "block sequence entries are not allowed in this context":
		f.problem = `a "- " list item after a key on the same line`
		f.fix = "put list items on lines of their own, indented below the key"
		if i := strings.Index(text, "- "); i >= 0 {
			f.column = column(text, i)
		}
	case strings.HasPrefix(msg, "unknown anchor '"):
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		f.problem = fmt.Sprintf("*%s names no anchor", name)
		f.fix = fmt.Sprintf("define &%s before it is used, or quote the value", name)
		for n, l := range lines {
			if i := strings.Index(l, "*"+name); i >= 0 {
				f.line, f.column = n+1, column(l, i)
				break
			}
		}
	default:
		f.problem = msg
	}
	return f
}

// unclosedFlow finds the "[" or "{" nearest line (at or above it first:
// the library names the line where it gave up) that its own line does not
// close, and sets f to say so.
func unclosedFlow(lines []string, line int, f *fault) bool {
	order := make([]int, 0, len(lines))
	for n := min(line, len(lines)); n >= 1; n-- {
		order = append(order, n)
	}
	for n := line + 1; n <= len(lines); n++ {
		order = append(order, n)
	}
	for _, n := range order {
		l := lineAt(lines, n)
		_, v, at, ok := splitKey(l[firstNonBlank(l):])
		if !ok || v == "" || (v[0] != '[' && v[0] != '{') || balanced(v) {
			continue
		}
		closer := map[byte]string{'[': "]", '{': "}"}[v[0]]
		f.line, f.column = n, column(l, firstNonBlank(l)+at)
		f.problem = fmt.Sprintf("a %q is never closed", v[:1])
		f.fix = fmt.Sprintf("close it with %q, with commas between the items", closer)
		return true
	}
	return false
}

// innerColon is the byte offset, in a line that holds a "key: value", of a
// second colon-and-space; in a line that holds none, of the first.
func innerColon(line string) int {
	first := -1
	for i := 0; i < len(line); i++ {
		if line[i] == ':' && (i+1 == len(line) || line[i+1] == ' ' || line[i+1] == '\t') {
			if first >= 0 {
				return i
			}
			first = i
		}
	}
	return first
}

// unclosedQuote is the byte offset of a value's opening quote that line
// does not close, or -1.
func unclosedQuote(line string) int {
	in := firstNonBlank(line)
	v, at := line[in:], 0
	if _, value, vAt, ok := splitKey(v); ok {
		v, at = value, vAt
	}
	if v == "" || (v[0] != '"' && v[0] != '\'') || closingQuote(v) >= 0 {
		return -1
	}
	return in + at
}

const (
	tabProblem = "tabs are not allowed in YAML"
	tabFix     = "indent with spaces"
)
