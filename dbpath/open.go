package dbpath

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/bastion"
	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/rdsca"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/stage"
	"github.com/rdsgate/rdsgate/suggest"
	"github.com/rdsgate/rdsgate/target"
	"github.com/rdsgate/rdsgate/tunnel"
)

// Stage names, in the order Open runs them.
const (
	StageIdentity = "identity" // who the AWS credentials are
	StageTarget   = "target"   // the database, from the RDS API or the spec
	StageRoute    = "route"    // the route's dialer (a bastion found, a session ready)
	StageCA       = "ca"       // the CA bundle the server is verified with
	StageLogin    = "login"    // a login through the whole path (Local.Login)
)

// Observer hears about Open's stages, for progress lines. Begin is called
// when a stage starts, Done when it succeeded, with what it found.
type Observer interface {
	Begin(stage string)
	Done(stage string, took time.Duration, detail string)
}

// Options are the process's side of opening a path: where logs go, what
// the environment says. The zero value works.
type Options struct {
	// SSMSessions is how many Session Manager sessions the ssm route
	// spreads connections over when the spec's route sets none: more
	// for a proxy or tunnel than for one client (0: one).
	SSMSessions int
	// Log receives warnings and debug lines (default: discard).
	Log *slog.Logger
	// Observer hears the stages (default: nobody).
	Observer Observer
	// Getenv reads the environment (default os.Getenv).
	Getenv func(string) string
	// Stderr receives an MFA prompt, if the profile needs one.
	Stderr io.Writer
	// AWSConfigFiles and AWSCredentialsFiles replace the shared AWS files
	// when set (the sandbox's, for one).
	AWSConfigFiles, AWSCredentialsFiles []string
	// KnownNames are the names the user's configuration gives targets,
	// for "did you mean" when a name matches nothing.
	KnownNames []string
}

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = quiet{}
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
}

type quiet struct{}

func (quiet) Begin(string)                       {}
func (quiet) Done(string, time.Duration, string) {}

// Path is an open path to one database. Close it.
type Path struct {
	// Spec is what was asked for.
	Spec Spec
	// AWS is the AWS configuration the path was opened with.
	AWS aws.Config
	// Identity is who the credentials are.
	Identity awsconf.Identity
	// Target is the database found.
	Target target.Target
	// Route is the route taken: Via filled in, an ssm route's Bastion the
	// instance found (by id or tag).
	Route Route
	// Dialer reaches the database over the route.
	Dialer tunnel.Dialer
	// Bundle verifies the server's certificate.
	Bundle *rdsca.Bundle
	// Password is the login's password source with Auth.Method "password";
	// nil logs in with IAM tokens.
	Password *proxy.PasswordCredentials
	// obs hears the stages that run after Open (Local.Login).
	obs Observer
}

// Close ends the route's sessions and sockets.
func (p *Path) Close() error {
	if p == nil || p.Dialer == nil {
		return nil
	}
	return p.Dialer.Close()
}

// LoadAWS returns the AWS configuration spec asks for and checks that
// credentials are there.
func LoadAWS(ctx context.Context, spec Spec, opts Options) (aws.Config, error) {
	cfg, err := awsconf.Load(ctx, awsconf.Options{Profile: spec.Profile, Region: spec.Region, Stderr: opts.Stderr,
		ConfigFiles: opts.AWSConfigFiles, CredentialsFiles: opts.AWSCredentialsFiles})
	if err != nil {
		return cfg, err
	}
	if _, err := awsconf.Check(ctx, cfg, spec.Profile); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Resolver finds spec's target with the RDS API of cfg.
func Resolver(cfg aws.Config, spec Spec) *target.Resolver {
	r := &target.Resolver{API: rds.NewFromConfig(cfg), Region: cfg.Region}
	if spec.Identifier != "" || spec.Endpoint != "" {
		r.Named = map[string]target.Spec{spec.Name: {Name: spec.Name, Identifier: spec.Identifier, Endpoint: spec.Endpoint,
			Port: spec.Port, Engine: spec.Engine}}
	}
	return r
}

// Resolve runs the first stages of Open: AWS credentials and identity,
// then the target. The Path it returns has no route yet; token and policy
// commands need no more.
func Resolve(ctx context.Context, spec Spec, opts Options) (*Path, error) {
	opts.defaults()
	p := &Path{Spec: spec, obs: opts.Observer}
	var err error
	if p.AWS, err = LoadAWS(ctx, spec, opts); err != nil {
		return nil, stage.WrapTarget(stage.Credentials, spec.Name, err)
	}
	if err := runStage(opts.Observer, StageIdentity, func() (string, error) {
		p.Identity, err = awsconf.WhoAmI(ctx, p.AWS, spec.Profile)
		return fmt.Sprintf("%s (account %s, region %s)", p.Identity.ARN, p.Identity.Account, p.AWS.Region), err
	}); err != nil {
		return nil, stage.WrapTarget(stage.Identity, spec.Name, err)
	}
	if err := runStage(opts.Observer, StageTarget, func() (string, error) {
		p.Target, err = Resolver(p.AWS, spec).Resolve(ctx, spec.Name)
		return fmt.Sprintf("%s (%s %s) at %s", p.Target.Identifier, p.Target.Engine, p.Target.EngineVersion, p.Target.Address()), err
	}); err != nil {
		return nil, stage.WrapTarget(stage.Target, spec.Name, didYouMean(ctx, p.AWS, spec.Name, opts.KnownNames, err))
	}
	return p, nil
}

// Open resolves spec stage by stage: AWS credentials and identity, the
// target (as Resolve), the login settings, the route and the CA bundle. On
// error nothing stays open.
func Open(ctx context.Context, spec Spec, opts Options) (*Path, error) {
	opts.defaults()
	p, err := Resolve(ctx, spec, opts)
	if err != nil {
		return nil, err
	}
	if p.Target.Family() == "" {
		return nil, stage.WrapTarget(stage.Target, spec.Name, fmt.Errorf("%s runs %s, which rdsgate does not speak (PostgreSQL, MySQL and MariaDB engines only)", p.Target.Identifier, p.Target.Engine))
	}
	if spec.SSLNegotiation == "direct" && p.Target.Family() != target.FamilyPostgres {
		return nil, stage.WrapTarget(stage.Target, spec.Name, fmt.Errorf("ssl_negotiation: direct is PostgreSQL 17's; %s runs %s", p.Target.Identifier, p.Target.Engine))
	}
	if p.Password, err = PasswordCredentials(p.AWS, spec, opts); err != nil {
		return nil, stage.WrapTarget(stage.Credentials, spec.Name, err)
	}
	route, err := managedBastion(ctx, p, opts.Observer)
	if err != nil {
		return nil, stage.WrapTarget(stage.Route, spec.Name, err)
	}
	if err := runStage(opts.Observer, StageRoute, func() (string, error) {
		route.SSMSessions = cmp.Or(route.SSMSessions, opts.SSMSessions)
		p.Dialer, p.Route, err = NewDialer(ctx, p.AWS, route, p.Target.Address(), spec.Profile, opts.Log)
		if err != nil {
			return "", err
		}
		return describeRoute(p.Route, p.Target.Address()), nil
	}); err != nil {
		return nil, stage.WrapTarget(stage.Route, spec.Name, err)
	}
	p.Bundle, err = rdsca.Load(ctx, rdsca.Options{File: spec.CABundle, Getenv: opts.Getenv, Region: p.Target.Region, Log: opts.Log})
	if err != nil {
		p.Close()
		return nil, stage.WrapTarget(stage.TLS, spec.Name, err)
	}
	return p, nil
}

// managedBastion is p's route with the bastion filled in: on the ssm route
// with no bastion named, the rdsgate bastion of the target's VPC, started
// (its progress shown) when stopped unless the route says NoStart. A VPC
// without one leaves the route as it is (NewDialer then says a bastion is
// needed).
func managedBastion(ctx context.Context, p *Path, obs Observer) (Route, error) {
	r := p.Spec.Route
	if r.Via != "ssm" || r.Bastion != "" || r.BastionTag != "" || p.Target.VPC == "" {
		return r, nil
	}
	id, err := bastion.Ready(ctx, bastion.NewClients(p.AWS), p.Target.VPC, !r.NoStart, obs)
	switch {
	case errors.Is(err, bastion.ErrNoBastion):
		return r, nil
	case err != nil:
		return r, err
	}
	r.Bastion = id
	return r, nil
}

// didYouMean adds the closest name to a target that matches nothing: one
// of known, or of the region's instances and clusters (one more listing,
// on this failure only); and, for a name looked up in a region, how to
// look in another.
func didYouMean(ctx context.Context, cfg aws.Config, name string, known []string, err error) error {
	if !errors.Is(err, target.ErrNotFound) {
		return err
	}
	names := slices.Clone(known)
	if ts, lerr := List(ctx, cfg); lerr == nil {
		for _, t := range ts {
			names = append(names, t.Identifier)
		}
	}
	if s, ok := suggest.Closest(name, names); ok {
		err = fmt.Errorf("%w: did you mean %s?", err, s)
	}
	if region := target.NotFoundRegion(err); region != "" {
		return setting.Errorf("%w (run `rdsgate ls %s`, or pass %s)", err, setting.Region.Is(region), setting.Region)
	}
	return err
}

// runStage runs fn as the named stage, telling obs.
func runStage(obs Observer, name string, fn func() (string, error)) error {
	t0 := time.Now()
	obs.Begin(name)
	detail, err := fn()
	if err != nil {
		obs.Done(name, -1, "")
		return err
	}
	obs.Done(name, time.Since(t0), detail)
	return nil
}

// describeRoute is the progress line of a route as taken.
func describeRoute(r Route, address string) string {
	switch r.Via {
	case "ssm":
		via := "Session Manager port forwarding through bastion " + r.Bastion
		switch {
		case r.SSMPlugin != "":
			via = "Session Manager port forwarding (AWS's session-manager-plugin) through bastion " + r.Bastion
		case r.SSMSessions > 1:
			via += fmt.Sprintf(" (connections spread over up to %d sessions)", r.SSMSessions)
		}
		return via
	case "ssh":
		return "SSH through " + r.SSH
	}
	return "direct TCP to " + cmp.Or(r.Address, address)
}

// Upstream is the proxy's upstream for p: IAM tokens from tokens (shared by
// the paths of one process), or the password source.
func (p *Path) Upstream(tokens *iamauth.Cache, loginsPerSecond int) *proxy.Upstream {
	var creds proxy.Credentials = &proxy.IAMCredentials{Cache: tokens, Host: p.Target.Host, Port: p.Target.Port, Region: p.Target.Region}
	if p.Password != nil {
		creds = p.Password
	}
	up := &proxy.Upstream{
		Target:      p.Target,
		Dialer:      p.Dialer,
		TLS:         p.Bundle.TLSConfig(p.Target.Host),
		Credentials: creds,
		Account:     p.Identity.Account,
		DirectTLS:   p.Spec.SSLNegotiation == "direct",
	}
	if loginsPerSecond > 0 {
		up.Logins = proxy.NewRateLimiter(loginsPerSecond, loginsPerSecond)
	}
	return up
}

// ErrNoPasswordSource is a password login with no source of the password.
var ErrNoPasswordSource = setting.Invalidf("auth: password needs a password source: %s, %s or %s", setting.PasswordSecret, setting.PasswordEnv, setting.PasswordFile)

// ErrEICNeedsBastion is an EC2 Instance Connect login with no instance.
var ErrEICNeedsBastion = setting.Invalidf("%s needs the bastion's instance: pass %s or %s", setting.SSHEIC, setting.Bastion.Is("i-..."), setting.BastionTag.Is("KEY=VALUE"))

// List returns the region's DB instances and clusters.
func List(ctx context.Context, cfg aws.Config) ([]target.Target, error) {
	return target.List(ctx, rds.NewFromConfig(cfg), cfg.Region)
}

// Names are known (e.g. the config files' names) and then the identifiers
// of the region's instances and clusters that known lacks, as far as the
// RDS API answers before ctx ends: for shell completion.
func Names(ctx context.Context, cfg aws.Config, known []string) []string {
	names := slices.Clone(known)
	ts, _ := List(ctx, cfg)
	for _, t := range ts {
		if !slices.Contains(names, t.Identifier) {
			names = append(names, t.Identifier)
		}
	}
	return names
}

// Token signs an IAM database authentication token for spec.User: for
// spec's target (resolved as Resolve does) when spec names one, with host
// and port overriding the target's endpoint, or for host:port alone. The
// token is signed for the endpoint's name even when a tunnel carries it.
// It returns the target found (zero without one).
func Token(ctx context.Context, spec Spec, host string, port int, opts Options) (string, target.Target, error) {
	opts.defaults()
	if h, p, err := net.SplitHostPort(host); err == nil && port == 0 {
		// host:port, as people paste endpoints.
		host = h
		if n, err := strconv.Atoi(p); err == nil {
			port = n
		}
	}
	if spec.Name == "" && port == 0 {
		return "", target.Target{}, setting.Invalidf("pass %s with %s (RDS endpoints have no default port in a token)", setting.Port, setting.Host)
	}
	var cfg aws.Config
	var t target.Target
	if spec.Name != "" {
		p, err := Resolve(ctx, spec, opts)
		if err != nil {
			return "", t, err
		}
		t, cfg = p.Target, p.AWS
		host, port = cmp.Or(host, t.Host), cmp.Or(port, t.Port)
		if !t.IAMAuth {
			opts.Log.Warn(fmt.Sprintf("IAM database authentication is disabled on %s; the server will refuse this token", t.Identifier),
				"fix", t.EnableIAMAuthCommand())
		}
		cfg.Region = cmp.Or(t.Region, cfg.Region)
	} else {
		var err error
		if cfg, err = LoadAWS(ctx, spec, opts); err != nil {
			return "", t, stage.Wrap(stage.Credentials, err)
		}
	}
	if spec.User == "" {
		return "", t, setting.Errorf("name the database user to sign for with %s", setting.User.Is("DBUSER"))
	}
	tok, err := iamauth.Build(ctx, iamauth.Endpoint{Host: host, Port: port, Region: cfg.Region, User: spec.User}, cfg.Credentials, time.Now())
	if err != nil {
		return "", t, fmt.Errorf("build token: %w", awsconf.Explain(err, spec.Profile))
	}
	opts.Log.Debug("signed token", "host", host, "port", port, "region", cfg.Region, "user", spec.User, "valid", iamauth.TokenLifetime)
	return tok, t, nil
}
