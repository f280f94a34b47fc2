package dbpath

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/rdsgate/rdsgate/bastion"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/tunnel"
	"github.com/rdsgate/rdsgate/tunnel/direct"
	sshtunnel "github.com/rdsgate/rdsgate/tunnel/ssh"
	ssmtunnel "github.com/rdsgate/rdsgate/tunnel/ssm"
)

// OpenRoute opens spec's route to remote (HOST:PORT) alone, with no
// target: for forwarding to anything the bastion reaches. Only the ssm
// route and EC2 Instance Connect need AWS credentials; an SSH bastion
// with a key or the agent does not.
func OpenRoute(ctx context.Context, spec Spec, remote string, opts Options) (*Path, error) {
	opts.defaults()
	if _, _, err := net.SplitHostPort(remote); err != nil {
		return nil, setting.Invalidf("%s: want HOST:PORT", setting.Remote.Is(strconv.Quote(remote)))
	}
	p := &Path{Spec: spec, Route: spec.Route, obs: opts.Observer}
	var err error
	if spec.Route.Via == "ssm" || spec.Route.SSHEIC {
		if p.AWS, err = LoadAWS(ctx, spec, opts); err != nil {
			return nil, err
		}
	}
	route := spec.Route
	route.SSMSessions = cmp.Or(route.SSMSessions, opts.SSMSessions)
	if p.Dialer, p.Route, err = NewDialer(ctx, p.AWS, route, remote, spec.Profile, opts.Log); err != nil {
		return nil, err
	}
	return p, nil
}

// NewDialer builds route's dialer towards remote (the database's
// host:port) and returns it with the route as taken: an ssm route's
// bastion is the instance found (by id or tag, its agent online). profile
// is handed to AWS's plugin, which calls the API itself.
func NewDialer(ctx context.Context, cfg aws.Config, route Route, remote, profile string, log *slog.Logger) (tunnel.Dialer, Route, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	route.Via = cmp.Or(route.Via, "direct")
	switch route.Via {
	case "direct":
		return &direct.Dialer{Address: route.Address}, route, nil
	case "ssm":
		bastion, err := ssmtunnel.FindBastion(ctx, ssmtunnel.BastionAPIs{EC2: ec2.NewFromConfig(cfg), SSM: ssm.NewFromConfig(cfg)}, route.Bastion, route.BastionTag)
		if err != nil {
			return nil, route, err
		}
		route.Bastion, route.BastionTag = bastion, ""
		client := ssm.NewFromConfig(cfg)
		var d tunnel.Dialer
		if route.SSMPlugin != "" {
			d, err = ssmtunnel.NewPlugin(ssmtunnel.PluginConfig{API: client, Plugin: route.SSMPlugin, Target: bastion, Region: cfg.Region,
				Profile: profile, Endpoint: aws.ToString(client.Options().BaseEndpoint), Log: log.With("route", "ssm-plugin")})
		} else {
			d, err = ssmtunnel.NewFromClient(client, ssmtunnel.Config{Target: bastion, Reason: "rdsgate", Sessions: route.SSMSessions, Log: log.With("route", "ssm")})
		}
		return d, route, err
	case "ssh":
		d, err := sshDialer(ctx, cfg, route, remote, log)
		if err != nil {
			return nil, route, err
		}
		return d, route, nil
	}
	return nil, route, fmt.Errorf("%q is not a route: use direct, ssm or ssh", route.Via)
}

// sshDialer builds the SSH bastion route. The host key must be known (or
// SSHAcceptNew); it connects at once so that host-key and login problems
// show before anything listens.
func sshDialer(ctx context.Context, cfg aws.Config, route Route, remote string, log *slog.Logger) (*sshtunnel.Dialer, error) {
	opts := sshtunnel.Options{Chain: route.SSH, AcceptNew: route.SSHAcceptNew, Logger: log.With("route", "ssh")}
	if route.SSHIdentity != "" {
		opts.Identities = []string{route.SSHIdentity}
	}
	if route.SSHKnownHosts != "" {
		opts.KnownHostsFiles = []string{route.SSHKnownHosts}
	}
	if route.Address != "" && remote != "" {
		// The bastion dials this instead of the endpoint (e.g. where its
		// resolver knows another name); TLS still checks the endpoint.
		opts.Addresses = map[string]string{remote: route.Address}
	}
	if route.SSHEIC {
		id, az, err := eicInstance(ctx, cfg, route)
		if err != nil {
			return nil, err
		}
		opts.EIC = &sshtunnel.EIC{Pusher: ec2instanceconnect.NewFromConfig(cfg), InstanceID: id, AvailabilityZone: az}
	}
	d, err := sshtunnel.New(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("ssh route to %s: %w", route.SSH, err)
	}
	return d, nil
}

// eicInstance finds the bastion's instance id and zone for EC2 Instance
// Connect: Bastion, or a running instance with BastionTag.
func eicInstance(ctx context.Context, cfg aws.Config, route Route) (string, string, error) {
	if route.Bastion == "" && route.BastionTag == "" {
		return "", "", ErrEICNeedsBastion
	}
	bs, err := ssmtunnel.DescribeBastions(ctx, ssmtunnel.BastionAPIs{EC2: ec2.NewFromConfig(cfg)}, route.Bastion, route.BastionTag)
	if err != nil {
		return "", "", fmt.Errorf("find the bastion for EC2 Instance Connect: %w", err)
	}
	if len(bs) == 0 {
		return "", "", fmt.Errorf("no running bastion matches %s", cmp.Or(route.Bastion, route.BastionTag))
	}
	return bs[0].ID(), bs[0].AvailabilityZone(), nil
}

// BastionID is the bastion p's ssm route goes through, for a policy that
// names it: the one the route names, the online one with its tag, or the
// VPC's rdsgate bastion (stopped or not; it is not started). With none,
// it is ssm.ErrNoBastion.
func (p *Path) BastionID(ctx context.Context) (string, error) {
	r := p.Spec.Route
	if r.Bastion != "" || r.BastionTag != "" {
		return ssmtunnel.FindBastion(ctx, ssmtunnel.BastionAPIs{EC2: ec2.NewFromConfig(p.AWS), SSM: ssm.NewFromConfig(p.AWS)}, r.Bastion, r.BastionTag)
	}
	if p.Target.VPC != "" {
		id, err := bastion.Ready(ctx, bastion.NewClients(p.AWS), p.Target.VPC, false, nil)
		var stopped *bastion.StoppedError
		switch {
		case err == nil || errors.As(err, &stopped):
			return id, nil
		case !errors.Is(err, bastion.ErrNoBastion):
			return "", err
		}
	}
	return "", ssmtunnel.ErrNoBastion
}
