package cli

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/dbpath"
)

// routeFlags are shared by every command that reaches a database: the
// dbpath.Override they are bound to lies over the config file's entry.
// The commands that log in upstream (proxy) also register a password
// source instead of IAM tokens, and PostgreSQL 17's direct TLS.
type routeFlags struct {
	o dbpath.Override
	// sessions is the command's number of Session Manager sessions when
	// neither --ssm-sessions nor the config sets one.
	sessions int
}

// registerRoute registers the route flags every command that reaches a
// database has, the administrative ones (grant, revoke, users) included.
func (r *routeFlags) registerRoute(fs *pflag.FlagSet) {
	fs.StringVar(&r.o.Route.Via, "via", "", "route to the database: direct, ssm or ssh (default: the config file's, else direct)")
	fs.StringVar(&r.o.Route.Address, "address", "", "direct route: dial HOST:PORT instead of the endpoint (an existing tunnel); TLS is still verified against the endpoint name")
	fs.StringVar(&r.o.Route.Bastion, "bastion", "", "ssm route: bastion instance id")
	fs.StringVar(&r.o.Route.BastionTag, "bastion-tag", "", "ssm route: pick an online bastion by tag, KEY=VALUE")
	fs.BoolVar(&r.o.Route.NoStart, "no-start", false, "ssm route without --bastion: refuse a stopped rdsgate bastion instead of starting it")
	fs.StringVar(&r.o.Route.SSH, "ssh", "", "ssh route: USER@HOST[:PORT] of the bastion, or a jump chain a@b1,c@b2 (hosts may be ~/.ssh/config aliases)")
	fs.StringVar(&r.o.CABundle, "ca-bundle", "", "PEM file of CAs to verify the server with (default: RDS's bundle, downloaded once and cached)")
}

// register registers the route flags and the database user and name;
// sessions is the command's default number of Session Manager sessions.
func (r *routeFlags) register(fs *pflag.FlagSet, sessions int) {
	r.registerRoute(fs)
	r.sessions = sessions
	fs.IntVar(&r.o.Route.SSMSessions, "ssm-sessions", 0, fmt.Sprintf("ssm route: spread connections over up to this many Session Manager sessions, each paced on its own (default %d; config: route.ssm_sessions)", sessions))
	fs.StringVar(&r.o.Route.SSMPlugin, "ssm-plugin", "", "ssm route: forward through AWS's session-manager-plugin at this path instead of rdsgate's own client")
	fs.StringVar(&r.o.Route.SSHIdentity, "ssh-identity", "", "ssh route: private key file (default: the ssh-agent, then ~/.ssh/config's IdentityFile)")
	fs.StringVar(&r.o.Route.SSHKnownHosts, "ssh-known-hosts", "", "ssh route: known_hosts file (default ~/.ssh/known_hosts)")
	fs.BoolVar(&r.o.Route.SSHAcceptNew, "ssh-accept-new", false, "ssh route: record an unknown bastion host key once, like StrictHostKeyChecking=accept-new (a changed key is always refused)")
	fs.BoolVar(&r.o.Route.SSHEIC, "ssh-eic", false, "ssh route: log in with a one-minute key pushed by EC2 Instance Connect for the --bastion instance (no key file anywhere)")
	fs.StringVarP(&r.o.User, "user", "u", "", "database user (default: the config file's)")
	fs.StringVarP(&r.o.Database, "db", "d", "", "database name (default: the config file's)")
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

// specFor merges the flags over the config entry e.
func specFor(name string, e config.Target, rf routeFlags, g globals, getenv func(string) string) (dbpath.Spec, error) {
	o := rf.o
	o.Profile, o.Region = g.profile, g.region
	return dbpath.Merge(name, e, o, getenv)
}

// openPath opens the path to name as the command line asks, with progress
// lines on stderr.
func (a *app) openPath(ctx context.Context, name string, rf routeFlags) (*dbpath.Path, error) {
	spec, err := a.pathSpec(name, rf)
	if err != nil {
		return nil, err
	}
	opts := a.pathOptions()
	opts.SSMSessions = rf.sessions // the command's, unless the spec sets one
	return a.open(ctx, spec, opts)
}

// pathOptions are this process's side of opening a path.
func (a *app) pathOptions() dbpath.Options {
	o := dbpath.Options{Log: a.log, Observer: a.progress(), Getenv: a.getenv, Stderr: a.stderr,
		AWSConfigFiles: a.awsConfigFiles, AWSCredentialsFiles: a.awsCredentialsFiles}
	if c, err := a.loadConfig(); err == nil {
		o.KnownNames = c.Names()
	}
	return o
}
