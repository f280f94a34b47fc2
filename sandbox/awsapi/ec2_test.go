package awsapi

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestDescribeInstances(t *testing.T) {
	e := start(t)
	client := ec2.NewFromConfig(e.cfg(t, "admin"))
	ids := func(in *ec2.DescribeInstancesInput) []string {
		t.Helper()
		out, err := client.DescribeInstances(ctx(t), in)
		if err != nil {
			t.Fatalf("DescribeInstances: %v", err)
		}
		var got []string
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				got = append(got, aws.ToString(i.InstanceId))
			}
		}
		return got
	}
	filter := func(name string, vals ...string) []types.Filter {
		return []types.Filter{{Name: aws.String(name), Values: vals}}
	}
	for _, tc := range []struct {
		name string
		in   *ec2.DescribeInstancesInput
		want int
	}{
		{"all", &ec2.DescribeInstancesInput{}, 2},
		{"by id", &ec2.DescribeInstancesInput{InstanceIds: []string{bastionID}}, 1},
		{"instance-id filter", &ec2.DescribeInstancesInput{Filters: filter("instance-id", bastionID)}, 1},
		{"tag:Name", &ec2.DescribeInstancesInput{Filters: filter("tag:Name", "rdsgate-sandbox-bastion")}, 1},
		{"tag:Name wildcard", &ec2.DescribeInstancesInput{Filters: filter("tag:Name", "rdsgate-*")}, 1},
		{"tag:Name none", &ec2.DescribeInstancesInput{Filters: filter("tag:Name", "other")}, 0},
		{"state running", &ec2.DescribeInstancesInput{Filters: filter("instance-state-name", "running")}, 2},
		{"state stopped", &ec2.DescribeInstancesInput{Filters: filter("instance-state-name", "stopped")}, 0},
		{"two filters", &ec2.DescribeInstancesInput{Filters: append(filter("tag:team", "platform"), filter("vpc-id", "vpc-0sandbox")...)}, 1},
	} {
		if got := ids(tc.in); len(got) != tc.want || tc.want == 1 && got[0] != bastionID {
			t.Errorf("%s: %v, want %d", tc.name, got, tc.want)
		}
	}
	out, err := client.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{bastionID}})
	if err != nil {
		t.Fatal(err)
	}
	i := out.Reservations[0].Instances[0]
	if i.State == nil || i.State.Name != types.InstanceStateNameRunning || aws.ToInt32(i.State.Code) != 16 ||
		aws.ToString(i.VpcId) != "vpc-0sandbox" || aws.ToString(i.SubnetId) != "subnet-0sandboxa" ||
		aws.ToString(i.PrivateIpAddress) != "10.0.1.10" || aws.ToString(i.Placement.AvailabilityZone) != "us-east-1a" ||
		len(i.SecurityGroups) != 1 || aws.ToString(i.SecurityGroups[0].GroupId) != "sg-0sandboxbastion" ||
		aws.ToString(i.SecurityGroups[0].GroupName) != "bastion" || len(i.Tags) != 2 ||
		// The world gives this bastion no instance profile: none is reported.
		i.IamInstanceProfile != nil ||
		aws.ToString(out.Reservations[0].OwnerId) != testAccount {
		t.Errorf("instance: %+v", i)
	}

	_, err = client.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	wantCode(t, err, "InvalidInstanceID.NotFound", "The instance ID 'i-0123456789abcdef0' does not exist")
	_, err = client.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{"bogus"}})
	wantCode(t, err, "InvalidInstanceID.Malformed")
	_, err = client.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{Filters: filter("colour", "x")})
	wantCode(t, err, "InvalidParameterValue", "The filter 'colour' is invalid")
	_, err = client.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{DryRun: aws.Bool(true)})
	wantCode(t, err, "DryRunOperation")

	// Pagination over the two bastions... MaxResults must be ≥ 5.
	_, err = client.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{MaxResults: aws.Int32(2)})
	wantCode(t, err, "InvalidParameterValue")

	intern := ec2.NewFromConfig(e.cfg(t, "intern"))
	_, err = intern.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
	wantCode(t, err, "UnauthorizedOperation", "You are not authorized to perform this operation. User: arn:aws:iam::111122223333:user/intern is not authorized to perform: ec2:DescribeInstances")
	_, err = intern.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{DryRun: aws.Bool(true)})
	wantCode(t, err, "UnauthorizedOperation")
}

func TestDescribeSecurityGroups(t *testing.T) {
	e := start(t)
	client := ec2.NewFromConfig(e.cfg(t, "admin"))
	out, err := client.DescribeSecurityGroups(ctx(t), &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0sandboxdb"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.SecurityGroups) != 1 {
		t.Fatalf("%d groups", len(out.SecurityGroups))
	}
	g := out.SecurityGroups[0]
	if aws.ToString(g.GroupId) != "sg-0sandboxdb" || aws.ToString(g.VpcId) != "vpc-0sandbox" || aws.ToString(g.GroupName) != "database" ||
		len(g.IpPermissions) != 2 || len(g.IpPermissionsEgress) != 1 {
		t.Fatalf("group: %+v", g)
	}
	p := g.IpPermissions[0]
	if aws.ToString(p.IpProtocol) != "tcp" || aws.ToInt32(p.FromPort) != 5432 || aws.ToInt32(p.ToPort) != 5432 ||
		len(p.UserIdGroupPairs) != 1 || aws.ToString(p.UserIdGroupPairs[0].GroupId) != "sg-0sandboxbastion" {
		t.Errorf("rule 0: %+v", p)
	}
	p = g.IpPermissions[1]
	if aws.ToString(p.IpProtocol) != "-1" || p.FromPort != nil || len(p.IpRanges) != 1 || aws.ToString(p.IpRanges[0].CidrIp) != "10.9.0.0/16" {
		t.Errorf("rule 1: %+v", p)
	}
	for _, tc := range []struct {
		f    types.Filter
		want int
	}{
		{types.Filter{Name: aws.String("vpc-id"), Values: []string{"vpc-0sandbox"}}, 2},
		{types.Filter{Name: aws.String("group-id"), Values: []string{"sg-0sandboxbastion"}}, 1},
		{types.Filter{Name: aws.String("vpc-id"), Values: []string{"vpc-other"}}, 0},
	} {
		out, err := client.DescribeSecurityGroups(ctx(t), &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{tc.f}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.SecurityGroups) != tc.want {
			t.Errorf("filter %s: %d groups, want %d", aws.ToString(tc.f.Name), len(out.SecurityGroups), tc.want)
		}
	}
	_, err = client.DescribeSecurityGroups(ctx(t), &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0000000000000000f"}})
	wantCode(t, err, "InvalidGroup.NotFound", "The security group 'sg-0000000000000000f' does not exist")
	_, err = ec2.NewFromConfig(e.cfg(t, "intern")).DescribeSecurityGroups(ctx(t), &ec2.DescribeSecurityGroupsInput{})
	wantCode(t, err, "UnauthorizedOperation", "ec2:DescribeSecurityGroups")
}
