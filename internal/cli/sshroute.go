package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"

	"github.com/rdsgate/rdsgate/config"
	sshtunnel "github.com/rdsgate/rdsgate/tunnel/ssh"
)

// sshDialer builds the SSH bastion route. The host key must be known (or
// --ssh-accept-new); it connects at once so that host-key and login problems
// show before anything listens.
func (a *app) sshDialer(ctx context.Context, cfg aws.Config, route config.Route, target string) (*sshtunnel.Dialer, error) {
	opts := sshtunnel.Options{Chain: route.SSH, AcceptNew: a.sshAcceptNew, Logger: a.log.With("route", "ssh")}
	if route.SSHIdentity != "" {
		opts.Identities = []string{route.SSHIdentity}
	}
	if route.SSHKnownHosts != "" {
		opts.KnownHostsFiles = []string{route.SSHKnownHosts}
	}
	if route.Address != "" && target != "" {
		// The bastion dials this instead of the endpoint (e.g. where its
		// resolver knows another name); TLS still checks the endpoint.
		opts.Addresses = map[string]string{target: route.Address}
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
// Connect: --bastion, or a running instance with --bastion-tag.
func eicInstance(ctx context.Context, cfg aws.Config, route config.Route) (string, string, error) {
	in := &ec2.DescribeInstancesInput{}
	switch {
	case route.Bastion != "":
		in.InstanceIds = []string{route.Bastion}
	case route.BastionTag != "":
		k, v, _ := strings.Cut(route.BastionTag, "=")
		in.Filters = []ec2types.Filter{{Name: aws.String("tag:" + k), Values: []string{v}}, {Name: aws.String("instance-state-name"), Values: []string{"running"}}}
	default:
		return "", "", usagef("--ssh-eic needs the bastion's instance: pass --bastion i-... or --bastion-tag KEY=VALUE")
	}
	out, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx, in)
	if err != nil {
		return "", "", fmt.Errorf("find the bastion for EC2 Instance Connect: %w", err)
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			az := ""
			if i.Placement != nil {
				az = aws.ToString(i.Placement.AvailabilityZone)
			}
			return aws.ToString(i.InstanceId), az, nil
		}
	}
	return "", "", fmt.Errorf("no running bastion matches %s", first(route.Bastion, route.BastionTag))
}
