// Package config reads rdsgate's configuration files: the user's file
// (~/.config/rdsgate/config.yaml or $RDSGATE_CONFIG) and a project file,
// .rdsgate.yaml, found by walking up from the working directory. Precedence,
// highest first: flags, RDSGATE_* variables, the project file, the user file.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Notes on this package:
//
// Package config reads rdsgate's configuration files: the user's file
// (~/.config/rdsgate/config.yaml, or the path in RDSGATE_CONFIG) and a project
// file, .rdsgate.yaml, found by walking up from the working directory and meant
// to be committed and shared by a team. A project file is read only when it
// and its directory are the user's (or root's) and nobody else can write
// them; the keys that decide where credentials go need the user's trust in
// the file's exact content (TrustStore).
//
// Both files have the same shape:
//
//	defaults:            # apply to every target unless the target says otherwise
//	  region: eu-west-1
//	  profile: prod
//	targets:
//	  orders-prod:
//	    identifier: orders-prod        # instance or cluster id (or endpoint:)
//	    user: jane                     # database user
//	    database: orders
//	    route:
//	      via: ssm                     # direct | ssm | ssh
//	      bastion: i-0123456789abcdef0 # or bastion_tag: Name=db-bastion
//	    local_port: 15432
//	  legacy:                          # no IAM authentication: a password
//	    identifier: legacy-db
//	    auth: password
//	    password_secret: arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-...
//	    ssl_negotiation: direct        # PostgreSQL 17+: TLS without an SSLRequest
//
// Precedence, highest first: command-line flags, RDSGATE_* environment
// variables, the project file, the user file. Targets with the same name in
// both files are merged key by key, the project file winning. Unknown keys and
// bad values are errors that name the file and line, and the key or value
// most likely meant (suggest.Closest); text that is not YAML is a
// *SyntaxError that names the line and column and says what is wrong.

// ProjectFileName is the name of the team-shared file found upward from the
// working directory.
const ProjectFileName = ".rdsgate.yaml"

// EnvConfig names the environment variable that replaces the user file's path.
const EnvConfig = "RDSGATE_CONFIG"

// Route says how bytes reach the database. The zero value means "not set here".
type Route struct {
	// Via is direct, ssm or ssh.
	Via string `json:"via,omitempty"`
	// Address (direct) is where to dial instead of the endpoint, e.g. an
	// existing tunnel at 127.0.0.1:15432; (ssh) what the bastion dials
	// instead of the endpoint. TLS is still verified against the endpoint
	// name.
	Address string `json:"address,omitempty"`
	// Bastion (ssm; ssh with ssh_eic) is the bastion's instance id.
	Bastion string `json:"bastion,omitempty"`
	// BastionTag (ssm) selects an online bastion by tag, KEY=VALUE.
	BastionTag string `json:"bastion_tag,omitempty"`
	// SSH (ssh) is USER@HOST[:PORT], or a comma-separated jump chain.
	SSH string `json:"ssh,omitempty"`
	// SSHIdentity (ssh) is a private key file.
	SSHIdentity string `json:"ssh_identity,omitempty"`
	// SSHKnownHosts (ssh) is a known_hosts file; default ~/.ssh/known_hosts.
	SSHKnownHosts string `json:"ssh_known_hosts,omitempty"`
	// SSHEIC (ssh) pushes a one-minute key with EC2 Instance Connect.
	SSHEIC bool `json:"ssh_eic,omitempty"`
	// SSMSessions (ssm) is how many Session Manager sessions a proxy or
	// tunnel spreads its connections over (0: the command's default).
	SSMSessions int `json:"ssm_sessions,omitempty"`
}

// Target is a named database entry. Empty fields are "not set".
type Target struct {
	Name string `json:"name"`
	// Identifier is an RDS instance or cluster identifier.
	Identifier string `json:"identifier,omitempty"`
	// Endpoint is the database's DNS name, for databases not described by
	// the RDS API the caller can read.
	Endpoint string `json:"endpoint,omitempty"`
	// Port overrides the endpoint's port.
	Port int `json:"port,omitempty"`
	// Engine (postgres, mysql, mariadb, aurora-postgresql, aurora-mysql) is
	// needed only with Endpoint when the API cannot be asked.
	Engine   string `json:"engine,omitempty"`
	Region   string `json:"region,omitempty"`
	Profile  string `json:"profile,omitempty"`
	User     string `json:"user,omitempty"`
	Database string `json:"database,omitempty"`
	Route    Route  `json:"route,omitempty"`
	// LocalPort is the proxy's or tunnel's local port for this target.
	LocalPort int `json:"local_port,omitempty"`
	// CABundle is a PEM file of CAs to verify the server with.
	CABundle string `json:"ca_bundle,omitempty"`
	// Auth is how the proxy logs in upstream: "iam" (the default: a fresh
	// IAM token) or "password", for databases or users without IAM
	// authentication, with the password from one of PasswordSecret,
	// PasswordEnv or PasswordFile.
	Auth string `json:"auth,omitempty"`
	// PasswordSecret is a Secrets Manager secret (ARN or name) holding
	// {"username": ..., "password": ...} (an RDS managed master secret, for
	// one) or the password alone.
	PasswordSecret string `json:"password_secret,omitempty"`
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `json:"password_env,omitempty"`
	// PasswordFile is a file whose first line is the password.
	PasswordFile string `json:"password_file,omitempty"`
	// SSLNegotiation (PostgreSQL) is "postgres" (the default: ask with an
	// SSLRequest) or "direct": TLS at once with ALPN "postgresql", one
	// round trip less per connection, PostgreSQL 17+ only (libpq's
	// sslnegotiation).
	SSLNegotiation string `json:"ssl_negotiation,omitempty"`

	// Source is "file:line" of the entry, for messages.
	Source string `json:"-"`
}

// Defaults apply to every target.
type Defaults struct {
	Region   string `json:"region,omitempty"`
	Profile  string `json:"profile,omitempty"`
	User     string `json:"user,omitempty"`
	Database string `json:"database,omitempty"`
	Route    Route  `json:"route,omitempty"`
	CABundle string `json:"ca_bundle,omitempty"`
}

// File is one parsed configuration file.
type File struct {
	Path     string
	Defaults Defaults
	// DefaultsSource is "file:line" of the defaults entry, for messages.
	DefaultsSource string
	Targets        map[string]Target
}

// Config is the merged view of the user file and the project file.
type Config struct {
	// Files are the files that were read, lowest precedence first.
	Files    []string
	Defaults Defaults
	Targets  map[string]Target
}

// Target returns the named entry with the defaults applied.
func (c *Config) Target(name string) (Target, bool) {
	t, ok := c.Targets[name]
	if !ok {
		return Target{}, false
	}
	d := c.Defaults
	t.Region = first(t.Region, d.Region)
	t.Profile = first(t.Profile, d.Profile)
	t.User = first(t.User, d.User)
	t.Database = first(t.Database, d.Database)
	t.CABundle = first(t.CABundle, d.CABundle)
	t.Route = mergeRoute(d.Route, t.Route)
	return t, true
}

// Names lists the targets in order.
func (c *Config) Names() []string {
	names := make([]string, 0, len(c.Targets))
	for n := range c.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// UserPath is the user file's path: RDSGATE_CONFIG, else
// $XDG_CONFIG_HOME/rdsgate/config.yaml (~/.config/rdsgate/config.yaml).
func UserPath() string {
	if p := os.Getenv(EnvConfig); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "rdsgate", "config.yaml")
}

// Load reads the user file at userPath and the project file at projectPath
// (either may be "" or, for the user file only, missing) and merges them.
// A project path that was named but does not exist is an error. The project
// file must pass CheckProjectFile, and its sensitive settings (see
// SensitiveSettings) are honoured only when trust records its current
// content (nil trusts nothing); otherwise Load returns an *UntrustedError.
// The user file needs no trust: it is the user's own.
func Load(userPath, projectPath string, trust *TrustStore) (*Config, error) {
	c := &Config{Targets: map[string]Target{}}
	for i, p := range []string{userPath, projectPath} {
		if p == "" {
			continue
		}
		var f *File
		var err error
		if i == 0 {
			f, err = ReadFile(p)
			if errors.Is(err, os.ErrNotExist) && os.Getenv(EnvConfig) == "" {
				continue // no user file is the normal first-run state
			}
		} else {
			f, err = ReadProject(p, trust)
		}
		if err != nil {
			return nil, err
		}
		c.Files = append(c.Files, p)
		c.Defaults = mergeDefaults(c.Defaults, f.Defaults)
		for name, t := range f.Targets {
			if old, ok := c.Targets[name]; ok {
				t = mergeTarget(old, t)
			}
			c.Targets[name] = t
		}
	}
	return c, nil
}

// Project is a project file read for a trust decision.
type Project struct {
	File *File
	// SHA256 is the content's hash, as a trust record names it.
	SHA256 string
	// Settings are the sensitive settings the file makes.
	Settings []Setting
}

// WriteTrusted tells a person what trusting p (the file at path) meant:
// its hash, and the keys now honoured from it.
func (p *Project) WriteTrusted(w io.Writer, path string) {
	fmt.Fprintf(w, "trusted %s\n  sha256 %s\n", path, p.SHA256)
	if len(p.Settings) == 0 {
		fmt.Fprintln(w, "  it sets no key that needs trust")
	} else {
		fmt.Fprintln(w, "  so these keys are now honoured from it:")
		for _, s := range p.Settings {
			fmt.Fprintf(w, "    %s = %q  (%s)\n", s.Key, s.Value, s.Source)
		}
	}
	fmt.Fprintln(w, "  any edit makes it untrusted again")
}

// InspectProject checks and parses the project file at path, reading it
// once so that what is hashed is what is parsed.
func InspectProject(path string) (*Project, error) {
	if err := CheckProjectFile(path); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	f, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	return &Project{File: f, SHA256: Sum(data), Settings: f.SensitiveSettings()}, nil
}

// ReadProject reads the project file at path, refusing it when it sets
// sensitive keys that trust does not cover.
func ReadProject(path string, trust *TrustStore) (*File, error) {
	p, err := InspectProject(path)
	if err != nil {
		return nil, err
	}
	if len(p.Settings) == 0 {
		return p.File, nil
	}
	var rec TrustRecord
	var ok bool
	if trust != nil {
		if rec, ok, err = trust.Lookup(path); err != nil {
			return nil, err
		}
	}
	if !ok || rec.SHA256 != p.SHA256 {
		return nil, &UntrustedError{Path: path, Settings: p.Settings, Changed: ok}
	}
	return p.File, nil
}

// ReadFile parses one configuration file.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse parses configuration text; path is used in error messages only.
// Text that is not YAML is a *SyntaxError; a key or value that is not
// rdsgate's is an error naming the file and line.
func Parse(path string, data []byte) (*File, error) {
	f := &File{Path: path, Targets: map[string]Target{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(path, data, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return f, nil // empty file
	}
	p := parser{path: path}
	root := doc.Content[0]
	if err := p.mapping(root, "the top level", topKeys, func(key string, v *yaml.Node) error {
		switch key {
		case "defaults":
			f.DefaultsSource = fmt.Sprintf("%s:%d", path, v.Line)
			return p.defaults(v, &f.Defaults)
		case "targets":
			return p.mapping(v, "targets", nil, func(name string, tv *yaml.Node) error {
				if err := validName(name); err != nil {
					return p.errAt(tv, "target %q: %v", name, err)
				}
				t := Target{Name: name, Source: fmt.Sprintf("%s:%d", path, tv.Line)}
				if err := p.target(tv, &t); err != nil {
					return err
				}
				if t.Identifier != "" && t.Endpoint != "" {
					return p.errAt(tv, "target %q: set identifier or endpoint, not both", name)
				}
				f.Targets[name] = t
				return nil
			})
		default:
			return errUnknown
		}
	}); err != nil {
		return nil, err
	}
	return f, nil
}

func validName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("names use letters, digits, '-', '_' and '.' only")
		}
	}
	return nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func mergeRoute(low, high Route) Route {
	if high.Via != "" && high.Via != low.Via {
		// A different route kind replaces the lower file's route whole:
		// an ssm bastion must not linger under an ssh route.
		return high
	}
	return Route{
		Via:           first(high.Via, low.Via),
		Address:       first(high.Address, low.Address),
		Bastion:       first(high.Bastion, low.Bastion),
		BastionTag:    first(high.BastionTag, low.BastionTag),
		SSH:           first(high.SSH, low.SSH),
		SSHIdentity:   first(high.SSHIdentity, low.SSHIdentity),
		SSHKnownHosts: first(high.SSHKnownHosts, low.SSHKnownHosts),
		SSHEIC:        high.SSHEIC || low.SSHEIC,
		SSMSessions:   cmp.Or(high.SSMSessions, low.SSMSessions),
	}
}

func mergeDefaults(low, high Defaults) Defaults {
	return Defaults{
		Region:   first(high.Region, low.Region),
		Profile:  first(high.Profile, low.Profile),
		User:     first(high.User, low.User),
		Database: first(high.Database, low.Database),
		Route:    mergeRoute(low.Route, high.Route),
		CABundle: first(high.CABundle, low.CABundle),
	}
}

func mergeTarget(low, high Target) Target {
	out := high
	if high.Identifier == "" && high.Endpoint == "" {
		out.Identifier, out.Endpoint = low.Identifier, low.Endpoint
	}
	if out.Port == 0 {
		out.Port = low.Port
	}
	if out.LocalPort == 0 {
		out.LocalPort = low.LocalPort
	}
	out.Engine = first(high.Engine, low.Engine)
	out.Region = first(high.Region, low.Region)
	out.Profile = first(high.Profile, low.Profile)
	out.User = first(high.User, low.User)
	out.Database = first(high.Database, low.Database)
	out.CABundle = first(high.CABundle, low.CABundle)
	out.Route = mergeRoute(low.Route, high.Route)
	out.Auth = first(high.Auth, low.Auth)
	if !high.HasPasswordSource() {
		// One source wins whole: a secret must not linger beside an env var.
		out.PasswordSecret, out.PasswordEnv, out.PasswordFile = low.PasswordSecret, low.PasswordEnv, low.PasswordFile
	}
	out.SSLNegotiation = first(high.SSLNegotiation, low.SSLNegotiation)
	return out
}

// HasPasswordSource reports whether one of the password_* keys is set.
func (t Target) HasPasswordSource() bool {
	return t.PasswordSecret != "" || t.PasswordEnv != "" || t.PasswordFile != ""
}

// Port parses a TCP port number, 1..65535.
func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return n, nil
}

// ExpandHome expands a leading ~/ in a file name from a config file or a
// flag to the user's home directory.
func ExpandHome(path string) string {
	if strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, path[2:])
		}
	}
	return path
}
