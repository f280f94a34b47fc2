package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// errUnknown, returned by a mapping callback, reports the key as unknown.
var errUnknown = errors.New("unknown key")

// parser walks YAML nodes so every error can name the file and line.
type parser struct{ path string }

func (p parser) errAt(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.path, n.Line, fmt.Sprintf(format, args...))
}

// mapping calls fn for each key of n, which must be a mapping; what names n
// in messages. Duplicate keys are refused.
func (p parser) mapping(n *yaml.Node, what string, fn func(key string, v *yaml.Node) error) error {
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
				return p.errAt(k, "unknown key %q in %s", k.Value, what)
			}
			return err
		}
	}
	return nil
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

func (p parser) common(key string, v *yaml.Node, region, profile, user, database, caBundle *string, route *Route) error {
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
		return p.route(v, route)
	}
	return errUnknown
}

func (p parser) defaults(n *yaml.Node, d *Defaults) error {
	return p.mapping(n, "defaults", func(key string, v *yaml.Node) error {
		return p.common(key, v, &d.Region, &d.Profile, &d.User, &d.Database, &d.CABundle, &d.Route)
	})
}

func (p parser) target(n *yaml.Node, t *Target) error {
	what := fmt.Sprintf("target %q", t.Name)
	err := p.mapping(n, what, func(key string, v *yaml.Node) error {
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
		return p.common(key, v, &t.Region, &t.Profile, &t.User, &t.Database, &t.CABundle, &t.Route)
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

// CheckSSLNegotiation accepts libpq's sslnegotiation values.
func CheckSSLNegotiation(s string) error {
	switch s {
	case "postgres", "direct":
		return nil
	}
	return fmt.Errorf("%q is not an SSL negotiation: use postgres (an SSLRequest first, the default) or direct (PostgreSQL 17+)", s)
}

func checkAuth(s string) error {
	switch s {
	case "iam", "password":
		return nil
	}
	return fmt.Errorf("%q is not an auth method: use iam or password", s)
}

func checkEnvName(s string) error {
	if s == "" || strings.ContainsAny(s, "= \t$") {
		return fmt.Errorf("%q is not an environment variable name (no $, =, spaces)", s)
	}
	return nil
}

func (p parser) route(n *yaml.Node, r *Route) error {
	err := p.mapping(n, "route", func(key string, v *yaml.Node) error {
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

// CheckVia accepts the route kinds.
func CheckVia(s string) error {
	switch s {
	case "direct", "ssm", "ssh":
		return nil
	}
	return fmt.Errorf("%q is not a route: use direct, ssm or ssh", s)
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

func checkEngine(s string) error {
	switch s {
	case "postgres", "aurora-postgresql", "mysql", "mariadb", "aurora-mysql", "aurora":
		return nil
	}
	return fmt.Errorf("%q is not an engine: use postgres, mysql, mariadb, aurora-postgresql or aurora-mysql", s)
}
