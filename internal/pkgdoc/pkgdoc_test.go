package pkgdoc

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// maxDocLines is the longest package doc accepted. A doc says in two to five
// lines what the package is for; protocol notes, formats and design reasons
// belong next to the code they explain, as ordinary comments in the file
// that implements them.
const maxDocLines = 12

// pendingDocs names packages, by directory relative to the module root, that
// are left unchecked for now. Each entry says why; delete it once the
// package's doc passes (the test fails on an entry that is no longer needed).
var pendingDocs = map[string]string{}

// TestPackageDocs walks the module and fails on any package (other than a
// main package) whose non-test files carry no package doc, carry it in more
// than one file, start it with something other than "Package NAME", or make
// it longer than maxDocLines.
func TestPackageDocs(t *testing.T) {
	root := moduleRoot(t)
	pkgs, err := packageDocs(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages under %s; is the walk broken?", len(pkgs), root)
	}
	seen := map[string]bool{}
	for _, p := range pkgs {
		problems := p.problems()
		if reason, ok := pendingDocs[p.dir]; ok {
			seen[p.dir] = true
			if len(problems) == 0 {
				t.Errorf("%s: its doc passes now; delete its pendingDocs entry (%s)", p.dir, reason)
			}
			continue
		}
		for _, msg := range problems {
			t.Errorf("%s: %s", p.dir, msg)
		}
	}
	for dir := range pendingDocs {
		if !seen[dir] {
			t.Errorf("pendingDocs names %s, which is not a package of the module", dir)
		}
	}
}

// pkgDoc is what the test knows of one package: its directory, its name, and
// the package doc of each non-test file that has one.
type pkgDoc struct {
	dir  string            // slash-separated, relative to the module root
	name string            // package name
	docs map[string]string // file name -> package doc text
}

func (p pkgDoc) problems() []string {
	var files []string
	for f := range p.docs {
		files = append(files, f)
	}
	slices.Sort(files)
	switch len(files) {
	case 0:
		return []string{fmt.Sprintf("package %s has no package doc: add a doc.go or a comment above the package clause of its main file saying in two to five lines what it is for", p.name)}
	case 1:
	default:
		return []string{fmt.Sprintf("package %s has a package doc in %d files (%s): keep one", p.name, len(files), strings.Join(files, ", "))}
	}
	var out []string
	text := p.docs[files[0]]
	if want := "Package " + p.name + " "; !strings.HasPrefix(text, want) {
		out = append(out, fmt.Sprintf("%s: package doc must start %q", files[0], want))
	}
	if n := strings.Count(strings.TrimRight(text, "\n"), "\n") + 1; n > maxDocLines {
		out = append(out, fmt.Sprintf("%s: package doc is %d lines, more than %d: say what the package is for and move the rest next to the code it explains", files[0], n, maxDocLines))
	}
	return out
}

// packageDocs parses the package clause and comments of every non-test Go
// file under root, skipping testdata, hidden and underscore directories and
// nested modules, and returns the non-main packages sorted by directory.
func packageDocs(root string) ([]pkgDoc, error) {
	var out []pkgDoc
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != root {
			name := d.Name()
			if name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		pkgs, err := parseDir(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		for _, p := range pkgs {
			p.dir = filepath.ToSlash(rel)
			out = append(out, p)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b pkgDoc) int { return strings.Compare(a.dir, b.dir) })
	return out, err
}

// parseDir returns the non-main packages of the non-test Go files in dir
// (more than one only when files with build tags such as "ignore" declare
// another package).
func parseDir(dir string) ([]pkgDoc, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	byName := map[string]*pkgDoc{}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return nil, err
		}
		if f.Name.Name == "main" || isIgnored(f) {
			continue
		}
		p := byName[f.Name.Name]
		if p == nil {
			p = &pkgDoc{name: f.Name.Name, docs: map[string]string{}}
			byName[f.Name.Name] = p
			names = append(names, f.Name.Name)
		}
		if f.Doc != nil {
			p.docs[n] = f.Doc.Text()
		}
	}
	var out []pkgDoc
	for _, n := range names {
		out = append(out, *byName[n])
	}
	return out, nil
}

// isIgnored reports whether f is excluded from every build by
// "//go:build ignore".
func isIgnored(f *ast.File) bool {
	for _, g := range f.Comments {
		if g.Pos() > f.Package {
			break
		}
		for _, c := range g.List {
			if strings.TrimSpace(c.Text) == "//go:build ignore" {
				return true
			}
		}
	}
	return false
}

// moduleRoot returns the directory of the go.mod above the test's directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// TestProblems checks what the walk reports for each kind of bad doc.
func TestProblems(t *testing.T) {
	long := "Package p is long.\n" + strings.Repeat("more\n", maxDocLines)
	tests := []struct {
		desc string
		docs map[string]string
		want string // substring of the only problem; "" for none
	}{
		{"good", map[string]string{"p.go": "Package p does one thing.\n"}, ""},
		{"missing", map[string]string{}, "has no package doc"},
		{"two files", map[string]string{"a.go": "Package p a.\n", "b.go": "Package p b.\n"}, "in 2 files (a.go, b.go)"},
		{"wrong start", map[string]string{"p.go": "This package does one thing.\n"}, `must start "Package p "`},
		{"too long", map[string]string{"p.go": long}, "more than 12"},
		{"longest allowed", map[string]string{"p.go": "Package p is long.\n" + strings.Repeat("more\n", maxDocLines-1)}, ""},
	}
	for _, tc := range tests {
		got := pkgDoc{dir: "p", name: "p", docs: tc.docs}.problems()
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: problems = %q, want none", tc.desc, got)
		case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
			t.Errorf("%s: problems = %q, want one containing %q", tc.desc, got, tc.want)
		}
	}
}
