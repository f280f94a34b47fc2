package ssh

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// maxIncludeDepth bounds nested Include directives, as OpenSSH does.
const maxIncludeDepth = 16

// SSHConfig is the subset of an OpenSSH client configuration
// (~/.ssh/config) that rdsgate honours for its hops: HostName, User, Port,
// IdentityFile and ProxyJump, under Host blocks with * and ? patterns and
// !negations, and Include. As in OpenSSH the first value obtained for a
// keyword wins, except IdentityFile, whose values accumulate. Match blocks
// are not evaluated: their keywords are ignored (except "Match all"), and
// Warnings says so.
type SSHConfig struct {
	params []configParam
	// Warnings lists what was ignored (Match criteria), with file:line.
	Warnings []string
}

// configParam is one keyword line and the Host conditions it is under (all
// must match: an Include inside a Host block nests).
type configParam struct {
	key   string // lower case
	args  []string
	where string // file:line
	conds []hostCond
}

// hostCond is one Host line's patterns, or a Match line (never, or always
// for "Match all").
type hostCond struct {
	patterns []string // lower case; "!" prefix negates
	match    bool     // a Match line
	matchAll bool
}

// HostConfig is what an SSHConfig says about one host alias.
type HostConfig struct {
	HostName      string   // with %h expanded; "" when not set
	User          string   // "" when not set
	Port          int      // 0 when not set
	IdentityFiles []string // as written (expand with ExpandPath)
	ProxyJump     string   // "" when not set; "none" disables
}

// ParseSSHConfig parses an ssh_config text. name is used in errors
// ("file:line"). Include lines are an error here (there is no file system
// to read); LoadSSHConfig resolves them.
func ParseSSHConfig(data []byte, name string) (*SSHConfig, error) {
	c := &SSHConfig{}
	err := c.parse(data, name, nil, 0, nil)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// LoadSSHConfig reads an ssh_config file and the files it includes;
// relative Include paths are taken from ~/.ssh (home is the user's home
// directory). A missing file is not an error: it yields an empty config.
func LoadSSHConfig(path, home string) (*SSHConfig, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &SSHConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	c := &SSHConfig{}
	include := func(pattern string) ([]string, error) {
		p := ExpandPath(pattern, home, nil)
		if !filepath.IsAbs(p) {
			p = filepath.Join(home, ".ssh", p)
		}
		files, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("bad Include pattern %q: %w", pattern, err)
		}
		sort.Strings(files)
		return files, nil
	}
	if err := c.parse(data, path, nil, 0, include); err != nil {
		return nil, err
	}
	return c, nil
}

// parse appends data's parameters under the conditions outer.
func (c *SSHConfig) parse(data []byte, name string, outer []hostCond, depth int, include func(string) ([]string, error)) error {
	conds := outer
	for i, raw := range strings.Split(string(data), "\n") {
		where := name + ":" + strconv.Itoa(i+1)
		key, args, err := splitConfigLine(raw)
		if err != nil {
			return fmt.Errorf("ssh config %s: %w", where, err)
		}
		if key == "" {
			continue
		}
		switch key {
		case "host":
			if len(args) == 0 {
				return fmt.Errorf("ssh config %s: Host needs at least one pattern", where)
			}
			pats := make([]string, len(args))
			for j, a := range args {
				pats[j] = strings.ToLower(a)
			}
			conds = append(outer[:len(outer):len(outer)], hostCond{patterns: pats})
		case "match":
			all := len(args) == 1 && strings.EqualFold(args[0], "all")
			if !all {
				c.Warnings = append(c.Warnings, fmt.Sprintf("%s: Match blocks are not evaluated by rdsgate; their settings are ignored", where))
			}
			conds = append(outer[:len(outer):len(outer)], hostCond{match: true, matchAll: all})
		case "include":
			if include == nil {
				return fmt.Errorf("ssh config %s: Include is not supported here", where)
			}
			if depth >= maxIncludeDepth {
				return fmt.Errorf("ssh config %s: Include nested more than %d deep", where, maxIncludeDepth)
			}
			for _, pat := range args {
				files, err := include(pat)
				if err != nil {
					return fmt.Errorf("ssh config %s: %w", where, err)
				}
				for _, f := range files {
					data, err := os.ReadFile(f)
					if err != nil {
						return fmt.Errorf("ssh config %s: Include: %w", where, err)
					}
					if err := c.parse(data, f, conds, depth+1, include); err != nil {
						return err
					}
				}
			}
		default:
			if len(args) == 0 {
				return fmt.Errorf("ssh config %s: %s needs a value", where, key)
			}
			c.params = append(c.params, configParam{key: key, args: args, where: where, conds: conds})
		}
	}
	return nil
}

// splitConfigLine splits one line into its lower-cased keyword and
// arguments: "Keyword arg...", "Keyword=arg", double-quoted arguments, and
// comments from a "#" that begins a token.
func splitConfigLine(line string) (key string, args []string, err error) {
	line = strings.TrimRight(line, "\r")
	s := strings.TrimLeft(line, " \t")
	if s == "" || s[0] == '#' {
		return "", nil, nil
	}
	end := strings.IndexAny(s, " \t=")
	if end < 0 {
		end = len(s)
	}
	key = strings.ToLower(s[:end])
	if key == "" {
		return "", nil, errors.New("line starts with '='")
	}
	rest := strings.TrimLeft(s[end:], " \t")
	if strings.HasPrefix(rest, "=") {
		rest = strings.TrimLeft(rest[1:], " \t")
	}
	for rest != "" {
		if rest[0] == '#' {
			break
		}
		var arg string
		if rest[0] == '"' {
			j := strings.IndexByte(rest[1:], '"')
			if j < 0 {
				return "", nil, errors.New("unterminated quote")
			}
			arg, rest = rest[1:1+j], rest[2+j:]
			if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
				return "", nil, errors.New("text right after a closing quote")
			}
		} else {
			j := strings.IndexAny(rest, " \t")
			if j < 0 {
				j = len(rest)
			}
			arg, rest = rest[:j], rest[j:]
			if strings.Contains(arg, `"`) {
				return "", nil, errors.New("quote inside an argument")
			}
		}
		args = append(args, arg)
		rest = strings.TrimLeft(rest, " \t")
	}
	return key, args, nil
}

// matches reports whether host (lower case) satisfies every condition.
func matches(conds []hostCond, host string) bool {
	for _, c := range conds {
		if c.match {
			if !c.matchAll {
				return false
			}
			continue
		}
		ok := false
		for _, p := range c.patterns {
			if neg, found := strings.CutPrefix(p, "!"); found {
				if matchPattern(neg, host) {
					ok = false
					break
				}
				continue
			}
			if matchPattern(p, host) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchPattern matches s against an ssh_config pattern with * (any run)
// and ? (one character), without backtracking blow-up.
func matchPattern(pat, s string) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		switch {
		case p < len(pat) && (pat[p] == '?' || pat[p] == s[i]):
			p++
			i++
		case p < len(pat) && pat[p] == '*':
			starP, starI = p, i
			p++
		case starP >= 0:
			starI++
			p, i = starP+1, starI
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}

// Lookup returns the settings for alias (the host as the user wrote it).
// A nil SSHConfig yields an empty HostConfig.
func (c *SSHConfig) Lookup(alias string) (HostConfig, error) {
	var hc HostConfig
	if c == nil {
		return hc, nil
	}
	host := strings.ToLower(alias)
	seen := map[string]bool{}
	for _, p := range c.params {
		if !matches(p.conds, host) {
			continue
		}
		if p.key == "identityfile" {
			hc.IdentityFiles = append(hc.IdentityFiles, p.args[0])
			continue
		}
		if seen[p.key] {
			continue
		}
		switch p.key {
		case "hostname":
			hc.HostName = expandHostName(p.args[0], alias)
		case "user":
			hc.User = p.args[0]
		case "port":
			n, err := strconv.Atoi(p.args[0])
			if err != nil || n < 1 || n > 65535 {
				return HostConfig{}, fmt.Errorf("ssh config %s: bad Port %q", p.where, p.args[0])
			}
			hc.Port = n
		case "proxyjump":
			hc.ProxyJump = p.args[0]
		default:
			continue
		}
		seen[p.key] = true
	}
	return hc, nil
}

// expandHostName expands %h (the alias) and %% in a HostName value.
func expandHostName(v, alias string) string {
	if !strings.Contains(v, "%") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+1 < len(v) {
			switch v[i+1] {
			case 'h':
				b.WriteString(alias)
				i++
				continue
			case '%':
				b.WriteByte('%')
				i++
				continue
			}
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// ExpandPath expands a leading ~ (home) and the tokens %d (home), %% and
// those in vars (e.g. 'h' host, 'r' remote user, 'u' local user) in an
// IdentityFile-like path.
func ExpandPath(p, home string, vars map[byte]string) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		p = filepath.Join(home, p[2:])
	}
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+1 < len(p) {
			c := p[i+1]
			if v, ok := vars[c]; ok {
				b.WriteString(v)
				i++
				continue
			}
			switch c {
			case 'd':
				b.WriteString(home)
				i++
				continue
			case '%':
				b.WriteByte('%')
				i++
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}
