package cli

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/internal/cmdline"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/target"
	ssmtunnel "github.com/rdsgate/rdsgate/tunnel/ssm"
)

// allFlags is every flag of every rdsgate command, without its dashes.
func allFlags(t *testing.T) map[string]bool {
	t.Helper()
	a := &app{getenv: os.Getenv, getwd: os.Getwd}
	out := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) { out[f.Name] = true })
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(a.newRoot())
	if len(out) < 20 {
		t.Fatalf("found only %d flags; is the walk broken? %v", len(out), out)
	}
	return out
}

// The flag style spells every setting, as a flag that exists.
func TestFlagsSpellEverySetting(t *testing.T) {
	all := allFlags(t)
	for _, n := range setting.All() {
		f, ok := flags.Names[n]
		if !ok {
			t.Errorf("flags does not spell setting %s", n)
			continue
		}
		if !strings.HasPrefix(f, "--") || !all[strings.TrimPrefix(f, "--")] {
			t.Errorf("setting %s is spelled %q, which is no rdsgate flag", n, f)
		}
	}
	for n := range flags.Names {
		if !slices.Contains(setting.All(), n) {
			t.Errorf("flags spells %q, which is not in setting.All", n)
		}
	}
}

func TestWithHint(t *testing.T) {
	tests := []struct {
		desc  string
		err   error
		want  string
		usage bool
	}{
		{desc: "plain", err: errors.New("boom"), want: "boom"},
		{desc: "a setting", err: setting.Errorf("pass %s", setting.CABundle.Is("FILE")), want: "pass --ca-bundle FILE"},
		{desc: "a wrapped setting", err: fmt.Errorf("connect: %w", setting.Errorf("use %s or %s", setting.Via.Is("ssm"), setting.SSHEIC)),
			want: "connect: use --via ssm or --ssh-eic"},
		{desc: "typed error", err: fmt.Errorf("open: %w", ssmtunnel.ErrNoBastion), usage: true,
			want: "open: ssm: the route needs a bastion: pass --bastion i-... or --bastion-tag KEY=VALUE, or create one: rdsgate bastion create TARGET"},
		{desc: "not found in a region", err: fmt.Errorf("resolve: %w", target.ErrNotFound), want: "target not found"},
		{desc: "untrusted", err: &config.UntrustedError{Path: "/p/.rdsgate.yaml"}, want: "Read it, then run: rdsgate config trust /p/.rdsgate.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got := withHint(tc.err)
			if !strings.HasSuffix(got.Error(), tc.want) {
				t.Errorf("withHint = %q, want it to end in %q", got, tc.want)
			}
			if !errors.Is(got, tc.err) {
				t.Error("the hinted error does not wrap the original")
			}
			if cmdline.IsUsage(got) != tc.usage {
				t.Errorf("usage error: %v, want %v", !tc.usage, tc.usage)
			}
		})
	}
	if withHint(nil) != nil {
		t.Error("withHint(nil) is not nil")
	}
}

// pendingFlagFiles are files, relative to the module root, that still name
// rdsgate's flags in their messages. Each entry says why; delete it once the
// file is fixed (the test fails on an entry that is no longer needed).
var pendingFlagFiles = map[string]string{
	"sandbox/embeddb/pg.go":      "the embedded engine's hint to a psql/mysql user is a whole rdsgate command line, sent as a server error where no flag rendering reaches",
	"sandbox/embeddb/dialect.go": "the same, for catalog queries",
}

// foreignCommand matches the start of a command line of another program,
// whose flags a message may name ("aws rds modify-db-instance --region X").
var foreignCommand = regexp.MustCompile("(^|[\\s`(\"'])(aws|mysql|mariadb|psql|pg_dump|curl) ")

// TestNoLibraryNamesAFlag fails when a string literal in a non-test file
// outside the command line (internal/cli, cmd, bench) names one of rdsgate's
// flags: libraries name settings (package setting) and the command line
// spells them as flags. Flags of other programs' command lines are fine.
func TestNoLibraryNamesAFlag(t *testing.T) {
	all := allFlags(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no module root at %s: %v", root, err)
	}
	found := map[string][]string{}
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			switch {
			case rel == "internal/cli", rel == "internal/cmdline", rel == "cmd", rel == "bench", d.Name() == "testdata", d.Name() == "vendor",
				rel != "." && strings.HasPrefix(d.Name(), "."):
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		files++
		runs, err := runsPrograms(filepath.Dir(path))
		if err != nil {
			return err
		}
		hits, err := flagLiterals(path, all, runs)
		if err != nil {
			return err
		}
		if len(hits) > 0 {
			found[rel] = hits
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("scanned only %d files under %s; is the walk broken?", files, root)
	}
	for rel, hits := range found {
		if _, ok := pendingFlagFiles[rel]; ok {
			continue
		}
		for _, h := range hits {
			t.Errorf("%s: %s\n\tname the setting (package setting) and let the command line spell it as a flag", rel, h)
		}
	}
	for rel, why := range pendingFlagFiles {
		if _, ok := found[rel]; !ok {
			t.Errorf("%s names no flag now; delete its pendingFlagFiles entry (%s)", rel, why)
		}
	}
}

// runsPrograms reports whether the package in dir runs programs: one of its
// non-test files imports os/exec.
func runsPrograms(dir string) (bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return false, err
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			return false, err
		}
		if slices.ContainsFunc(f.Imports, func(s *ast.ImportSpec) bool { return s.Path.Value == `"os/exec"` }) {
			return true, nil
		}
	}
	return false, nil
}

// flagLiterals returns, for each string literal of the file at path that
// names one of flags, "line N: --flag in LITERAL". Literals that are
// arguments of other programs are skipped (argvOption, argvFlag).
func flagLiterals(path string, flags map[string]bool, runs bool) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var hits []string
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil {
			return true
		}
		if argvOption.MatchString(s) || runs && argvFlag.MatchString(s) {
			return true
		}
		for _, name := range namedFlags(s, flags) {
			hits = append(hits, fmt.Sprintf("line %d: --%s in %.100q", fset.Position(lit.Pos()).Line, name, s))
		}
		return true
	})
	return hits, nil
}

// argvOption is a literal that starts one command-line argument of another
// program, "--user=" + name; argvFlag is a literal that is one flag, which
// in a package that runs programs is theirs.
var (
	argvOption = regexp.MustCompile(`^--[a-z][a-z0-9-]*=`)
	argvFlag   = regexp.MustCompile(`^--[a-z][a-z0-9-]*$`)
)

// flagRef is a double-dash flag in text.
var flagRef = regexp.MustCompile(`(^|[^A-Za-z0-9-])--([a-z][a-z0-9-]*)`)

// namedFlags lists the rdsgate flags s names outside other programs'
// command lines.
func namedFlags(s string, flags map[string]bool) []string {
	var out []string
	for _, m := range flagRef.FindAllStringSubmatchIndex(s, -1) {
		name := s[m[4]:m[5]]
		if flags[name] && !inForeignCommand(s[:m[4]]) {
			out = append(out, name)
		}
	}
	return out
}

// inForeignCommand reports whether text ending in a flag is inside another
// program's command line: one started in the same clause, which a backtick,
// a semicolon, a comma, a closing parenthesis or an unescaped line end
// closes.
func inForeignCommand(before string) bool {
	locs := foreignCommand.FindAllStringIndex(before, -1)
	if len(locs) == 0 {
		return false
	}
	rest := before[locs[len(locs)-1][1]:]
	rest = strings.ReplaceAll(rest, "\\\n", " ")
	return !strings.ContainsAny(rest, "`;,)\n")
}

// The scanner's own cases: what counts as naming an rdsgate flag.
func TestNamedFlags(t *testing.T) {
	fl := map[string]bool{"region": true, "user": true, "ca-bundle": true, "apply": true, "port": true}
	tests := []struct {
		desc string
		s    string
		want []string
	}{
		{"a flag", "pass --ca-bundle FILE", []string{"ca-bundle"}},
		{"two", "pass --user, or --region", []string{"user", "region"}},
		{"not ours", "pass --foo", nil},
		{"a longer flag", "aws rds modify --apply-immediately", nil},
		{"aws's flag", "aws rds modify-db-instance --db-instance-identifier x --region eu-west-1", nil},
		{"in backquotes, then ours", "run `aws configure set region R --profile p`, or pass --region", []string{"region"}},
		{"mysql's, then ours", "(mysql --user=x, mariadb --port 3), or use --user", []string{"user"}},
		{"continued line", "aws logs put-metric-filter --region r \\\n  --user x", nil},
		{"new line", "aws ec2 x --port 1\n--port 2", []string{"port"}},
		{"rdsgate's command", "rdsgate audit --region r", []string{"region"}},
		{"in a word", "x--user", nil},
	}
	for _, tc := range tests {
		if got := namedFlags(tc.s, fl); !slices.Equal(got, tc.want) {
			t.Errorf("%s: namedFlags(%q) = %q, want %q", tc.desc, tc.s, got, tc.want)
		}
	}
}
