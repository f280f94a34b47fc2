package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rdsgate/rdsgate/suggest"
)

// errUnknown, returned by a mapping callback, reports the key as unknown.
var errUnknown = errors.New("unknown key")

// The keys each mapping knows, for "did you mean" on an unknown one; a test
// checks them against the parser.
var (
	topKeys    = []string{"defaults", "targets"}
	commonKeys = []string{"region", "profile", "user", "database", "ca_bundle", "route"}
	targetKeys = append([]string{"identifier", "endpoint", "port", "local_port", "engine", "auth",
		"password_secret", "password_env", "password_file", "ssl_negotiation"}, commonKeys...)
	routeKeys = []string{"via", "address", "bastion", "bastion_tag", "ssh", "ssh_identity", "ssh_known_hosts", "ssh_eic", "ssm_sessions"}
)

// parser walks YAML nodes so every error can name the file and line.
type parser struct{ path string }

func (p parser) errAt(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d:%d: %s", p.path, n.Line, n.Column, fmt.Sprintf(format, args...))
}

// mapping calls fn for each key of n, which must be a mapping; what names n
// in messages, and keys are the keys fn knows (nil when any name is a key).
// Duplicate keys are refused.
func (p parser) mapping(n *yaml.Node, what string, keys []string, fn func(key string, v *yaml.Node) error) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return p.errAt(n, "%s must be a mapping of keys to values", what)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return p.errAt(k, "keys in %s must be plain strings", what)
		}
		if seen[k.Value] {
			return p.errAt(k, "key %q appears twice in %s", k.Value, what)
		}
		seen[k.Value] = true
		if err := fn(k.Value, v); err != nil {
			if errors.Is(err, errUnknown) {
				return p.errAt(k, "unknown key %q in %s%s", k.Value, what, unknownKeyHint(k.Value, keys))
			}
			return err
		}
	}
	return nil
}

// unknownKeyHint is what to say after "unknown key": the known key it is
// most likely a typo of, else the mapping it belongs in when that is a
// route beside a mapping that has one.
func unknownKeyHint(key string, keys []string) string {
	if k, ok := suggest.Closest(key, keys); ok {
		return fmt.Sprintf(": did you mean %s?", k)
	}
	if slices.Contains(keys, "route") && slices.Contains(routeKeys, key) {
		return fmt.Sprintf(": %s belongs under route", key)
	}
	return ""
}

// badValue is the error for s outside the fixed set valid, which what
// names ("a route"): the closest valid value when s is a plausible typo of
// one, else usage ("use direct, ssm or ssh"), the text it has always had.
func badValue(s, what string, valid []string, usage string) error {
	if v, ok := suggest.Closest(s, valid); ok {
		return fmt.Errorf("%q is not %s: did you mean %s? (%s)", s, what, v, orList(valid))
	}
	return fmt.Errorf("%q is not %s: %s", s, what, usage)
}

// orList spells words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

func (p parser) str(n *yaml.Node, key string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Tag == "!!map" || n.Tag == "!!seq" {
		return "", p.errAt(n, "%s must be a single value", key)
	}
	return n.Value, nil
}

func (p parser) port(n *yaml.Node, key string) (int, error) {
	s, err := p.str(n, key)
	if err != nil {
		return 0, err
	}
	port, err := parsePort(s)
	if err != nil {
		return 0, p.errAt(n, "%s: %v", key, err)
	}
	return port, nil
}

// sessions reads a count of Session Manager sessions: 1 to 16 (each one
// holds one of the account's concurrent sessions and a worker on the
// bastion).
func (p parser) sessions(n *yaml.Node, key string) (int, error) {
	s, err := p.str(n, key)
	if err != nil {
		return 0, err
	}
	k, err := strconv.Atoi(s)
	if err != nil || k < 1 || k > 16 {
		return 0, p.errAt(n, "%s: %q is not a number of sessions from 1 to 16", key, s)
	}
	return k, nil
}

func (p parser) boolean(n *yaml.Node, key string) (bool, error) {
	s, err := p.str(n, key)
	if err != nil {
		return false, err
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, p.errAt(n, "%s: %q is not true or false", key, s)
	}
	return b, nil
}

// set stores a string value after check (which may be nil).
func (p parser) set(n *yaml.Node, key string, dst *string, check func(string) error) error {
	s, err := p.str(n, key)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(s); err != nil {
			return p.errAt(n, "%s: %v", key, err)
		}
	}
	*dst = s
	return nil
}

// common parses the keys of defaults that a target has too; owner names the
// mapping ("defaults", `target "a"`) in messages.
func (p parser) common(key string, v *yaml.Node, owner string, region, profile, user, database, caBundle *string, route *Route) error {
	switch key {
	case "region":
		return p.set(v, key, region, checkRegion)
	case "profile":
		return p.set(v, key, profile, nil)
	case "user":
		return p.set(v, key, user, nonEmpty)
	case "database":
		return p.set(v, key, database, nonEmpty)
	case "ca_bundle":
		return p.set(v, key, caBundle, nonEmpty)
	case "route":
		return p.route(v, owner, route)
	}
	return errUnknown
}

func (p parser) defaults(n *yaml.Node, d *Defaults) error {
	return p.mapping(n, "defaults", commonKeys, func(key string, v *yaml.Node) error {
		return p.common(key, v, "defaults", &d.Region, &d.Profile, &d.User, &d.Database, &d.CABundle, &d.Route)
	})
}

func (p parser) target(n *yaml.Node, t *Target) error {
	what := fmt.Sprintf("target %q", t.Name)
	err := p.mapping(n, what, targetKeys, func(key string, v *yaml.Node) error {
		var err error
		switch key {
		case "identifier":
			return p.set(v, key, &t.Identifier, checkIdentifier)
		case "endpoint":
			return p.set(v, key, &t.Endpoint, checkHost)
		case "port":
			t.Port, err = p.port(v, key)
			return err
		case "local_port":
			t.LocalPort, err = p.port(v, key)
			return err
		case "engine":
			return p.set(v, key, &t.Engine, checkEngine)
		case "auth":
			return p.set(v, key, &t.Auth, checkAuth)
		case "password_secret":
			return p.set(v, key, &t.PasswordSecret, nonEmpty)
		case "password_env":
			return p.set(v, key, &t.PasswordEnv, checkEnvName)
		case "password_file":
			return p.set(v, key, &t.PasswordFile, nonEmpty)
		case "ssl_negotiation":
			return p.set(v, key, &t.SSLNegotiation, CheckSSLNegotiation)
		}
		return p.common(key, v, what, &t.Region, &t.Profile, &t.User, &t.Database, &t.CABundle, &t.Route)
	})
	if err != nil {
		return err
	}
	if err := t.CheckAuth(); err != nil {
		return p.errAt(n, "%s: %v", what, err)
	}
	return nil
}

// CheckAuth checks that the password keys fit auth: one source at most,
// and none with auth: iam. (auth: password with no source is left to the
// command, which may get one from a flag.)
func (t Target) CheckAuth() error {
	n := 0
	for _, s := range []string{t.PasswordSecret, t.PasswordEnv, t.PasswordFile} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return errors.New("set one of password_secret, password_env and password_file")
	}
	if n == 1 && t.Auth == "iam" {
		return errors.New("auth: iam takes no password: remove the password_* key, or say auth: password")
	}
	return nil
}

// SSLNegotiations lists the values CheckSSLNegotiation accepts, the
// default first.
func SSLNegotiations() []string { return []string{"postgres", "direct"} }

// CheckSSLNegotiation accepts libpq's sslnegotiation values. A near miss is
// refused with the value it most likely meant.
func CheckSSLNegotiation(s string) error {
	if slices.Contains(SSLNegotiations(), s) {
		return nil
	}
	return badValue(s, "an SSL negotiation", SSLNegotiations(),
		"use postgres (an SSLRequest first, the default) or direct (PostgreSQL 17+)")
}

var authMethods = []string{"iam", "password"}

func checkAuth(s string) error {
	if slices.Contains(authMethods, s) {
		return nil
	}
	return badValue(s, "an auth method", authMethods, "use iam or password")
}

func checkEnvName(s string) error {
	if s == "" || strings.ContainsAny(s, "= \t$") {
		return fmt.Errorf("%q is not an environment variable name (no $, =, spaces)", s)
	}
	return nil
}

func (p parser) route(n *yaml.Node, owner string, r *Route) error {
	err := p.mapping(n, "route of "+owner, routeKeys, func(key string, v *yaml.Node) error {
		var err error
		switch key {
		case "via":
			return p.set(v, key, &r.Via, CheckVia)
		case "address":
			return p.set(v, key, &r.Address, checkHostPort)
		case "bastion":
			return p.set(v, key, &r.Bastion, checkInstanceID)
		case "bastion_tag":
			return p.set(v, key, &r.BastionTag, CheckTagFilter)
		case "ssh":
			return p.set(v, key, &r.SSH, nonEmpty)
		case "ssh_identity":
			return p.set(v, key, &r.SSHIdentity, nonEmpty)
		case "ssh_known_hosts":
			return p.set(v, key, &r.SSHKnownHosts, nonEmpty)
		case "ssh_eic":
			r.SSHEIC, err = p.boolean(v, key)
			return err
		case "ssm_sessions":
			r.SSMSessions, err = p.sessions(v, key)
			return err
		}
		return errUnknown
	})
	if err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return p.errAt(n, "route: %v", err)
	}
	return nil
}

// Validate checks that the route's fields fit its kind.
func (r Route) Validate() error {
	switch r.Via {
	case "direct":
		if r.Bastion != "" || r.BastionTag != "" || r.SSH != "" {
			return errors.New("via direct takes only address")
		}
	case "ssm":
		if r.Bastion != "" && r.BastionTag != "" {
			return errors.New("set bastion or bastion_tag, not both")
		}
		if r.Address != "" || r.SSH != "" {
			return errors.New("via ssm takes bastion or bastion_tag")
		}
	case "ssh":
		if r.SSH == "" {
			return errors.New("via ssh needs ssh: USER@HOST[:PORT]")
		}
		if r.BastionTag != "" && r.Bastion != "" {
			return errors.New("set bastion or bastion_tag, not both")
		}
	case "":
	}
	return nil
}

// RouteKinds lists the values CheckVia accepts, the default first.
func RouteKinds() []string { return []string{"direct", "ssm", "ssh"} }

// CheckVia accepts the route kinds. A near miss is refused with the kind
// it most likely meant: "sssm" is not a route: did you mean ssm? (...).
func CheckVia(s string) error {
	if slices.Contains(RouteKinds(), s) {
		return nil
	}
	return badValue(s, "a route", RouteKinds(), "use direct, ssm or ssh")
}

// CheckTagFilter accepts KEY=VALUE.
func CheckTagFilter(s string) error {
	k, _, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not a tag filter: use KEY=VALUE, e.g. Name=db-bastion", s)
	}
	return nil
}

func nonEmpty(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func checkRegion(s string) error {
	if s == "" || strings.ContainsAny(s, " /:.") {
		return fmt.Errorf("%q is not a region name like us-east-1", s)
	}
	return nil
}

func checkIdentifier(s string) error {
	if s == "" || strings.ContainsAny(s, " .:/") {
		return fmt.Errorf("%q is not an RDS identifier (use endpoint: for a host name)", s)
	}
	return nil
}

func checkHost(s string) error {
	if s == "" || strings.ContainsAny(s, " /:") {
		return fmt.Errorf("%q is not a host name (put the port in port:)", s)
	}
	return nil
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return fmt.Errorf("%q is not HOST:PORT", s)
	}
	_, err = parsePort(port)
	return err
}

func checkInstanceID(s string) error {
	if !strings.HasPrefix(s, "i-") && !strings.HasPrefix(s, "mi-") {
		return fmt.Errorf("%q is not an instance id (i-...); use bastion_tag to select by tag", s)
	}
	return nil
}

// engines are the engines a target may name; "aurora" (Aurora MySQL's
// original name) is accepted but not suggested.
var engines = []string{"postgres", "mysql", "mariadb", "aurora-postgresql", "aurora-mysql"}

func checkEngine(s string) error {
	if slices.Contains(engines, s) || s == "aurora" {
		return nil
	}
	return badValue(s, "an engine", engines, "use postgres, mysql, mariadb, aurora-postgresql or aurora-mysql")
}
