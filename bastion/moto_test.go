package bastion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/target"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("moto setup: %v", err))
	}
	return v
}

// motoVPC builds a VPC with a private subnet (no NAT) and a database
// security group admitting an app group, and returns the target.
func motoVPC(t *testing.T, ctx context.Context, e *ec2.Client, region string) target.Target {
	vpc := aws.ToString(must(e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.8.0.0/16")})).Vpc.VpcId)
	subnet := aws.ToString(must(e.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpc, CidrBlock: aws.String("10.8.1.0/24"), AvailabilityZone: aws.String(region + "a")})).Subnet.SubnetId)
	app := must(e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("app"), Description: aws.String("app"), VpcId: &vpc}))
	db := must(e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("db"), Description: aws.String("db"), VpcId: &vpc}))
	must(e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: db.GroupId, IpPermissions: []ec2types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432), UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: app.GroupId}}}}}))
	return target.Target{Identifier: "orders", Region: region, Port: 5432, VPC: vpc, Subnets: []string{subnet}, SecurityGroups: []string{aws.ToString(db.GroupId)}}
}

// TestMotoCreateDestroy creates the bastion in moto and reads it back with
// the AWS CLI, then destroys it and checks that nothing tagged is left
// and the database's group is as before.
func TestMotoCreateDestroy(t *testing.T) {
	// moto knows AWS's managed policies only when asked to load them.
	t.Setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
	moto := testharness.StartMoto(t)
	ctx := t.Context()
	cfg := moto.AWSConfig()
	c := NewClients(cfg)
	tg := motoVPC(t, ctx, c.EC2, cfg.Region)
	before := moto.CLI(t, "ec2", "describe-security-groups", "--group-ids", tg.SecurityGroups[0], "--query", "SecurityGroups[0].IpPermissions")

	d, err := NewDesign(ctx, c, tg, Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Endpoints || d.NAT || d.InstanceType != DefaultInstanceType || d.Architecture != "arm64" {
		t.Fatalf("design %+v: want endpoints, no NAT, %s arm64", d, DefaultInstanceType)
	}
	s, err := Observe(ctx, c, d)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPlan(d, s)
	if !p.Changes() {
		t.Fatal("a fresh VPC's plan changes nothing")
	}
	defer func(old time.Duration) { AgentTimeout = old }(AgentTimeout)
	defer func(old time.Duration) { PollInterval = old }(PollInterval)
	AgentTimeout, PollInterval = 2*time.Second, 100*time.Millisecond
	id, err := Apply(ctx, c, p, nil)
	// moto registers no SSM agent: Apply gets as far as waiting for it.
	var agentErr *AgentError
	if err != nil && !errors.As(err, &agentErr) {
		t.Fatalf("apply: %v", err)
	}
	t.Logf("instance %s, apply: %v", id, err)

	var insts struct {
		Reservations []struct {
			Instances []struct {
				InstanceId      string
				KeyName         *string
				PublicIpAddress *string
				MetadataOptions struct {
					HttpTokens              string
					HttpPutResponseHopLimit int
				}
				IamInstanceProfile struct{ Arn string }
				SubnetId           string
			}
		}
	}
	out := moto.CLI(t, "ec2", "describe-instances", "--filters", "Name=tag:"+TagKey+",Values="+tg.VPC)
	if err := json.Unmarshal(out, &insts); err != nil || len(insts.Reservations) != 1 || len(insts.Reservations[0].Instances) != 1 {
		t.Fatalf("describe-instances: %v\n%s", err, out)
	}
	inst := insts.Reservations[0].Instances[0]
	if inst.KeyName != nil || inst.PublicIpAddress != nil || inst.MetadataOptions.HttpTokens != "required" || inst.SubnetId != tg.Subnets[0] ||
		!strings.HasSuffix(inst.IamInstanceProfile.Arn, "/"+d.Name()) {
		t.Errorf("instance as the AWS CLI reads it:\n%s", out)
	}
	pols := string(moto.CLI(t, "iam", "list-attached-role-policies", "--role-name", d.Name(), "--query", "AttachedPolicies[].PolicyArn", "--output", "text"))
	if strings.TrimSpace(pols) != SSMCorePolicyARN {
		t.Errorf("role policies %q, want only %s", pols, SSMCorePolicyARN)
	}
	prof := string(moto.CLI(t, "iam", "get-instance-profile", "--instance-profile-name", d.Name(), "--query", "InstanceProfile.Roles[].RoleName", "--output", "text"))
	if strings.TrimSpace(prof) != d.Name() {
		t.Errorf("instance profile roles %q", prof)
	}
	type perm struct {
		IpProtocol       string
		FromPort, ToPort int
		UserIdGroupPairs []struct{ GroupId string }
		IpRanges         []struct{ CidrIp string }
	}
	var groups struct {
		SecurityGroups []struct {
			GroupId, GroupName  string
			IpPermissions       []perm
			IpPermissionsEgress []perm
		}
	}
	out = moto.CLI(t, "ec2", "describe-security-groups", "--filters", "Name=vpc-id,Values="+tg.VPC)
	if err := json.Unmarshal(out, &groups); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, g := range groups.SecurityGroups {
		ids[g.GroupName] = g.GroupId
	}
	show := func(ps []perm) []string {
		var out []string
		for _, p := range ps {
			for _, g := range p.UserIdGroupPairs {
				out = append(out, fmt.Sprintf("%s %d-%d %s", p.IpProtocol, p.FromPort, p.ToPort, g.GroupId))
			}
			for _, r := range p.IpRanges {
				out = append(out, fmt.Sprintf("%s %d-%d %s", p.IpProtocol, p.FromPort, p.ToPort, r.CidrIp))
			}
		}
		slices.Sort(out)
		return out
	}
	for _, g := range groups.SecurityGroups {
		var in, eg []string
		switch g.GroupName {
		case d.Name():
			eg = []string{"tcp 443-443 " + ids[d.EndpointGroupName()], "tcp 5432-5432 " + tg.SecurityGroups[0]}
			slices.Sort(eg)
		case d.EndpointGroupName():
			in, eg = []string{"tcp 443-443 " + ids[d.Name()]}, show(g.IpPermissionsEgress)
		case "db":
			in, eg = []string{"tcp 5432-5432 " + ids["app"], "tcp 5432-5432 " + ids[d.Name()]}, show(g.IpPermissionsEgress)
			slices.Sort(in)
		default:
			continue
		}
		if got := show(g.IpPermissions); !slices.Equal(got, in) {
			t.Errorf("%s ingress %v, want %v", g.GroupName, got, in)
		}
		if got := show(g.IpPermissionsEgress); !slices.Equal(got, eg) {
			t.Errorf("%s egress %v, want %v", g.GroupName, got, eg)
		}
	}

	// A second plan changes nothing but the instance's agent.
	s, err = Observe(ctx, c, d)
	if err != nil {
		t.Fatal(err)
	}
	if p := NewPlan(d, s); p.Changes() {
		var b strings.Builder
		_ = p.WriteText(&b)
		t.Errorf("second plan changes something:\n%s", b.String())
	}

	o, err := FindOwned(ctx, c, tg.VPC)
	if err != nil {
		t.Fatal(err)
	}
	if err := Destroy(ctx, c, o, nil); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if o, err := FindOwned(ctx, c, tg.VPC); err != nil || !o.Empty() {
		t.Fatalf("after destroy: %+v, %v", o, err)
	}
	for _, q := range [][]string{
		{"ec2", "describe-security-groups", "--filters", "Name=tag-key,Values=" + TagKey, "--query", "SecurityGroups[].GroupId", "--output", "text"},
		{"ec2", "describe-vpc-endpoints", "--filters", "Name=tag-key,Values=" + TagKey, "--query", "VpcEndpoints[?State!='deleted'].VpcEndpointId", "--output", "text"},
		{"ec2", "describe-instances", "--filters", "Name=tag-key,Values=" + TagKey, "Name=instance-state-name,Values=pending,running,stopping,stopped", "--query", "Reservations[].Instances[].InstanceId", "--output", "text"},
		{"iam", "list-roles", "--query", "Roles[?RoleName=='" + d.Name() + "'].RoleName", "--output", "text"},
		{"iam", "list-instance-profiles", "--query", "InstanceProfiles[].InstanceProfileName", "--output", "text"},
	} {
		if got := strings.TrimSpace(string(moto.CLI(t, q...))); got != "" {
			t.Errorf("aws %s after destroy: %s", strings.Join(q[:2], " "), got)
		}
	}
	if after := moto.CLI(t, "ec2", "describe-security-groups", "--group-ids", tg.SecurityGroups[0], "--query", "SecurityGroups[0].IpPermissions"); string(after) != string(before) {
		t.Errorf("database group after destroy:\n%s\nbefore:\n%s", after, before)
	}
}
