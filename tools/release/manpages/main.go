// Command manpages writes a man page (section 1) per rdsgate command, from
// the command tree of a built binary: each page is that command's --help
// (description, usage, flags, examples) with the one-line summary its parent
// lists. It reads the tree through the binary so it needs nothing exported
// from internal/cli.
//
//	go run ./manpages -bin dist/rdsgate -out dist/man -version v1.2.3
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

func main() {
	bin := flag.String("bin", "rdsgate", "the rdsgate binary to read the command tree from")
	out := flag.String("out", "man", "directory to write rdsgate*.1 into")
	version := flag.String("version", "", "version for the page footer")
	date := flag.String("date", "", "date for the page footer (YYYY-MM-DD)")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	n, err := walk(*bin, nil, "", func(path []string, short, help string) error {
		name := strings.Join(append([]string{"rdsgate"}, path...), "-")
		page := render(name, strings.Join(append([]string{"rdsgate"}, path...), " "), short, help, *version, *date)
		return os.WriteFile(filepath.Join(*out, name+".1"), []byte(page), 0o644)
	})
	if err != nil {
		log.Fatalf("manpages: %v", err)
	}
	fmt.Fprintf(os.Stderr, "manpages: %d pages in %s\n", n, *out)
}

// commandLine is one line of an "Available Commands:" block.
var commandLine = regexp.MustCompile(`^  ([a-z][a-z0-9-]*)\s+(.*)$`)

// walk calls page for the command at path and each of its subcommands,
// depth first, and returns how many pages it made.
func walk(bin string, path []string, short string, page func(path []string, short, help string) error) (int, error) {
	cmd := exec.Command(bin, append(append([]string{}, path...), "--help")...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "HOME="+os.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	help, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%s %s --help: %v: %s", bin, strings.Join(path, " "), err, stderr.String())
	}
	if err := page(path, short, string(help)); err != nil {
		return 0, err
	}
	n := 1
	for _, sub := range subcommands(string(help)) {
		if sub[0] == "help" {
			continue
		}
		m, err := walk(bin, append(append([]string{}, path...), sub[0]), sub[1], page)
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// subcommands are the [name, summary] pairs of help's command lists
// (cobra's "Available Commands:" and any group heading ending in ":"
// followed by indented command lines, before the flags).
func subcommands(help string) [][2]string {
	var out [][2]string
	in := false
	for _, line := range strings.Split(help, "\n") {
		switch {
		case strings.HasSuffix(line, "Commands:"):
			in = true
		case in && commandLine.MatchString(line):
			m := commandLine.FindStringSubmatch(line)
			out = append(out, [2]string{m[1], m[2]})
		case strings.TrimSpace(line) == "" || !strings.HasPrefix(line, " "):
			in = false
		}
	}
	return out
}

// render is a roff man page: NAME from the summary, the rest the --help
// text kept as it is laid out (no fill), with the headings it has made
// sections.
func render(name, command, short, help, version, date string) string {
	if short == "" {
		short = "secure, keyless, audited access to RDS and Aurora databases in private AWS networks"
	}
	var b strings.Builder
	fmt.Fprintf(&b, ".TH %s 1 %q %q \"rdsgate manual\"\n", strings.ToUpper(name), date, "rdsgate "+version)
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", name, escape(short))
	b.WriteString(".SH DESCRIPTION\n.nf\n")
	for _, line := range strings.Split(strings.TrimRight(help, "\n"), "\n") {
		if isHeading(line) {
			fmt.Fprintf(&b, ".fi\n.SH %s\n.nf\n", strings.ToUpper(strings.TrimSuffix(line, ":")))
			continue
		}
		b.WriteString(escape(line) + "\n")
	}
	b.WriteString(".fi\n")
	fmt.Fprintf(&b, ".SH SEE ALSO\n%s\n", escape("rdsgate(1); the full reference: https://github.com/rdsgate/rdsgate/tree/main/docs/commands ("+strings.ReplaceAll(command, " ", "_")+".md)"))
	return b.String()
}

// isHeading: cobra's section lines ("Usage:", "Flags:", "Examples:").
func isHeading(line string) bool {
	return line != "" && !strings.HasPrefix(line, " ") && strings.HasSuffix(line, ":") && !strings.Contains(line, ". ") && len(line) < 40
}

// escape keeps a line literal in roff: backslashes, and a leading dot or
// quote that would make it a request.
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
