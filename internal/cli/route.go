package cli

import (
	"cmp"
	"context"

	"github.com/spf13/pflag"

	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/dbpath"
)

// routeFlags are shared by every command that reaches a database; they
// override the config file.
type routeFlags struct {
	via        string
	address    string
	bastion    string
	bastionTag string
	ssh        string
	user       string
	db         string
	caBundle   string
	// ssh route
	sshIdentity   string
	sshKnownHosts string
	sshAcceptNew  bool
	sshEIC        bool
	ssmPlugin     string
	noStart       bool
	// Registered by the commands that log in upstream (proxy), not by
	// register: a password source instead of IAM tokens, and PostgreSQL
	// 17's direct TLS.
	password       passwordFlags
	sslNegotiation string
}

// registerRoute registers the route flags every command that reaches a
// database has, the administrative ones (grant, revoke, users) included.
func (r *routeFlags) registerRoute(fs *pflag.FlagSet) {
	fs.StringVar(&r.via, "via", "", "route to the database: direct, ssm or ssh (default: the config file's, else direct)")
	fs.StringVar(&r.address, "address", "", "direct route: dial HOST:PORT instead of the endpoint (an existing tunnel); TLS is still verified against the endpoint name")
	fs.StringVar(&r.bastion, "bastion", "", "ssm route: bastion instance id")
	fs.StringVar(&r.bastionTag, "bastion-tag", "", "ssm route: pick an online bastion by tag, KEY=VALUE")
	fs.BoolVar(&r.noStart, "no-start", false, "ssm route without --bastion: refuse a stopped rdsgate bastion instead of starting it")
	fs.StringVar(&r.ssh, "ssh", "", "ssh route: USER@HOST[:PORT] of the bastion, or a jump chain a@b1,c@b2 (hosts may be ~/.ssh/config aliases)")
	fs.StringVar(&r.caBundle, "ca-bundle", "", "PEM file of CAs to verify the server with (default: RDS's bundle, downloaded once and cached)")
}

// register registers the route flags and the database user and name.
func (r *routeFlags) register(fs *pflag.FlagSet) {
	r.registerRoute(fs)
	fs.StringVar(&r.ssmPlugin, "ssm-plugin", "", "ssm route: forward through AWS's session-manager-plugin at this path instead of rdsgate's own client")
	fs.StringVar(&r.sshIdentity, "ssh-identity", "", "ssh route: private key file (default: the ssh-agent, then ~/.ssh/config's IdentityFile)")
	fs.StringVar(&r.sshKnownHosts, "ssh-known-hosts", "", "ssh route: known_hosts file (default ~/.ssh/known_hosts)")
	fs.BoolVar(&r.sshAcceptNew, "ssh-accept-new", false, "ssh route: record an unknown bastion host key once, like StrictHostKeyChecking=accept-new (a changed key is always refused)")
	fs.BoolVar(&r.sshEIC, "ssh-eic", false, "ssh route: log in with a one-minute key pushed by EC2 Instance Connect for the --bastion instance (no key file anywhere)")
	fs.StringVarP(&r.user, "user", "u", "", "database user (default: the config file's)")
	fs.StringVarP(&r.db, "db", "d", "", "database name (default: the config file's)")
}

// pathSpec is what the command line asks for on the path to name: the
// config entry for it (if any) under the flags and the global profile and
// region. It reads the config files and nothing else.
func (a *app) pathSpec(name string, rf routeFlags) (dbpath.Spec, error) {
	c, err := a.loadConfig()
	if err != nil {
		return dbpath.Spec{}, err
	}
	entry, _ := c.Target(name)
	return specFor(name, entry, rf, a.g, a.getenv)
}

// specFor merges: flags over the config entry; the entry's profile only
// when neither --profile nor AWS_PROFILE names one.
func specFor(name string, e config.Target, rf routeFlags, g globals, getenv func(string) string) (dbpath.Spec, error) {
	s := entrySpec(name, e)
	s.Profile, s.Region = awsChoice(e, g, getenv)
	s.User, s.Database = cmp.Or(rf.user, e.User), cmp.Or(rf.db, e.Database)
	s.CABundle = cmp.Or(rf.caBundle, e.CABundle)
	s.SSLNegotiation, s.LocalPort = e.SSLNegotiation, e.LocalPort
	s.Auth = dbpath.Auth{Method: e.Auth, PasswordSecret: e.PasswordSecret, PasswordEnv: e.PasswordEnv, PasswordFile: e.PasswordFile}
	if err := rf.password.apply(&s.Auth); err != nil {
		return s, err
	}
	if rf.sslNegotiation != "" {
		if err := config.CheckSSLNegotiation(rf.sslNegotiation); err != nil {
			return s, usagef("--ssl-negotiation: %v", err)
		}
		s.SSLNegotiation = rf.sslNegotiation
	}
	route, err := routeFor(e.Route, rf)
	if err != nil {
		return s, err
	}
	s.Route = route
	return s, nil
}

// entrySpec is where the config entry e says the target name is.
func entrySpec(name string, e config.Target) dbpath.Spec {
	return dbpath.Spec{Name: name, Identifier: e.Identifier, Endpoint: e.Endpoint, Port: e.Port, Engine: e.Engine}
}

// awsChoice is the AWS profile and region for entry e: the flags first;
// the entry's profile only when AWS_PROFILE names none either.
func awsChoice(e config.Target, g globals, getenv func(string) string) (profile, region string) {
	profile, region = g.profile, cmp.Or(g.region, e.Region)
	if profile == "" && getenv("AWS_PROFILE") == "" {
		profile = e.Profile
	}
	return profile, region
}

// routeFor applies the route flags over the config entry's route.
func routeFor(r config.Route, rf routeFlags) (dbpath.Route, error) {
	if rf.via != "" {
		if err := config.CheckVia(rf.via); err != nil {
			return dbpath.Route{}, usagef("--via: %v", err)
		}
		if rf.via != r.Via {
			r = config.Route{Via: rf.via}
		}
	}
	if rf.bastionTag != "" {
		if err := config.CheckTagFilter(rf.bastionTag); err != nil {
			return dbpath.Route{}, usagef("--bastion-tag: %v", err)
		}
	}
	r.Via = cmp.Or(r.Via, "direct")
	r.Address = cmp.Or(rf.address, r.Address)
	if rf.bastion != "" || rf.bastionTag != "" {
		// The flags name the bastion: a configured id or tag gives way
		// rather than clash with it.
		r.Bastion, r.BastionTag = rf.bastion, rf.bastionTag
	}
	r.SSH = cmp.Or(rf.ssh, r.SSH)
	r.SSHIdentity = cmp.Or(rf.sshIdentity, r.SSHIdentity)
	r.SSHKnownHosts = cmp.Or(rf.sshKnownHosts, r.SSHKnownHosts)
	r.SSHEIC = r.SSHEIC || rf.sshEIC
	if err := r.Validate(); err != nil {
		return dbpath.Route{}, usagef("route: %v", err)
	}
	return dbpath.Route{Via: r.Via, Address: r.Address, Bastion: r.Bastion, BastionTag: r.BastionTag, NoStart: rf.noStart, SSMPlugin: rf.ssmPlugin,
		SSH: r.SSH, SSHIdentity: r.SSHIdentity, SSHKnownHosts: r.SSHKnownHosts, SSHAcceptNew: rf.sshAcceptNew, SSHEIC: r.SSHEIC}, nil
}

// openPath opens the path to name as the command line asks, with progress
// lines on stderr.
func (a *app) openPath(ctx context.Context, name string, rf routeFlags) (*dbpath.Path, error) {
	spec, err := a.pathSpec(name, rf)
	if err != nil {
		return nil, err
	}
	p, err := a.open(ctx, spec, a.pathOptions())
	return p, err
}

// pathOptions are this process's side of opening a path.
func (a *app) pathOptions() dbpath.Options {
	o := dbpath.Options{Log: a.log, Observer: &progress{a: a}, Getenv: a.getenv, Stderr: a.stderr,
		AWSConfigFiles: a.awsConfigFiles, AWSCredentialsFiles: a.awsCredentialsFiles}
	if c, err := a.loadConfig(); err == nil {
		o.KnownNames = c.Names()
	}
	return o
}
