package ssh

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// maxIncludeDepth bounds nested Include directives, as OpenSSH does.
const maxIncludeDepth = 16

// SSHConfig is the part of an OpenSSH client configuration (~/.ssh/config,
// ssh_config(5)) that rdsgate honours for its hops: HostName, User, Port,
// IdentityFile and ProxyJump (and ProxyCommand, which it refuses to run),
// under Host and Match blocks, with Include. It is evaluated as ssh does:
// top to bottom, the first value obtained for a keyword wins (values given
// on the command line, here the chain, come first), IdentityFile values
// accumulate, and each Match line is decided when it is reached, with the
// values obtained so far.
//
// Match criteria: all, host, originalhost, user, localuser, canonical and
// final (with the final pass that "Match final" or CanonicalizeHostname
// yes/always asks for; rdsgate does not look names up in CanonicalDomains,
// so names are used as written). "Match exec" is never run: rdsgate does
// not execute commands from ssh_config. A Match line whose outcome depends
// on an exec (or on localnetwork, tagged, version, sessiontype, command,
// which it does not evaluate either) is not applied: with a debug note if
// its block would set nothing rdsgate uses, and listed in
// HostConfig.Undecided if it would set one of the honoured keywords (a
// value not already obtained), for the caller to refuse rather than guess
// and connect somewhere other than ssh would.
type SSHConfig struct {
	entries []configEntry
	// Warnings lists parse-time remarks, with file:line.
	Warnings []string
}

// entry kinds
const (
	entryParam = iota
	entryHost
	entryMatch
)

// configEntry is one line that matters: a Host or Match line, which opens
// a block, or a keyword line.
type configEntry struct {
	kind  int
	where string // file:line
	// parent is, for a keyword, the block it belongs to; for a Host or
	// Match line, the block the Include that read it is in; -1 for none.
	parent int

	patterns []string         // Host
	criteria []matchCriterion // Match

	key  string // keyword, lower case
	args []string
}

// matchCriterion is one "[!]attribute [arg]" of a Match line.
type matchCriterion struct {
	negate bool
	attr   string // lower case
	arg    string // comma-separated patterns; "" for all/canonical/final
}

// HostConfig is what an SSHConfig gives for one host.
type HostConfig struct {
	HostName      string   // with %h expanded, lower case unless an address; "" when not set
	User          string   // the query's user, else the config's; "" when neither
	Port          int      // the query's port, else the config's; 0 when neither
	IdentityFiles []string // as written (expand with ExpandPath)
	ProxyJump     string   // "" when not set or "none"
	ProxyCommand  string   // "" when not set or "none" (rdsgate refuses to run it)
	// Notes says what was skipped (Match exec not run, etc.), with
	// file:line, for a debug log.
	Notes []string
	// Undecided lists the values of honoured keywords that ssh might use,
	// or not, depending on a Match criterion rdsgate does not evaluate
	// (exec): their block's outcome is unknown and they are not applied.
	// The caller decides whether that matters for the hop (ResolveChain
	// refuses for HostName, User, Port and the first hop's ProxyJump and
	// ProxyCommand, and warns for IdentityFile).
	Undecided []Undecided
}

// Undecided is a keyword line in a Match block whose outcome rdsgate
// cannot know.
type Undecided struct {
	Key   string // lower case
	Value string
	Where string // file:line of the keyword
	Match string // the criterion, "Match exec at file:line"
}

// Query is what Lookup resolves: the host as written and what the command
// line (the chain) already fixed.
type Query struct {
	Host      string // as written (an alias or a name)
	User      string // from the chain; "" when not written
	Port      int    // from the chain; 0 when not written
	LocalUser string // the local login name, for Match user/localuser
}

// ParseSSHConfig parses an ssh_config text. name is used in errors
// ("file:line"). Include lines are an error here (there is no file system
// to read); LoadSSHConfig resolves them.
func ParseSSHConfig(data []byte, name string) (*SSHConfig, error) {
	c := &SSHConfig{}
	err := c.parse(data, name, -1, 0, nil)
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
	if err := c.parse(data, path, -1, 0, include); err != nil {
		return nil, err
	}
	return c, nil
}

// parse appends data's entries; outer is the block of the Include that
// reads it (-1: none).
func (c *SSHConfig) parse(data []byte, name string, outer, depth int, include func(string) ([]string, error)) error {
	block := outer
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
			block = len(c.entries)
			c.entries = append(c.entries, configEntry{kind: entryHost, where: where, parent: outer, patterns: args})
		case "match":
			crit, err := parseMatch(args)
			if err != nil {
				return fmt.Errorf("ssh config %s: %w", where, err)
			}
			block = len(c.entries)
			c.entries = append(c.entries, configEntry{kind: entryMatch, where: where, parent: outer, criteria: crit})
		case "include":
			if include == nil {
				return fmt.Errorf("ssh config %s: Include is not supported here", where)
			}
			if depth >= maxIncludeDepth {
				return fmt.Errorf("ssh config %s: Include nested more than %d deep", where, maxIncludeDepth)
			}
			if len(args) == 0 {
				return fmt.Errorf("ssh config %s: Include needs a file", where)
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
					if err := c.parse(data, f, block, depth+1, include); err != nil {
						return err
					}
				}
			}
		default:
			if len(args) == 0 {
				return fmt.Errorf("ssh config %s: %s needs a value", where, key)
			}
			c.entries = append(c.entries, configEntry{kind: entryParam, where: where, parent: block, key: key, args: args})
		}
	}
	return nil
}

// parseMatch parses the criteria of a Match line as OpenSSH 9 does: "all"
// alone (or after canonical/final), the others with one pattern-list
// argument, each optionally negated with "!".
func parseMatch(args []string) ([]matchCriterion, error) {
	if len(args) == 0 {
		return nil, errors.New("a Match line needs criteria (e.g. \"Match host NAME\" or \"Match all\")")
	}
	var out []matchCriterion
	for i := 0; i < len(args); i++ {
		m := matchCriterion{attr: strings.ToLower(args[i])}
		if rest, ok := strings.CutPrefix(m.attr, "!"); ok {
			m.negate, m.attr = true, rest
		}
		switch m.attr {
		case "all":
			if m.negate || i != len(args)-1 {
				return nil, errors.New(`"all" must be the last Match criterion, not negated`)
			}
			for _, p := range out {
				if p.attr != "canonical" && p.attr != "final" {
					return nil, errors.New(`"all" can only follow canonical or final`)
				}
			}
		case "canonical", "final":
		case "host", "originalhost", "user", "localuser", "exec",
			"localnetwork", "tagged", "version", "sessiontype", "command":
			if i+1 >= len(args) || args[i+1] == "" {
				return nil, fmt.Errorf("the Match criterion %s needs an argument", m.attr)
			}
			i++
			m.arg = args[i]
		default:
			return nil, fmt.Errorf("unsupported Match attribute %q", args[i])
		}
		out = append(out, m)
	}
	return out, nil
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

// hostLineMatches applies a Host line's patterns to host, case-sensitively
// as ssh does: some pattern matches and no negated one does.
func hostLineMatches(patterns []string, host string) bool {
	ok := false
	for _, p := range patterns {
		if neg, found := strings.CutPrefix(p, "!"); found {
			if matchPattern(neg, host) {
				return false
			}
			continue
		}
		ok = ok || matchPattern(p, host)
	}
	return ok
}

// matchPatternList applies a comma-separated pattern list (Match
// arguments), as OpenSSH's match_pattern_list: a negated match fails the
// list, else any positive match passes it. fold lower-cases both sides.
func matchPatternList(s, list string, fold bool) bool {
	if fold {
		s, list = strings.ToLower(s), strings.ToLower(list)
	}
	ok := false
	for p := range strings.SplitSeq(list, ",") {
		if neg, found := strings.CutPrefix(p, "!"); found {
			if matchPattern(neg, s) {
				return false
			}
			continue
		}
		ok = ok || matchPattern(p, s)
	}
	return ok
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

// tri is a three-valued truth: a Match that depends on a command rdsgate
// does not run is neither true nor false.
type tri int8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

func and(a, b tri) tri {
	switch {
	case a == triFalse || b == triFalse:
		return triFalse
	case a == triUnknown || b == triUnknown:
		return triUnknown
	}
	return triTrue
}

// honoured are the keywords rdsgate takes from ssh_config.
var honoured = map[string]bool{
	"hostname": true, "user": true, "port": true, "identityfile": true, "proxyjump": true, "proxycommand": true,
}

// lookup is the state of one Lookup: the values obtained so far.
type lookup struct {
	q        Query
	hc       HostConfig
	seen     map[string]bool // keywords obtained (first value wins)
	final    bool            // in the final pass
	host     string          // what Host lines match in this pass
	want     bool            // a Match final asked for a final pass
	canonAsk string          // CanonicalizeHostname obtained
	domains  bool            // CanonicalDomains obtained
}

// Lookup resolves q as ssh would for the hop: it returns HostName, User,
// Port (the query's own values win), IdentityFile, ProxyJump and
// ProxyCommand. A nil SSHConfig yields the query's values.
func (c *SSHConfig) Lookup(q Query) (HostConfig, error) {
	l := &lookup{q: q, seen: map[string]bool{}, host: q.Host}
	l.hc.User, l.hc.Port = q.User, q.Port
	if q.User != "" {
		l.seen["user"] = true
	}
	if q.Port != 0 {
		l.seen["port"] = true
	}
	if c == nil {
		return l.hc, nil
	}
	if err := c.pass(l); err != nil {
		return HostConfig{}, err
	}
	if l.want || l.canonAsk == "yes" || l.canonAsk == "always" {
		// ssh re-reads the configuration for the host name it settled on
		// (canonicalised: rdsgate does no CanonicalDomains lookups).
		if l.domains {
			l.note("CanonicalDomains is set: rdsgate does not canonicalise host names; %q is used as written", l.resolvedHost())
		}
		l.final = true
		l.host = l.resolvedHost()
		if err := c.pass(l); err != nil {
			return HostConfig{}, err
		}
	}
	if strings.EqualFold(l.hc.ProxyJump, "none") {
		l.hc.ProxyJump = ""
	}
	if strings.EqualFold(l.hc.ProxyCommand, "none") {
		l.hc.ProxyCommand = ""
	}
	if l.hc.HostName != "" {
		l.hc.HostName = lowerName(l.hc.HostName)
	}
	return l.hc, nil
}

func (l *lookup) seenUndecided(where string) bool {
	for _, u := range l.hc.Undecided {
		if u.Where == where {
			return true
		}
	}
	return false
}

func (l *lookup) note(format string, args ...any) {
	l.hc.Notes = append(l.hc.Notes, fmt.Sprintf(format, args...))
}

// resolvedHost is the host name obtained so far (HostName with %h
// expanded, else the host as written), lower case unless an address, as
// ssh's main() settles it after the first pass.
func (l *lookup) resolvedHost() string {
	if l.hc.HostName != "" {
		return lowerName(l.hc.HostName)
	}
	return lowerName(l.q.Host)
}

func lowerName(h string) string {
	if net.ParseIP(h) != nil {
		return h
	}
	return strings.ToLower(h)
}

// pass evaluates the entries once, top to bottom.
func (c *SSHConfig) pass(l *lookup) error {
	active := make([]tri, len(c.entries))
	state := func(block int) tri {
		if block < 0 {
			return triTrue
		}
		return active[block]
	}
	for i := range c.entries {
		e := &c.entries[i]
		switch e.kind {
		case entryHost:
			active[i] = triFalse
			if hostLineMatches(e.patterns, l.host) {
				active[i] = state(e.parent)
			}
		case entryMatch:
			r := l.evalMatch(e)
			active[i] = and(state(e.parent), r)
		default:
			switch state(e.parent) {
			case triFalse:
				continue
			case triUnknown:
				if honoured[e.key] && (e.key == "identityfile" || !l.seen[e.key]) && !l.seenUndecided(e.where) {
					l.hc.Undecided = append(l.hc.Undecided, Undecided{Key: e.key, Value: strings.Join(e.args, " "), Where: e.where, Match: c.undecided(e.parent)})
				}
				continue
			}
			if err := l.apply(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// undecided names the Match line of block (or the one it is nested in)
// that made it undecidable.
func (c *SSHConfig) undecided(block int) string {
	for block >= 0 {
		e := &c.entries[block]
		if e.kind == entryMatch {
			for _, m := range e.criteria {
				if !decidable(m.attr) {
					return "Match " + m.attr + " at " + e.where
				}
			}
		}
		block = e.parent
	}
	return "?"
}

func decidable(attr string) bool {
	switch attr {
	case "exec", "localnetwork", "tagged", "version", "sessiontype", "command":
		return false
	}
	return true
}

// evalMatch decides a Match line with the values obtained so far. As in
// OpenSSH every criterion is looked at (a "final" asks for the final pass
// even on a line that does not match), and an exec is skipped once an
// earlier criterion has failed.
func (l *lookup) evalMatch(e *configEntry) tri {
	result := triTrue
	for _, m := range e.criteria {
		var r bool
		switch m.attr {
		case "all":
			continue
		case "canonical", "final":
			if m.attr == "final" && !m.negate {
				l.want = true
			}
			r = l.final
		case "host":
			r = matchPatternList(l.resolvedHostForMatch(), m.arg, true)
		case "originalhost":
			r = matchPatternList(l.q.Host, m.arg, true)
		case "user":
			u := l.hc.User
			if u == "" {
				u = l.q.LocalUser
			}
			r = matchPatternList(u, m.arg, false)
		case "localuser":
			r = matchPatternList(l.q.LocalUser, m.arg, false)
		default: // exec and what rdsgate does not evaluate
			if result == triFalse {
				l.note("%s: Match %s %q skipped: an earlier criterion did not match (as ssh skips it)", e.where, m.attr, m.arg)
				continue
			}
			l.note("%s: Match %s %q not evaluated (rdsgate never runs commands from ssh_config); its block is used only if it sets nothing rdsgate uses", e.where, m.attr, m.arg)
			result = and(result, triUnknown)
			continue
		}
		if r == m.negate {
			result = triFalse
		}
	}
	return result
}

// resolvedHostForMatch is what "Match host" sees: in the first pass the
// HostName obtained so far (%h expanded) or the host as written; in the
// final pass the settled name.
func (l *lookup) resolvedHostForMatch() string {
	if l.final {
		return l.host
	}
	if l.hc.HostName != "" {
		return l.hc.HostName
	}
	return l.q.Host
}

// apply records a keyword line of an active block.
func (l *lookup) apply(e *configEntry) error {
	switch e.key {
	case "identityfile":
		l.hc.IdentityFiles = append(l.hc.IdentityFiles, e.args[0])
		return nil
	case "canonicalizehostname":
		if !l.seen[e.key] {
			l.canonAsk = strings.ToLower(e.args[0])
		}
	case "canonicaldomains":
		l.domains = true
	}
	if l.seen[e.key] {
		return nil
	}
	switch e.key {
	case "hostname":
		l.hc.HostName = expandHostName(e.args[0], l.q.Host)
	case "user":
		l.hc.User = e.args[0]
	case "port":
		n, err := strconv.Atoi(e.args[0])
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("ssh config %s: bad Port %q", e.where, e.args[0])
		}
		l.hc.Port = n
	case "proxyjump", "proxycommand":
		// One of the two: the first obtained wins, the other is ignored.
		if l.seen["proxyjump"] || l.seen["proxycommand"] {
			return nil
		}
		if e.key == "proxyjump" {
			l.hc.ProxyJump = e.args[0]
		} else {
			l.hc.ProxyCommand = strings.Join(e.args, " ")
		}
	}
	l.seen[e.key] = true
	return nil
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
