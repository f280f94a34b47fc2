package awsapi

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

// withNAT gives the test world subnet-0sandboxa behind a NAT gateway and a
// principal "ops" allowed everything but iam:PassRole.
func withNAT(w *world.World, _ *Options) {
	w.Subnets = []world.Subnet{{ID: "subnet-0sandboxa", VPC: "vpc-0sandbox", AvailabilityZone: "us-east-1a", CIDR: "10.0.1.0/24"}}
	w.RouteTables = []world.RouteTable{{ID: "rtb-0nat", VPC: "vpc-0sandbox", Main: true, Routes: []world.Route{
		{Destination: "10.0.0.0/16", Gateway: "local"}, {Destination: "0.0.0.0/0", NATGateway: "nat-0sandbox"}}}}
	w.Parameters = map[string]string{"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64": "ami-0arm64"}
	ops := w.Principals[0]
	ops.Name, ops.ARN, ops.AccessKeyID, ops.UserID = "ops", "arn:aws:iam::111122223333:user/ops", "AKIASANDBOXOPS000001", "AIDASANDBOXOPS0000001"
	deny, _ := iampolicy.Parse([]byte(`{"Statement":[{"Effect":"Deny","Action":"iam:PassRole","Resource":"*"}]}`))
	ops.Policies = append(ops.Policies[:1:1], deny)
	w.Principals = append(w.Principals, ops)
}

func TestSecurityGroupWrites(t *testing.T) {
	e := start(t, withNAT)
	admin, intern := ec2.NewFromConfig(e.cfg(t, "admin")), ec2.NewFromConfig(e.cfg(t, "intern"))
	c := ctx(t)
	tags := []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("db")}}}}
	_, err := intern.CreateSecurityGroup(c, &ec2.CreateSecurityGroupInput{GroupName: aws.String("x"), Description: aws.String("x"), VpcId: aws.String("vpc-0sandbox")})
	wantCode(t, err, "UnauthorizedOperation")
	g, err := admin.CreateSecurityGroup(c, &ec2.CreateSecurityGroupInput{GroupName: aws.String("app"), Description: aws.String("app"), VpcId: aws.String("vpc-0sandbox"), TagSpecifications: tags})
	if err != nil {
		t.Fatal(err)
	}
	id := g.GroupId
	rule := func(peer string) []types.IpPermission {
		return []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(peer)}}}}
	}
	steps := []struct {
		desc string
		call func() error
		code string
	}{
		{"duplicate name", func() error {
			_, err := admin.CreateSecurityGroup(c, &ec2.CreateSecurityGroupInput{GroupName: aws.String("app"), Description: aws.String("x"), VpcId: aws.String("vpc-0sandbox")})
			return err
		}, "InvalidGroup.Duplicate"},
		{"unknown VPC", func() error {
			_, err := admin.CreateSecurityGroup(c, &ec2.CreateSecurityGroupInput{GroupName: aws.String("y"), Description: aws.String("x"), VpcId: aws.String("vpc-0nope")})
			return err
		}, "InvalidVpcID.NotFound"},
		{"rule from an unknown group", func() error {
			_, err := admin.AuthorizeSecurityGroupIngress(c, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: id, IpPermissions: rule("sg-0nope")})
			return err
		}, "InvalidGroup.NotFound"},
		{"the database admits app", func() error {
			_, err := admin.AuthorizeSecurityGroupIngress(c, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String("sg-0sandboxdb"), IpPermissions: rule(*id)})
			return err
		}, ""},
		{"twice", func() error {
			_, err := admin.AuthorizeSecurityGroupIngress(c, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String("sg-0sandboxdb"), IpPermissions: rule(*id)})
			return err
		}, "InvalidPermission.Duplicate"},
		{"intern revokes", func() error {
			_, err := intern.RevokeSecurityGroupIngress(c, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String("sg-0sandboxdb"), IpPermissions: rule(*id)})
			return err
		}, "UnauthorizedOperation"},
		{"a group a rule names", func() error {
			_, err := admin.DeleteSecurityGroup(c, &ec2.DeleteSecurityGroupInput{GroupId: id})
			return err
		}, "DependencyViolation"},
		{"revoke", func() error {
			_, err := admin.RevokeSecurityGroupIngress(c, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String("sg-0sandboxdb"), IpPermissions: rule(*id)})
			return err
		}, ""},
		{"revoke again", func() error {
			_, err := admin.RevokeSecurityGroupIngress(c, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String("sg-0sandboxdb"), IpPermissions: rule(*id)})
			return err
		}, "InvalidPermission.NotFound"},
		{"delete", func() error {
			_, err := admin.DeleteSecurityGroup(c, &ec2.DeleteSecurityGroupInput{GroupId: id})
			return err
		}, ""},
		{"delete again", func() error {
			_, err := admin.DeleteSecurityGroup(c, &ec2.DeleteSecurityGroupInput{GroupId: id})
			return err
		}, "InvalidGroup.NotFound"},
	}
	for _, s := range steps {
		err := s.call()
		if s.code == "" {
			if err != nil {
				t.Fatalf("%s: %v", s.desc, err)
			}
			continue
		}
		wantCode(t, err, s.code)
	}
}

// TestLaunchedInstanceBecomesTarget: an instance with the SSM role boots,
// registers once it runs, is a Session Manager target, and goes offline
// when its role loses the policy or it stops. Launching with a role needs
// iam:PassRole.
func TestLaunchedInstanceBecomesTarget(t *testing.T) {
	e := start(t, withNAT)
	cfg := e.cfg(t, "admin")
	ec, ic, sc := ec2.NewFromConfig(cfg), iam.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
	c := ctx(t)
	const name = "bastion-role"
	if _, err := ic.CreateRole(c, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(`{"Statement":[]}`)}); err != nil {
		t.Fatal(err)
	}
	_, err := ic.CreateRole(c, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(`{}`)})
	wantCode(t, err, "EntityAlreadyExists")
	if _, err := ic.AttachRolePolicy(c, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(world.SSMCorePolicyARN)}); err != nil {
		t.Fatal(err)
	}
	_, err = ic.DeleteRole(c, &iam.DeleteRoleInput{RoleName: aws.String(name)})
	wantCode(t, err, "DeleteConflict")
	if _, err := ic.CreateInstanceProfile(c, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.AddRoleToInstanceProfile(c, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String(name), RoleName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	run := &ec2.RunInstancesInput{ImageId: aws.String("ami-0arm64"), InstanceType: types.InstanceTypeT4gNano, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SubnetId: aws.String("subnet-0sandboxa"), SecurityGroupIds: []string{"sg-0sandboxbastion"},
		IamInstanceProfile: &types.IamInstanceProfileSpecification{Name: aws.String(name)}}
	_, err = ec2.NewFromConfig(e.cfg(t, "ops")).RunInstances(c, run)
	wantCode(t, err, "UnauthorizedOperation", "iam:PassRole")
	out, err := ec.RunInstances(c, run)
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	ping := func() ssmtypes.PingStatus {
		t.Helper()
		info, err := sc.DescribeInstanceInformation(c, &ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{
			{Key: aws.String("InstanceIds"), Values: []string{id}}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(info.InstanceInformationList) == 0 {
			return ""
		}
		return info.InstanceInformationList[0].PingStatus
	}
	state := func() types.InstanceStateName {
		t.Helper()
		d, err := ec.DescribeInstances(c, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		return d.Reservations[0].Instances[0].State.Name
	}
	session := func() error {
		_, err := sc.StartSession(c, &ssm.StartSessionInput{Target: aws.String(id), DocumentName: aws.String("AWS-StartPortForwardingSession")})
		return err
	}
	if out.Instances[0].State.Name != types.InstanceStateNamePending || ping() == ssmtypes.PingStatusOnline {
		t.Fatalf("a new instance: %s, agent %s", out.Instances[0].State.Name, ping())
	}
	wantCode(t, session(), "TargetNotConnected")
	e.clock.advance(2 * DefaultTransition)
	if state() != types.InstanceStateNameRunning || ping() != ssmtypes.PingStatusOnline {
		t.Fatalf("booted: %s, agent %s", state(), ping())
	}
	if err := session(); err != nil {
		t.Fatalf("session on the booted instance: %v", err)
	}
	if _, err := ic.DetachRolePolicy(c, &iam.DetachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(world.SSMCorePolicyARN)}); err != nil {
		t.Fatal(err)
	}
	if p := ping(); p == ssmtypes.PingStatusOnline {
		t.Errorf("agent without the policy: %s", p)
	}
	if _, err := ic.AttachRolePolicy(c, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String(world.SSMCorePolicyARN)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ec.StopInstances(c, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(2 * time.Second)
	if state() != types.InstanceStateNameStopped || ping() != ssmtypes.PingStatusConnectionLost {
		t.Errorf("stopped: %s, agent %s", state(), ping())
	}
	if _, err := ec.TerminateInstances(c, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(2 * time.Second)
	_, err = ec.StartInstances(c, &ec2.StartInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "IncorrectInstanceState")
}
