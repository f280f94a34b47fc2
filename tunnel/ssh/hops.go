package ssh

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/rdsgate/rdsgate/setting"
)

// DefaultPort is the SSH port used when neither the chain nor ssh_config
// gives one.
const DefaultPort = 22

// maxHops bounds a chain, including jumps added by ProxyJump.
const maxHops = 8

// HopSpec is one element of a chain as written: [USER@]HOST[:PORT].
type HopSpec struct {
	User string // "" when not written
	Host string // a name, an IP address, or an ssh_config alias
	Port int    // 0 when not written
}

func (s HopSpec) String() string {
	h := s.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if s.User != "" {
		h = s.User + "@" + h
	}
	if s.Port != 0 {
		h += ":" + strconv.Itoa(s.Port)
	}
	return h
}

// ParseChain parses a jump chain: comma-separated [USER@]HOST[:PORT]
// elements, the first reached directly, each next one through the one
// before, and the last one dialling the database ("a@bastion1,b@bastion2").
// IPv6 addresses with a port are written in brackets ("[::1]:2222").
func ParseChain(chain string) ([]HopSpec, error) {
	chain = strings.TrimSpace(chain)
	if chain == "" {
		return nil, errors.New("empty ssh chain: want USER@HOST[:PORT], or several separated by commas")
	}
	var out []HopSpec
	for part := range strings.SplitSeq(chain, ",") {
		s, err := parseHop(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("ssh chain %q: %w", chain, err)
		}
		out = append(out, s)
	}
	if len(out) > maxHops {
		return nil, fmt.Errorf("ssh chain %q: more than %d hops", chain, maxHops)
	}
	return out, nil
}

func parseHop(s string) (HopSpec, error) {
	var h HopSpec
	if s == "" {
		return h, errors.New("empty element (two commas in a row?)")
	}
	if strings.ContainsAny(s, " \t\r\n/") {
		return h, fmt.Errorf("bad element %q: want USER@HOST[:PORT]", s)
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		h.User, s = s[:i], s[i+1:]
		if h.User == "" {
			return h, errors.New("empty user before '@'")
		}
	}
	var port string
	switch {
	case strings.HasPrefix(s, "["):
		j := strings.IndexByte(s, ']')
		if j < 0 {
			return h, fmt.Errorf("bad host %q: missing ']'", s)
		}
		h.Host, port = s[1:j], s[j+1:]
		if port != "" {
			if port[0] != ':' {
				return h, fmt.Errorf("bad host %q: want [HOST]:PORT", s)
			}
			port = port[1:]
			if port == "" {
				return h, fmt.Errorf("bad host %q: empty port", s)
			}
		}
	case strings.Count(s, ":") == 1:
		h.Host, port, _ = strings.Cut(s, ":")
		if port == "" {
			return h, fmt.Errorf("bad host %q: empty port", s)
		}
	default:
		h.Host = s // a name, or an IPv6 address without port
	}
	if h.Host == "" {
		return h, errors.New("empty host")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return h, fmt.Errorf("bad port %q", port)
		}
		h.Port = n
	}
	return h, nil
}

// Hop is one resolved SSH server on the way to the database.
type Hop struct {
	Alias         string   // the host as written (what ssh_config matched)
	User          string   // login user
	Host          string   // the host dialled (ssh_config HostName, or Alias)
	Port          int      // the port dialled
	IdentityFiles []string // from ssh_config, expanded
}

// Addr is "host:port" (brackets for IPv6).
func (h Hop) Addr() string { return net.JoinHostPort(h.Host, strconv.Itoa(h.Port)) }

// String is "user@host:port".
func (h Hop) String() string { return h.User + "@" + h.Addr() }

// ResolveChain applies cfg (which may be nil) to a parsed chain: HostName,
// User, Port and IdentityFile for each hop, and the first hop's ProxyJump
// (recursively) put in front of it, as `ssh -J` does. Values written in the
// chain win over ssh_config; localUser is the last fallback for the user.
//
// notes, if not nil, receives what the config lookup skipped, with
// file:line: for a debug log, or a warning when important.
func ResolveChain(specs []HopSpec, cfg *SSHConfig, localUser, home string, notes func(host, note string, important bool)) ([]Hop, error) {
	return resolveChain(specs, cfg, localUser, home, notes, 0)
}

// configKeyName spells a keyword as ssh_config(5) does.
func configKeyName(k string) string {
	switch k {
	case "hostname":
		return "HostName"
	case "user":
		return "User"
	case "port":
		return "Port"
	case "proxyjump":
		return "ProxyJump"
	case "proxycommand":
		return "ProxyCommand"
	case "identityfile":
		return "IdentityFile"
	}
	return k
}

func resolveChain(specs []HopSpec, cfg *SSHConfig, localUser, home string, notes func(host, note string, important bool), depth int) ([]Hop, error) {
	var out []Hop
	for i, s := range specs {
		hc, err := cfg.Lookup(Query{Host: s.Host, User: s.User, Port: s.Port, LocalUser: localUser})
		if err != nil {
			return nil, err
		}
		if notes != nil {
			for _, n := range hc.Notes {
				notes(s.Host, n, false)
			}
		}
		for _, u := range hc.Undecided {
			switch {
			case u.Key == "identityfile":
				if notes != nil {
					notes(s.Host, setting.Textf("%s: IdentityFile %s not used: it is under %s, which rdsgate does not run; pass it with %s or load it into the agent if it is needed",
						u.Where, u.Value, u.Match, setting.SSHIdentity).String(), true)
				}
			case (u.Key == "proxyjump" || u.Key == "proxycommand") && i > 0:
				// Reached through the hop before it: the chain decides.
			default:
				return nil, setting.Errorf("ssh hop %s: the ssh config sets %s %s at %s under %s, and rdsgate never runs commands from ssh_config, so it cannot tell whether ssh would use that value; "+
					"move the setting to a Host block, or write what you mean in %s (USER@HOST:PORT, or a chain a@jump,b@host)",
					s, configKeyName(u.Key), u.Value, u.Where, u.Match, setting.SSH)
			}
		}
		if i == 0 && hc.ProxyCommand != "" {
			return nil, setting.Errorf("ssh hop %s: the ssh config gives it ProxyCommand %q; rdsgate does not run commands from ssh_config. "+
				"Use ProxyJump (or a chain in %s) for jump hosts, or %s for Session Manager; "+
				"or write \"ProxyCommand none\" in a Host block for it above the one that sets it", s, hc.ProxyCommand, setting.SSH, setting.Via.Is("ssm"))
		}
		h := Hop{Alias: s.Host, User: first(hc.User, localUser), Host: first(hc.HostName, lowerName(s.Host)), Port: hc.Port}
		if h.User == "" {
			return nil, fmt.Errorf("ssh hop %s: no user: write USER@%s", s, s.Host)
		}
		if h.Port == 0 {
			h.Port = DefaultPort
		}
		vars := map[byte]string{'h': h.Host, 'r': h.User, 'u': localUser, 'p': strconv.Itoa(h.Port)}
		for _, f := range hc.IdentityFiles {
			h.IdentityFiles = append(h.IdentityFiles, ExpandPath(f, home, vars))
		}
		if i == 0 && hc.ProxyJump != "" && !strings.EqualFold(hc.ProxyJump, "none") {
			if depth >= maxHops {
				return nil, fmt.Errorf("ssh hop %s: ProxyJump loop in ssh config", s)
			}
			jumps, err := ParseChain(hc.ProxyJump)
			if err != nil {
				return nil, fmt.Errorf("ssh config ProxyJump for %s: %w", s.Host, err)
			}
			before, err := resolveChain(jumps, cfg, localUser, home, notes, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, before...)
		}
		out = append(out, h)
	}
	if len(out) > maxHops {
		return nil, fmt.Errorf("ssh chain has more than %d hops after ProxyJump", maxHops)
	}
	return out, nil
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
