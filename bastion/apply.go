package bastion

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Apply makes what exists match the plan: it creates what is missing,
// fixes the rules of rdsgate's groups, starts a stopped instance and waits
// for the agent. It is idempotent: on a plan with no changes it only
// checks that the agent is online. It returns the instance id.
func Apply(ctx context.Context, c Clients, p *Plan, progress Progress) (string, error) {
	if progress == nil {
		progress = quiet{}
	}
	d, s := p.Design, p.State
	if err := ensureGroups(ctx, c, d, s); err != nil {
		return "", err
	}
	if err := ensureEndpoints(ctx, c, d, s); err != nil {
		return "", err
	}
	if err := ensureRole(ctx, c, d, s); err != nil {
		return "", err
	}
	if s.Instance == nil {
		if err := launch(ctx, c, d, s, progress); err != nil {
			return "", err
		}
	}
	id := aws.ToString(s.Instance.InstanceId)
	if err := startAndWait(ctx, c, id, progress); err != nil {
		return id, err
	}
	return id, nil
}

func tagSpec(d Design, kind ec2types.ResourceType, name string) []ec2types.TagSpecification {
	tags := []ec2types.Tag{{Key: aws.String(TagKey), Value: aws.String(d.VPC)}, {Key: aws.String("Name"), Value: aws.String(name)}}
	if kind == ec2types.ResourceTypeInstance && d.IdleStop > 0 {
		tags = append(tags, ec2types.Tag{Key: aws.String(IdleStopTagKey), Value: aws.String(d.IdleStop.String())})
	}
	return []ec2types.TagSpecification{{ResourceType: kind, Tags: tags}}
}

func createGroup(ctx context.Context, c Clients, d Design, name, desc string) (*ec2types.SecurityGroup, error) {
	out, err := c.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(desc),
		VpcId: aws.String(d.VPC), TagSpecifications: tagSpec(d, ec2types.ResourceTypeSecurityGroup, name)})
	if err != nil {
		return nil, fmt.Errorf("bastion: create security group %s: %w", name, err)
	}
	return describeGroup(ctx, c, aws.ToString(out.GroupId))
}

func describeGroup(ctx context.Context, c Clients, id string) (*ec2types.SecurityGroup, error) {
	out, err := c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	if err != nil || len(out.SecurityGroups) != 1 {
		return nil, fmt.Errorf("bastion: describe security group %s: %w", id, err)
	}
	return &out.SecurityGroups[0], nil
}

// ensureGroups creates the groups and sets their rules: the bastion's
// egress exactly as designed (the default allow-all goes), the endpoints'
// ingress, and the database group's rule from the bastion.
func ensureGroups(ctx context.Context, c Clients, d Design, s *State) error {
	var err error
	if s.Group == nil {
		if s.Group, err = createGroup(ctx, c, d, d.Name(), "rdsgate Session Manager bastion: no ingress"); err != nil {
			return err
		}
	}
	if d.Endpoints && s.EndpointGroup == nil {
		if s.EndpointGroup, err = createGroup(ctx, c, d, d.EndpointGroupName(), "rdsgate bastion's Session Manager endpoints"); err != nil {
			return err
		}
	}
	bastionID := aws.ToString(s.Group.GroupId)
	var want []ec2types.IpPermission
	for _, r := range d.Egress() {
		group, cidr := peerOf(d, s, r.Peer)
		want = append(want, permission(r, group, cidr))
	}
	if err := setRules(ctx, c, bastionID, s.Group.IpPermissionsEgress, want, true); err != nil {
		return err
	}
	if s.Group.IpPermissions != nil {
		if err := setRules(ctx, c, bastionID, s.Group.IpPermissions, nil, false); err != nil {
			return err
		}
	}
	if s.EndpointGroup != nil {
		id := aws.ToString(s.EndpointGroup.GroupId)
		if err := setRules(ctx, c, id, s.EndpointGroup.IpPermissions, []ec2types.IpPermission{permission(d.EndpointIngress(), bastionID, "")}, false); err != nil {
			return err
		}
	}
	if s.DBGroup == nil || !hasRule(s.DBGroup.IpPermissions, d.DB.Port, bastionID, "") {
		_, err := c.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(d.DB.SecurityGroup),
			IpPermissions: []ec2types.IpPermission{permission(d.DBIngress(), bastionID, "")}})
		if err != nil && !isCode(err, "InvalidPermission.Duplicate") {
			return fmt.Errorf("bastion: admit the bastion in %s on port %d: %w", d.DB.SecurityGroup, d.DB.Port, err)
		}
	}
	return nil
}

func permission(r Rule, group, cidr string) ec2types.IpPermission {
	p := ec2types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(int32(r.Port)), ToPort: aws.Int32(int32(r.Port))}
	if group != "" {
		p.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: aws.String(group), Description: aws.String(r.Why)}}
	} else {
		p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(cidr), Description: aws.String(r.Why)}}
	}
	return p
}

// setRules makes a group of rdsgate's have exactly want: it revokes the
// rest (the default allow-all egress among them) and adds what is missing.
func setRules(ctx context.Context, c Clients, group string, have, want []ec2types.IpPermission, egress bool) error {
	covered := func(p ec2types.IpPermission, in []ec2types.IpPermission) bool {
		return slices.ContainsFunc(in, func(q ec2types.IpPermission) bool { return samePermission(p, q) })
	}
	var extra, missing []ec2types.IpPermission
	for _, p := range have {
		if !covered(p, want) {
			extra = append(extra, p)
		}
	}
	for _, p := range want {
		if !covered(p, have) {
			missing = append(missing, p)
		}
	}
	var err error
	if len(extra) > 0 {
		if egress {
			_, err = c.EC2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(group), IpPermissions: extra})
		} else {
			_, err = c.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(group), IpPermissions: extra})
		}
		if err != nil {
			return fmt.Errorf("bastion: remove the rules of %s that the design lacks: %w", group, err)
		}
	}
	if len(missing) > 0 {
		if egress {
			_, err = c.EC2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(group), IpPermissions: missing})
		} else {
			_, err = c.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(group), IpPermissions: missing})
		}
		if err != nil && !isCode(err, "InvalidPermission.Duplicate") {
			return fmt.Errorf("bastion: add the rules of %s: %w", group, err)
		}
	}
	return nil
}

// samePermission compares protocol, ports and peers (not descriptions).
func samePermission(a, b ec2types.IpPermission) bool {
	if aws.ToString(a.IpProtocol) != aws.ToString(b.IpProtocol) || aws.ToInt32(a.FromPort) != aws.ToInt32(b.FromPort) || aws.ToInt32(a.ToPort) != aws.ToInt32(b.ToPort) {
		return false
	}
	peers := func(p ec2types.IpPermission) []string {
		var out []string
		for _, g := range p.UserIdGroupPairs {
			out = append(out, aws.ToString(g.GroupId))
		}
		for _, r := range p.IpRanges {
			out = append(out, aws.ToString(r.CidrIp))
		}
		for _, r := range p.Ipv6Ranges {
			out = append(out, aws.ToString(r.CidrIpv6))
		}
		for _, r := range p.PrefixListIds {
			out = append(out, aws.ToString(r.PrefixListId))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(peers(a), peers(b))
}

func ensureEndpoints(ctx context.Context, c Clients, d Design, s *State) error {
	if !d.Endpoints {
		return nil
	}
	for _, short := range EndpointServices {
		if _, ok := s.Endpoints[short]; ok {
			continue
		}
		out, err := c.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: aws.String(d.VPC), ServiceName: aws.String(d.EndpointService(short)),
			VpcEndpointType: ec2types.VpcEndpointTypeInterface, SubnetIds: []string{d.Subnet}, SecurityGroupIds: []string{aws.ToString(s.EndpointGroup.GroupId)},
			PrivateDnsEnabled: aws.Bool(true), TagSpecifications: tagSpec(d, ec2types.ResourceTypeVpcEndpoint, d.Name()+"-"+short)})
		if err != nil {
			return fmt.Errorf("bastion: create the %s endpoint in %s: %w", short, d.VPC, err)
		}
		s.Endpoints[short] = *out.VpcEndpoint
	}
	return nil
}

func ensureRole(ctx context.Context, c Clients, d Design, s *State) error {
	tags := []iamtypes.Tag{{Key: aws.String(TagKey), Value: aws.String(d.VPC)}}
	if s.Role == nil {
		out, err := c.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(d.Name()), AssumeRolePolicyDocument: aws.String(d.TrustPolicy()),
			Description: aws.String("rdsgate Session Manager bastion of " + d.VPC), Tags: tags})
		if err != nil {
			return fmt.Errorf("bastion: create role %s: %w", d.Name(), err)
		}
		s.Role = out.Role
	}
	for _, arn := range s.RolePolicies {
		if arn != SSMCorePolicyARN {
			if _, err := c.IAM.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(d.Name()), PolicyArn: aws.String(arn)}); err != nil {
				return fmt.Errorf("bastion: detach %s from role %s: %w", arn, d.Name(), err)
			}
		}
	}
	if !slices.Contains(s.RolePolicies, SSMCorePolicyARN) {
		if _, err := c.IAM.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(d.Name()), PolicyArn: aws.String(SSMCorePolicyARN)}); err != nil {
			return fmt.Errorf("bastion: attach AmazonSSMManagedInstanceCore to role %s: %w", d.Name(), err)
		}
	}
	s.RolePolicies = []string{SSMCorePolicyARN}
	if s.Profile == nil {
		out, err := c.IAM.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String(d.Name()), Tags: tags})
		if err != nil {
			return fmt.Errorf("bastion: create instance profile %s: %w", d.Name(), err)
		}
		s.Profile = out.InstanceProfile
	}
	if !slices.ContainsFunc(s.Profile.Roles, func(r iamtypes.Role) bool { return aws.ToString(r.RoleName) == d.Name() }) {
		if _, err := c.IAM.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String(d.Name()), RoleName: aws.String(d.Name())}); err != nil {
			return fmt.Errorf("bastion: add role %s to instance profile %s: %w", d.Name(), d.Name(), err)
		}
		s.Profile.Roles = append(s.Profile.Roles, *s.Role)
	}
	return nil
}

// launch runs the instance, retrying while a new instance profile
// propagates through IAM (EC2 answers InvalidParameterValue until then).
func launch(ctx context.Context, c Clients, d Design, s *State, progress Progress) error {
	param, err := c.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(d.ImageParameter())})
	if err != nil {
		return fmt.Errorf("bastion: read the Amazon Linux 2023 image from %s: %w", d.ImageParameter(), err)
	}
	in := &ec2.RunInstancesInput{
		ImageId: param.Parameter.Value, InstanceType: ec2types.InstanceType(d.InstanceType), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String(d.Name())},
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateRequired,
			HttpPutResponseHopLimit: aws.Int32(1), HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled},
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{
			VolumeType: ec2types.VolumeTypeGp3, VolumeSize: aws.Int32(VolumeGiB), Encrypted: aws.Bool(true), DeleteOnTermination: aws.Bool(true)}}},
		NetworkInterfaces: []ec2types.InstanceNetworkInterfaceSpecification{{DeviceIndex: aws.Int32(0), SubnetId: aws.String(d.Subnet),
			Groups: []string{aws.ToString(s.Group.GroupId)}, AssociatePublicIpAddress: aws.Bool(false), DeleteOnTermination: aws.Bool(true)}},
		UserData:          aws.String(base64.StdEncoding.EncodeToString([]byte(d.UserData()))),
		TagSpecifications: append(tagSpec(d, ec2types.ResourceTypeInstance, d.Name()), tagSpec(d, ec2types.ResourceTypeVolume, d.Name())...),
	}
	deadline := time.Now().Add(ProfileTimeout)
	for {
		out, err := c.EC2.RunInstances(ctx, in)
		if err == nil && len(out.Instances) == 1 {
			s.Instance = &out.Instances[0]
			progress.Done("launch", 0, aws.ToString(s.Instance.InstanceId)+" ("+d.InstanceType+", "+aws.ToString(param.Parameter.Value)+")")
			return nil
		}
		if err == nil || !isCode(err, "InvalidParameterValue") || time.Now().After(deadline) {
			return fmt.Errorf("bastion: run the instance in %s: %w", d.Subnet, err)
		}
		if err := sleep(ctx, PollInterval); err != nil {
			return err
		}
	}
}

// startAndWait starts the instance when it is stopped, waits until it
// runs and until its agent is online, reporting each with its time.
func startAndWait(ctx context.Context, c Clients, id string, progress Progress) error {
	inst, err := describeInstance(ctx, c, id)
	if err != nil {
		return err
	}
	switch inst.State.Name {
	case ec2types.InstanceStateNameStopping:
		if err := waitState(ctx, c, id, ec2types.InstanceStateNameStopped, progress, "stopped"); err != nil {
			return err
		}
		fallthrough
	case ec2types.InstanceStateNameStopped:
		if _, err := c.EC2.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
			return fmt.Errorf("bastion: start %s: %w", id, err)
		}
	}
	if err := waitState(ctx, c, id, ec2types.InstanceStateNameRunning, progress, "running"); err != nil {
		return err
	}
	return waitAgent(ctx, c, id, progress)
}

func describeInstance(ctx context.Context, c Clients, id string) (*ec2types.Instance, error) {
	out, err := c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return nil, fmt.Errorf("bastion: describe %s: %w", id, err)
	}
	for _, r := range out.Reservations {
		for i := range r.Instances {
			if r.Instances[i].State != nil {
				return &r.Instances[i], nil
			}
		}
	}
	return nil, fmt.Errorf("bastion: %s is not described", id)
}

func waitState(ctx context.Context, c Clients, id string, want ec2types.InstanceStateName, progress Progress, step string) error {
	name := "instance " + step
	progress.Begin(name)
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, RunningTimeout)
	defer cancel()
	for {
		inst, err := describeInstance(ctx, c, id)
		if err != nil {
			return err
		}
		if inst.State.Name == want {
			progress.Done(name, time.Since(start), id+" is "+string(want))
			return nil
		}
		// Waiting for termination passes through shutting-down; waiting
		// for anything else, it is the end.
		if want != ec2types.InstanceStateNameTerminated && (inst.State.Name == ec2types.InstanceStateNameTerminated || inst.State.Name == ec2types.InstanceStateNameShuttingDown) {
			return fmt.Errorf("bastion: %s is %s: run create again for a new one", id, inst.State.Name)
		}
		if err := sleep(ctx, PollInterval); err != nil {
			return fmt.Errorf("bastion: %s is still %s after %s: %w", id, inst.State.Name, time.Since(start).Round(time.Second), err)
		}
	}
}

// AgentError is an instance whose SSM agent did not come online.
type AgentError struct {
	Instance string
	Err      error
}

func (e *AgentError) Error() string {
	return fmt.Sprintf("bastion: the SSM agent of %s is not online (check the role's policy, and the NAT route or the endpoints): %v", e.Instance, e.Err)
}

func (e *AgentError) Unwrap() error { return e.Err }

func waitAgent(ctx context.Context, c Clients, id string, progress Progress) error {
	progress.Begin("agent online")
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, AgentTimeout)
	defer cancel()
	for {
		a, err := agentOf(ctx, c, id)
		if err != nil {
			return &AgentError{Instance: id, Err: err}
		}
		if a != nil && a.PingStatus == ssmtypes.PingStatusOnline {
			progress.Done("agent online", time.Since(start), "SSM agent "+aws.ToString(a.AgentVersion)+" on "+id)
			return nil
		}
		if err := sleep(ctx, PollInterval); err != nil {
			return fmt.Errorf("bastion: the SSM agent of %s is not online after %s (check the role's policy, and the NAT route or the endpoints): %w", id, time.Since(start).Round(time.Second), err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
