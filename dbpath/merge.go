package dbpath

import (
	"cmp"
	"slices"

	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/setting"
)

// Override is what a caller sets over a config entry, e.g. a command
// line's flags: an empty field is not set.
type Override struct {
	Profile, Region string
	User, Database  string
	CABundle        string
	SSLNegotiation  string
	// Auth, with a Method, replaces the entry's auth and password source;
	// without one, a single password source given means auth: password.
	Auth Auth
	// Route is laid over the entry's route: another Via replaces it
	// whole; a Bastion or BastionTag replaces both of the entry's.
	Route Route
}

// Merge is the spec for name: entry e (the zero Target when the config
// files have none) under o. The entry's profile counts only when neither
// o nor AWS_PROFILE (read with getenv) names one, so that a shell's
// profile is not silently replaced by a file's.
func Merge(name string, e config.Target, o Override, getenv func(string) string) (Spec, error) {
	s := Spec{Name: name, Identifier: e.Identifier, Endpoint: e.Endpoint, Port: e.Port, Engine: e.Engine,
		Profile: o.Profile, Region: cmp.Or(o.Region, e.Region), User: cmp.Or(o.User, e.User), Database: cmp.Or(o.Database, e.Database),
		CABundle: cmp.Or(o.CABundle, e.CABundle), SSLNegotiation: e.SSLNegotiation, LocalPort: e.LocalPort,
		Auth: Auth{Method: e.Auth, PasswordSecret: e.PasswordSecret, PasswordEnv: e.PasswordEnv, PasswordFile: e.PasswordFile}}
	if s.Profile == "" && (getenv == nil || getenv("AWS_PROFILE") == "") {
		s.Profile = e.Profile
	}
	switch n := len(slices.DeleteFunc([]string{o.Auth.PasswordSecret, o.Auth.PasswordEnv, o.Auth.PasswordFile}, func(s string) bool { return s == "" })); {
	case n > 1:
		return s, setting.Invalidf("%s, %s and %s: give one", setting.PasswordSecret, setting.PasswordEnv, setting.PasswordFile)
	case n == 1 && o.Auth.Method == "":
		o.Auth.Method = "password"
	}
	if o.Auth.Method != "" {
		s.Auth = o.Auth
	}
	if o.SSLNegotiation != "" {
		if err := config.CheckSSLNegotiation(o.SSLNegotiation); err != nil {
			return s, setting.Invalidf("%s: %w", setting.SSLNegotiation, err)
		}
		s.SSLNegotiation = o.SSLNegotiation
	}
	var err error
	s.Route, err = mergeRoute(e.Route, o.Route)
	return s, err
}

// mergeRoute lays o over the entry's route r and checks the result.
func mergeRoute(r config.Route, o Route) (Route, error) {
	if o.Via != "" {
		if err := config.CheckVia(o.Via); err != nil {
			return Route{}, setting.Invalidf("%s: %w", setting.Via, err)
		}
		if o.Via != r.Via {
			r = config.Route{Via: o.Via}
		}
	}
	if o.BastionTag != "" {
		if err := config.CheckTagFilter(o.BastionTag); err != nil {
			return Route{}, setting.Invalidf("%s: %w", setting.BastionTag, err)
		}
	}
	r.Via = cmp.Or(r.Via, "direct")
	r.Address = cmp.Or(o.Address, r.Address)
	if o.Bastion != "" || o.BastionTag != "" {
		// The override names the bastion: a configured id or tag gives
		// way rather than clash with it.
		r.Bastion, r.BastionTag = o.Bastion, o.BastionTag
	}
	r.SSH = cmp.Or(o.SSH, r.SSH)
	r.SSHIdentity = cmp.Or(o.SSHIdentity, r.SSHIdentity)
	r.SSHKnownHosts = cmp.Or(o.SSHKnownHosts, r.SSHKnownHosts)
	r.SSHEIC = r.SSHEIC || o.SSHEIC
	if err := r.Validate(); err != nil {
		return Route{}, setting.Invalidf("route: %w", err)
	}
	return Route{Via: r.Via, Address: r.Address, Bastion: r.Bastion, BastionTag: r.BastionTag, NoStart: o.NoStart, SSMPlugin: o.SSMPlugin, SSMSessions: cmp.Or(o.SSMSessions, r.SSMSessions),
		SSH: r.SSH, SSHIdentity: r.SSHIdentity, SSHKnownHosts: r.SSHKnownHosts, SSHAcceptNew: o.SSHAcceptNew, SSHEIC: r.SSHEIC}, nil
}
