package doctor

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/bastion"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/sandbox"
	"github.com/rdsgate/rdsgate/sandbox/world"
	"github.com/rdsgate/rdsgate/target"
)

func TestCheckHardening(t *testing.T) {
	hardened := ec2types.Instance{MetadataOptions: &ec2types.InstanceMetadataOptionsResponse{HttpTokens: ec2types.HttpTokensStateRequired}}
	tests := []struct {
		desc   string
		change func(*ec2types.Instance)
		status Status
		detail string
		fix    string
	}{
		{"hardened", func(*ec2types.Instance) {}, Pass, "no key pair, no public IP, IMDSv2 required", ""},
		{"key pair", func(i *ec2types.Instance) { i.KeyName = aws.String("ops") }, Warn, "key pair ops", "without a key pair"},
		{"public ip", func(i *ec2types.Instance) { i.PublicIpAddress = aws.String("203.0.113.7") }, Warn, "public IP 203.0.113.7", "private subnet"},
		{"imdsv1", func(i *ec2types.Instance) { i.MetadataOptions.HttpTokens = ec2types.HttpTokensStateOptional }, Warn, "IMDSv1", "--http-tokens required"},
		{"no metadata options", func(i *ec2types.Instance) { i.MetadataOptions = nil }, Warn, "IMDSv1", "--http-tokens required"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			inst := hardened
			inst.MetadataOptions = &ec2types.InstanceMetadataOptionsResponse{HttpTokens: hardened.MetadataOptions.HttpTokens}
			tc.change(&inst)
			res := checkHardening(inst, "i-1")
			if res.Status != tc.status || !strings.Contains(res.Detail.String(), tc.detail) || !strings.Contains(res.Fix.String(), tc.fix) {
				t.Errorf("%s %q fix %q; want %s %q fix %q", res.Status, res.Detail, res.Fix, tc.status, tc.detail, tc.fix)
			}
		})
	}
}

// TestBastionHostChecks runs doctor's bastion checks against the
// sandbox's bastion, which rdsgate did not create (no tag, no profile,
// no endpoints, the default egress), changing one thing per step: each
// check fails (or, with the agent online all the same, warns) with its
// fix, and passes once the fix is in, with endpoints someone else made.
func TestBastionHostChecks(t *testing.T) {
	ctx := t.Context()
	sb, err := sandbox.Start(ctx, sandbox.Options{Dir: t.TempDir(), Backend: sandbox.BackendEmbedded, Engines: []string{"postgres"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	cfg, err := config.LoadDefaultConfig(ctx, config.WithSharedConfigFiles([]string{filepath.Join(sb.Dir, "aws-config")}),
		config.WithSharedCredentialsFiles([]string{filepath.Join(sb.Dir, "aws-credentials")}), config.WithSharedConfigProfile(sandbox.ProfileAdmin))
	if err != nil {
		t.Fatal(err)
	}
	id, err := awsconf.WhoAmI(ctx, cfg, sandbox.ProfileAdmin)
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := sb.Instance(sandbox.InstancePG)
	tg := target.Target{Identifier: inst.Identifier, Region: cfg.Region, Host: inst.Endpoint, Port: inst.Port, VPC: inst.VPC, Subnets: inst.Subnets, SecurityGroups: inst.SecurityGroups}
	c := bastion.NewClients(cfg)
	var bastionSG, endpointSG string
	sb.World.Update(func() {
		// The sandbox's bastion is built carefully; this one starts bare
		// (no profile, no endpoints) and the steps build it up.
		sb.World.Bastions[0].InstanceProfile = ""
		sb.World.Endpoints = nil
		bastionSG = sb.World.Bastions[0].SecurityGroups[0]
	})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tcp := func(port int32, peer string) []ec2types.IpPermission {
		p := ec2types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port)}
		if strings.HasPrefix(peer, "sg-") {
			p.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: aws.String(peer)}}
		} else {
			p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(peer)}}
		}
		return []ec2types.IpPermission{p}
	}
	online := func(on bool) func(context.Context) error {
		return func(context.Context) error {
			sb.World.Update(func() { sb.World.Bastions[0].AgentOnline = on })
			return nil
		}
	}
	steps := []struct {
		desc   string
		change func(context.Context) error
		check  string
		status Status
		// want is in the detail, fix in the fix.
		want, fix string
	}{
		{"no profile, agent online", nil, "instance-profile", Warn, "has no instance profile; its agent is online all the same", "associate-iam-instance-profile --instance-id " + sandbox.BastionID},
		{"no path, agent online", nil, "ssm-network", Warn, "ssm missing, ssmmessages missing, ec2messages missing", "--service-name com.amazonaws." + cfg.Region + ".ssmmessages"},
		{"default egress", nil, "bastion-egress", Pass, "egress all traffic to 0.0.0.0/0", ""},
		{"no profile, agent offline", online(false), "instance-profile", Fail, "has no instance profile", "aws iam create-instance-profile --instance-profile-name ssm-bastion"},
		{"no path, agent offline", nil, "ssm-network", Fail, "has no NAT route", "create-vpc-endpoint --vpc-id " + inst.VPC},
		{"a role without the core policy", func(ctx context.Context) error {
			trust := bastion.Design{}.TrustPolicy()
			if _, err := c.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("hand-made"), AssumeRolePolicyDocument: &trust}); err != nil {
				return err
			}
			if _, err := c.IAM.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String("hand-made")}); err != nil {
				return err
			}
			if _, err := c.IAM.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String("hand-made"), RoleName: aws.String("hand-made")}); err != nil {
				return err
			}
			// The sandbox has no AssociateIamInstanceProfile: the world
			// stands in for it.
			sb.World.Update(func() { sb.World.Bastions[0].InstanceProfile = "hand-made" })
			return nil
		}, "instance-profile", Fail, "role hand-made (instance profile hand-made) lacks AmazonSSMManagedInstanceCore", "attach-role-policy --role-name hand-made --policy-arn " + bastion.SSMCorePolicyARN},
		{"the core policy and another", func(ctx context.Context) error {
			for _, p := range []string{bastion.SSMCorePolicyARN, "arn:aws:iam::aws:policy/AmazonS3FullAccess"} {
				if _, err := c.IAM.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("hand-made"), PolicyArn: aws.String(p)}); err != nil {
					return err
				}
			}
			return nil
		}, "instance-profile", Warn, "also arn:aws:iam::aws:policy/AmazonS3FullAccess", "detach-role-policy --role-name hand-made --policy-arn arn:aws:iam::aws:policy/AmazonS3FullAccess"},
		{"only the core policy", func(ctx context.Context) error {
			_, err := c.IAM.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("hand-made"), PolicyArn: aws.String("arn:aws:iam::aws:policy/AmazonS3FullAccess")})
			return err
		}, "instance-profile", Pass, "instance profile hand-made, role hand-made with only AmazonSSMManagedInstanceCore", ""},
		{"someone else's endpoints, closed to the bastion", func(ctx context.Context) error {
			g, err := c.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("endpoints"), Description: aws.String("by hand"), VpcId: aws.String(inst.VPC)})
			if err != nil {
				return err
			}
			endpointSG = aws.ToString(g.GroupId)
			for _, short := range bastion.EndpointServices {
				_, err := c.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: aws.String(inst.VPC), ServiceName: aws.String("com.amazonaws." + cfg.Region + "." + short),
					VpcEndpointType: ec2types.VpcEndpointTypeInterface, SubnetIds: inst.Subnets, SecurityGroupIds: []string{endpointSG}, PrivateDnsEnabled: aws.Bool(short != "ec2messages")})
				if err != nil {
					return err
				}
			}
			return nil
		}, "ssm-network", Fail, "ssm closed to the bastion, ssmmessages closed to the bastion, ec2messages private DNS off", "modify-vpc-endpoint --vpc-endpoint-id vpce-"},
		{"the endpoints' group admits the bastion", func(ctx context.Context) error {
			_, err := c.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &endpointSG, IpPermissions: tcp(443, bastionSG)})
			return err
		}, "ssm-network", Fail, "ec2messages private DNS off", ""},
		{"a NAT route", func(ctx context.Context) error {
			sb.World.Update(func() {
				rt := &sb.World.RouteTables[0]
				rt.Routes = append(rt.Routes, world.Route{Destination: "0.0.0.0/0", NATGateway: "nat-0hand"})
			})
			return nil
		}, "ssm-network", Pass, "routes 0.0.0.0/0 to NAT gateway nat-0hand", ""},
		{"the endpoints serve it", func(ctx context.Context) error {
			sb.World.Update(func() {
				rt := &sb.World.RouteTables[0]
				rt.Routes = rt.Routes[:len(rt.Routes)-1]
				for i := range sb.World.Endpoints {
					sb.World.Endpoints[i].PrivateDNS = true
				}
			})
			return nil
		}, "ssm-network", Pass, "(not rdsgate's)", ""},
		{"no egress", func(ctx context.Context) error {
			_, err := c.EC2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: &bastionSG, IpPermissions: []ec2types.IpPermission{
				{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
			return err
		}, "bastion-egress", Fail, "no egress to " + inst.SecurityGroups[0] + " on port 5432 and no egress on 443", "UserIdGroupPairs=[{GroupId=" + inst.SecurityGroups[0] + "}]"},
		{"egress to the database only", func(ctx context.Context) error {
			_, err := c.EC2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: &bastionSG, IpPermissions: tcp(5432, inst.SecurityGroups[0])})
			return err
		}, "bastion-egress", Fail, "no egress on 443", "FromPort=443,ToPort=443,UserIdGroupPairs=[{GroupId=sg-"},
		{"egress to the endpoints too", func(ctx context.Context) error {
			_, err := c.EC2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: &bastionSG, IpPermissions: tcp(443, endpointSG)})
			return err
		}, "bastion-egress", Pass, "egress tcp 443 to sg-", ""},
		{"egress to the database's subnet by CIDR", func(ctx context.Context) error {
			if _, err := c.EC2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: &bastionSG, IpPermissions: tcp(5432, inst.SecurityGroups[0])}); err != nil {
				return err
			}
			_, err := c.EC2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: &bastionSG, IpPermissions: tcp(5432, "10.0.0.0/16")})
			return err
		}, "bastion-egress", Pass, "egress tcp 5432 to 10.0.0.0/16", ""},
	}
	route := dbpath.Route{Via: "ssm", Bastion: sandbox.BastionID}
	for _, st := range steps {
		if st.change != nil {
			must(st.change(ctx))
		}
		r := &Report{}
		checkBastion(ctx, r, cfg, id, tg, route)
		var got *Result
		for i := range r.Results {
			if r.Results[i].ID == st.check {
				got = &r.Results[i]
			}
		}
		if got == nil {
			t.Fatalf("%s: no check %s in %+v", st.desc, st.check, r.Results)
		}
		if got.Status != st.status || !strings.Contains(got.Detail.String(), st.want) || !strings.Contains(got.Fix.String(), st.fix) {
			t.Errorf("%s: %s %s\n  detail %s\n  fix %s\nwant %s, detail with %q, fix with %q", st.desc, st.check, got.Status, got.Detail, got.Fix, st.status, st.want, st.fix)
		}
	}
}
