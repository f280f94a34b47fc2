package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		desc, text, want string
	}{
		{"a key indented more than the one above",
			"targets:\n  a:\n    identifier: a\n     user: x\n",
			`f.yaml: "user" is indented more than "identifier" above it (line 3): line 4, column 6; start it at column 5, like "identifier"`},
		{"a key between two levels",
			"targets:\n  a:\n    identifier: a\n   user: x\n",
			`f.yaml: "user" lines up with no key above it: line 4, column 4; start it at column 5, like "identifier" (line 3), or at column 3, like "a" (line 2)`},
		{"a route key out of line",
			"targets:\n  a:\n    route:\n      via: ssm\n     bastion: i-1\n",
			`f.yaml: "bastion" lines up with no key above it: line 5, column 6; start it at column 7, like "via" (line 4), or at column 5, like "route" (line 3)`},
		{"a tab for indentation",
			"targets:\n  a:\n    identifier: a\n\tuser: x\n",
			"f.yaml: tabs are not allowed in YAML: line 4, column 1; indent with spaces"},
		{"a tab after spaces",
			"targets:\n  a:\n  \tidentifier: a\n",
			"f.yaml: tabs are not allowed in YAML: line 3, column 3; indent with spaces"},
		{"a tab in a blank line",
			"a: 1\n\t\nb: 2\n",
			"f.yaml: tabs are not allowed in YAML: line 2, column 1; indent with spaces"},
		{"a tab after a block value",
			"a: |\n  x\n\ty\n",
			"f.yaml: tabs are not allowed in YAML: line 3, column 1; indent with spaces"},
		{"a key without its colon",
			"targets:\n  a\n    identifier: a\n",
			`f.yaml: "a" has no colon: line 2, column 3; write "a:" to give it the keys below`},
		{"a line without a colon",
			"targets:\n  a:\n    identifier: a\n  user x\n",
			`f.yaml: "user x" has no colon: line 4, column 3; write key: value, with a space after the colon`},
		{"no space after the colon",
			"x: 1\na:b\n",
			`f.yaml: "a:b" needs a space after its colon: line 2, column 2; write key: value`},
		{"a colon inside a value",
			"targets:\n  a:\n    identifier: a: b\n",
			`f.yaml: a colon and a space inside a value: line 3, column 18; put the value in quotes, or each key on a line of its own`},
		{"text after a quoted value",
			"targets:\n  a:\n    identifier: 'a'b\n",
			`f.yaml: text after the closing quote: line 3, column 20; put the whole value in quotes`},
		{"a quote never closed",
			"targets:\n  a:\n    identifier: \"abc\n",
			`f.yaml: a quoted value is never closed: line 3, column 17; end it with the quote it starts with`},
		{"a character that cannot start a value",
			"a: @x\n",
			`f.yaml: a value cannot start with "@": line 1, column 4; put the value in quotes`},
		{"a list never closed",
			"targets: [\n",
			`f.yaml: a "[" is never closed: line 1, column 10; close it with "]", with commas between the items`},
		{"a mapping never closed, over lines",
			"targets:\n  a: {x: 1\n  b: 2\n",
			`f.yaml: a "{" is never closed: line 2, column 6; close it with "}", with commas between the items`},
		{"a list never closed, further down",
			"a: [1,\n  2,\n  3\n",
			`f.yaml: a "[" is never closed: line 1, column 4; close it with "]", with commas between the items`},
		{"a list item beside keys",
			"targets:\n  - a\n  b: c\n",
			`f.yaml: a list item and a key at the same level: line 3, column 3; use "- item" lines or "key: value" lines in one block, not both`},
		{"an alias to no anchor",
			"a: *nope\n",
			`f.yaml: *nope names no anchor: line 1, column 4; define &nope before it is used, or quote the value`},
		{"columns count characters, not bytes",
			"régión: é\n  b: 2\n",
			`f.yaml: "b" is indented more than "régión" above it (line 1): line 2, column 3; start it at column 1, like "régión"`},
		{"windows line ends",
			"a: 1\r\n b: 2\r\n",
			`f.yaml: "b" is indented more than "a" above it (line 1): line 2, column 2; start it at column 1, like "a"`},
		{"a byte order mark",
			"\ufeffa: 1\n b: 2\n",
			`f.yaml: "b" is indented more than "a" above it (line 1): line 2, column 2; start it at column 1, like "a"`},
		{"a document marker",
			"--- # config\na: 1\n b: 2\n",
			`f.yaml: "b" is indented more than "a" above it (line 2): line 3, column 2; start it at column 1, like "a"`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.text))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse = %v, want a *SyntaxError", err)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestSyntaxGolden parses each testdata/*.yaml and compares the error, with
// the line it names and a caret under its column, to testdata/*.golden.
func TestSyntaxGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no testdata/*.yaml: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ReadFile(filepath.ToSlash(in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ReadFile = %v, want a *SyntaxError", err)
			}
			golden(t, name+".golden", caretView(se, data))
		})
	}
}

// caretView is the error, the line it names and a caret under its column.
// Tabs show as "→", one column wide like any other character.
func caretView(e *SyntaxError, data []byte) []byte {
	line := strings.ReplaceAll(lineAt(splitLines(data), e.Line), "\t", "→")
	prefix := fmt.Sprintf("%4d | ", e.Line)
	return fmt.Appendf(nil, "%s\n%s%s\n%s^\n", e, prefix, line,
		strings.Repeat(" ", len(prefix)+e.Column-1))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file (rerun with -update to accept):\n--- got\n%s--- want\n%s", name, got, want)
	}
}

// FuzzSyntaxError: whatever the text, a refusal names a line of the file
// (or the one after its last) and a column within it, and says what is
// wrong; and the layout scan, which only ever sees refused text, finds no
// fault in text the YAML library accepts.
func FuzzSyntaxError(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("targets:\n  a:\n    identifier: a\n   user: x\n"))
	f.Add([]byte("targets:\n  a:\n    identifier: a\n\tuser: x\n"))
	f.Add([]byte("a: |\n  x\n\ty\n"))
	f.Add([]byte("a: [1,\n  2\nb: 3\n"))
	f.Add([]byte("a: 'x\n  y' z\n"))
	f.Add([]byte("a: &x !!str 'q'\nb: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := splitLines(data)
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) == nil {
			if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode || doc.Content[0].Column != 1 {
				return // a scalar, a list or an indented top level: not a configuration file
			}
			if flt, ok := scanLayout(lines); ok {
				t.Fatalf("the layout scan faults text YAML accepts: %+v", flt)
			}
			return
		}
		_, err := Parse("fuzz.yaml", data)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("refused YAML gave %v, not a *SyntaxError", err)
		}
		if se.Line < 1 || se.Line > len(lines)+1 {
			t.Fatalf("line %d of a %d-line file: %v", se.Line, len(lines), se)
		}
		if width := utf8.RuneCountInString(lineAt(lines, se.Line)); se.Column < 1 || se.Column > width+1 {
			t.Fatalf("column %d of a %d-character line: %v", se.Column, width, se)
		}
		if se.Problem == "" {
			t.Fatalf("no problem named: %v", se)
		}
	})
}
