package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/spf13/pflag"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/rdsca"
	"github.com/rdsgate/rdsgate/target"
	"github.com/rdsgate/rdsgate/tunnel"
	"github.com/rdsgate/rdsgate/tunnel/direct"
	ssmtunnel "github.com/rdsgate/rdsgate/tunnel/ssm"
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
	// Registered by the commands that log in upstream (proxy), not by
	// register: a password source instead of IAM tokens, and PostgreSQL
	// 17's direct TLS.
	password       passwordFlags
	sslNegotiation string
}

func (r *routeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&r.via, "via", "", "route to the database: direct, ssm or ssh (default: the config file's, else direct)")
	fs.StringVar(&r.address, "address", "", "direct route: dial HOST:PORT instead of the endpoint (an existing tunnel); TLS is still verified against the endpoint name")
	fs.StringVar(&r.bastion, "bastion", "", "ssm route: bastion instance id")
	fs.StringVar(&r.bastionTag, "bastion-tag", "", "ssm route: pick an online bastion by tag, KEY=VALUE")
	fs.StringVar(&r.ssmPlugin, "ssm-plugin", "", "ssm route: forward through AWS's session-manager-plugin at this path instead of rdsgate's own client")
	fs.StringVar(&r.ssh, "ssh", "", "ssh route: USER@HOST[:PORT] of the bastion, or a jump chain a@b1,c@b2 (hosts may be ~/.ssh/config aliases)")
	fs.StringVar(&r.sshIdentity, "ssh-identity", "", "ssh route: private key file (default: the ssh-agent, then ~/.ssh/config's IdentityFile)")
	fs.StringVar(&r.sshKnownHosts, "ssh-known-hosts", "", "ssh route: known_hosts file (default ~/.ssh/known_hosts)")
	fs.BoolVar(&r.sshAcceptNew, "ssh-accept-new", false, "ssh route: record an unknown bastion host key once, like StrictHostKeyChecking=accept-new (a changed key is always refused)")
	fs.BoolVar(&r.sshEIC, "ssh-eic", false, "ssh route: log in with a one-minute key pushed by EC2 Instance Connect for the --bastion instance (no key file anywhere)")
	fs.StringVar(&r.user, "user", "", "database user (default: the config file's)")
	fs.StringVar(&r.db, "db", "", "database name (default: the config file's)")
	fs.StringVar(&r.caBundle, "ca-bundle", "", "PEM file of CAs to verify the server with (default: RDS's bundle, downloaded once and cached)")
}

// path is everything needed to reach one target.
type path struct {
	name     string
	entry    config.Target
	target   target.Target
	aws      aws.Config
	profile  string
	identity awsconf.Identity
	route    config.Route
	user     string
	database string
	bundle   *rdsca.Bundle
	dialer   tunnel.Dialer
	// creds is the target's password source (auth: password); nil logs in
	// with IAM tokens.
	creds *proxy.PasswordCredentials
}

// resolvePath resolves name with flags over the config entry, checks
// credentials, finds the target, the CA bundle and the route.
func (a *app) resolvePath(ctx context.Context, name string, rf routeFlags) (*path, error) {
	c, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	p := &path{name: name}
	var entryPtr *config.Target
	if e, ok := c.Target(name); ok {
		p.entry, entryPtr = e, &e
	}
	if p.aws, p.profile, err = a.awsFor(ctx, entryPtr); err != nil {
		return nil, err
	}
	if _, err := awsconf.Check(ctx, p.aws, p.profile); err != nil {
		return nil, err
	}
	t0 := time.Now()
	stop := a.spin("identity")
	p.identity, err = awsconf.WhoAmI(ctx, p.aws, p.profile)
	stop()
	if err != nil {
		return nil, err
	}
	a.stage("identity", t0, "%s (account %s, region %s)", p.identity.ARN, p.identity.Account, p.aws.Region)
	t0 = time.Now()
	stop = a.spin("target")
	p.target, err = resolver(p.aws, c).Resolve(ctx, name)
	stop()
	if err != nil {
		return nil, err
	}
	a.stage("target", t0, "%s (%s %s) at %s", p.target.Identifier, p.target.Engine, p.target.EngineVersion, p.target.Address())
	if p.target.Family() == "" {
		return nil, fmt.Errorf("%s runs %s, which rdsgate does not speak (PostgreSQL, MySQL and MariaDB engines only)", p.target.Identifier, p.target.Engine)
	}
	p.user, p.database = first(rf.user, p.entry.User), first(rf.db, p.entry.Database)
	if err := p.applyLoginFlags(rf); err != nil {
		return nil, err
	}
	if p.creds, err = a.passwordCredentials(p); err != nil {
		return nil, err
	}
	a.sshAcceptNew, a.ssmPlugin = rf.sshAcceptNew, rf.ssmPlugin
	if p.route, err = routeFor(p.entry, rf); err != nil {
		return nil, err
	}
	t0 = time.Now()
	if p.dialer, err = a.dialerFor(ctx, p.aws, p.route, p.target.Address()); err != nil {
		return nil, err
	}
	switch p.route.Via {
	case "ssm":
		via := "Session Manager port forwarding"
		if a.ssmPlugin != "" {
			via += " (AWS's session-manager-plugin)"
		}
		a.stage("route", t0, "%s through bastion %s", via, p.dialer.(interface{ Target() string }).Target())
	case "direct":
		a.stage("route", t0, "direct TCP to %s", first(p.route.Address, p.target.Address()))
	}
	if p.bundle, err = a.loadBundle(ctx, first(rf.caBundle, p.entry.CABundle), p.target.Region); err != nil {
		closeDialer(p.dialer)
		return nil, err
	}
	return p, nil
}

func (a *app) loadBundle(ctx context.Context, file, region string) (*rdsca.Bundle, error) {
	return rdsca.Load(ctx, rdsca.Options{File: file, Getenv: a.getenv, Region: region, Log: a.log})
}

// routeFor applies the route flags over the config entry's route.
func routeFor(entry config.Target, rf routeFlags) (config.Route, error) {
	route := entry.Route
	if rf.via != "" {
		if err := config.CheckVia(rf.via); err != nil {
			return route, usagef("--via: %v", err)
		}
		if rf.via != route.Via {
			route = config.Route{Via: rf.via}
		}
	}
	if rf.address != "" {
		route.Address = rf.address
	}
	if rf.bastion != "" {
		route.Bastion = rf.bastion
	}
	if rf.bastionTag != "" {
		if err := config.CheckTagFilter(rf.bastionTag); err != nil {
			return route, usagef("--bastion-tag: %v", err)
		}
		route.BastionTag = rf.bastionTag
	}
	if rf.ssh != "" {
		route.SSH = rf.ssh
	}
	if rf.sshIdentity != "" {
		route.SSHIdentity = rf.sshIdentity
	}
	if rf.sshKnownHosts != "" {
		route.SSHKnownHosts = rf.sshKnownHosts
	}
	route.SSHEIC = route.SSHEIC || rf.sshEIC
	if route.Via == "" {
		route.Via = "direct"
	}
	if err := route.Validate(); err != nil {
		return route, usagef("route: %v", err)
	}
	return route, nil
}

// dialerFor builds the route's dialer. Dialers that hold sessions are
// io.Closers; closeDialer ends them.
func (a *app) dialerFor(ctx context.Context, cfg aws.Config, route config.Route, target string) (tunnel.Dialer, error) {
	switch route.Via {
	case "direct":
		return &direct.Dialer{Address: route.Address}, nil
	case "ssm":
		bastion, err := ssmtunnel.FindBastion(ctx, ssmtunnel.BastionAPIs{EC2: ec2.NewFromConfig(cfg), SSM: ssm.NewFromConfig(cfg)}, route.Bastion, route.BastionTag)
		if err != nil {
			return nil, err
		}
		client := ssm.NewFromConfig(cfg)
		if a.ssmPlugin != "" {
			return ssmtunnel.NewPlugin(ssmtunnel.PluginConfig{API: client, Plugin: a.ssmPlugin, Target: bastion, Region: cfg.Region,
				Profile: a.g.profile, Endpoint: aws.ToString(client.Options().BaseEndpoint), Log: a.log.With("route", "ssm-plugin")})
		}
		return ssmtunnel.NewFromClient(client, ssmtunnel.Config{Target: bastion, Reason: "rdsgate", Log: a.log.With("route", "ssm")})
	case "ssh":
		return a.sshDialer(ctx, cfg, route, target)
	}
	return nil, fmt.Errorf("the %s route is not available in this build yet; use --via direct or --via ssm", route.Via)
}

// closeDialer ends a dialer's sessions (Session Manager: TerminateSession).
func closeDialer(d tunnel.Dialer) {
	if c, ok := d.(io.Closer); ok {
		_ = c.Close()
	}
}

// applyLoginFlags puts the password and TLS negotiation flags over the
// config entry and checks they fit the engine.
func (p *path) applyLoginFlags(rf routeFlags) error {
	if err := rf.password.apply(&p.entry); err != nil {
		return err
	}
	if rf.sslNegotiation != "" {
		if err := config.CheckSSLNegotiation(rf.sslNegotiation); err != nil {
			return usagef("--ssl-negotiation: %v", err)
		}
		p.entry.SSLNegotiation = rf.sslNegotiation
	}
	if p.entry.SSLNegotiation == "direct" && p.target.Family() != target.FamilyPostgres {
		return usagef("ssl_negotiation: direct is PostgreSQL 17's; %s runs %s", p.target.Identifier, p.target.Engine)
	}
	return nil
}

// upstream builds the proxy's upstream for p: IAM tokens from tokens, or
// the target's password source.
func (p *path) upstream(tokens *iamauth.Cache, loginsPerSecond int) *proxy.Upstream {
	var creds proxy.Credentials = &proxy.IAMCredentials{Cache: tokens, Host: p.target.Host, Port: p.target.Port, Region: p.target.Region}
	if p.creds != nil {
		creds = p.creds
	}
	up := &proxy.Upstream{
		Target:      p.target,
		Dialer:      p.dialer,
		TLS:         p.bundle.TLSConfig(p.target.Host),
		Credentials: creds,
		Account:     p.identity.Account,
		DirectTLS:   p.entry.SSLNegotiation == "direct",
	}
	if loginsPerSecond > 0 {
		up.Logins = proxy.NewRateLimiter(loginsPerSecond, loginsPerSecond)
	}
	return up
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
