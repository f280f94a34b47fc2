package bastion

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/rdsgate/rdsgate/target"
)

// NewDesign works out the design for the database t from the VPC's
// subnets and route tables: the subnet (spec's, or a private one of the
// database's with a NAT route first), whether it needs the endpoints, and
// the instance.
func NewDesign(ctx context.Context, c Clients, t target.Target, spec Spec) (Design, error) {
	if t.VPC == "" || len(t.SecurityGroups) == 0 {
		return Design{}, fmt.Errorf("%w: %s reports no VPC or security group", ErrNoVPC, t.Identifier)
	}
	d := Design{VPC: t.VPC, Region: t.Region, InstanceType: cmp.Or(spec.InstanceType, DefaultInstanceType),
		DB: DB{Identifier: t.Identifier, SecurityGroup: t.SecurityGroups[0], Port: t.Port}}
	d.Architecture = archOf(d.InstanceType)
	switch {
	case spec.IdleStop == 0:
		d.IdleStop = DefaultIdleStop
	case spec.IdleStop > 0:
		d.IdleStop = spec.IdleStop
	}
	candidates := t.Subnets
	if spec.Subnet != "" {
		candidates = []string{spec.Subnet}
	}
	subnets, err := c.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{t.VPC}}}})
	if err != nil {
		return Design{}, fmt.Errorf("bastion: describe the subnets of %s: %w", t.VPC, err)
	}
	tables, err := c.EC2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{t.VPC}}}})
	if err != nil {
		return Design{}, fmt.Errorf("bastion: describe the route tables of %s: %w", t.VPC, err)
	}
	type choice struct{ id, az string }
	var nat, private []choice
	for _, id := range candidates {
		i := slices.IndexFunc(subnets.Subnets, func(s ec2types.Subnet) bool { return aws.ToString(s.SubnetId) == id })
		if i < 0 {
			if spec.Subnet != "" {
				return Design{}, fmt.Errorf("%w: subnet %s is not in %s", ErrNoSubnet, id, t.VPC)
			}
			continue
		}
		az := aws.ToString(subnets.Subnets[i].AvailabilityZone)
		switch routeOf(tables.RouteTables, id) {
		case "igw":
			if spec.Subnet != "" {
				return Design{}, &PublicSubnetError{Subnet: id}
			}
		case "nat":
			nat = append(nat, choice{id, az})
		default:
			private = append(private, choice{id, az})
		}
	}
	switch {
	case len(nat) > 0:
		d.Subnet, d.AZ, d.NAT = nat[0].id, nat[0].az, true
	case len(private) > 0:
		d.Subnet, d.AZ = private[0].id, private[0].az
	default:
		return Design{}, fmt.Errorf("%w: none of %s in %s is private", ErrNoSubnet, strings.Join(candidates, ", "), t.VPC)
	}
	switch cmp.Or(spec.Endpoints, EndpointsAuto) {
	case EndpointsYes:
		d.Endpoints = true
	case EndpointsNo:
		if !d.NAT {
			return Design{}, &NoPathError{Subnet: d.Subnet}
		}
	default:
		d.Endpoints = !d.NAT
	}
	return d, nil
}

// routeOf says where a subnet's default route goes: "igw", "nat" or ""
// (none).
func routeOf(tables []ec2types.RouteTable, subnet string) string {
	kind, _ := defaultRoute(tables, subnet)
	return kind
}

// defaultRoute is where a subnet's default route goes ("igw", "nat" or
// "") and the gateway's id. A subnet without its own table uses the VPC's
// main table.
func defaultRoute(tables []ec2types.RouteTable, subnet string) (kind, gateway string) {
	var table *ec2types.RouteTable
	for i := range tables {
		for _, a := range tables[i].Associations {
			if aws.ToString(a.SubnetId) == subnet {
				table = &tables[i]
			}
		}
	}
	if table == nil {
		for i := range tables {
			for _, a := range tables[i].Associations {
				if aws.ToBool(a.Main) {
					table = &tables[i]
				}
			}
		}
	}
	if table == nil {
		return "", ""
	}
	for _, r := range table.Routes {
		if aws.ToString(r.DestinationCidrBlock) != "0.0.0.0/0" {
			continue
		}
		switch {
		case aws.ToString(r.NatGatewayId) != "":
			return "nat", aws.ToString(r.NatGatewayId)
		case strings.HasPrefix(aws.ToString(r.GatewayId), "igw-"):
			return "igw", aws.ToString(r.GatewayId)
		}
	}
	return "", ""
}

// State is what exists of a design.
type State struct {
	// Group and EndpointGroup are the bastion's and the endpoints'
	// security groups (nil: none).
	Group, EndpointGroup *ec2types.SecurityGroup
	// DBGroup is the database's security group.
	DBGroup *ec2types.SecurityGroup
	// Endpoints are the VPC's interface endpoints for EndpointServices, by
	// short name (rdsgate's or not).
	Endpoints map[string]ec2types.VpcEndpoint
	Role      *iamtypes.Role
	// RolePolicies are the ARNs of the role's attached policies.
	RolePolicies []string
	Profile      *iamtypes.InstanceProfile
	// Instance is the tagged instance that is not terminated (nil: none).
	Instance *ec2types.Instance
	// Agent is the instance's SSM registration (nil: not registered, or
	// AgentErr).
	Agent *ssmtypes.InstanceInformation
	// AgentErr is why Systems Manager could not be asked about the agent.
	AgentErr error
}

// Observe reads what exists of d. Resources in d's places without the tag
// are NotOursError.
func Observe(ctx context.Context, c Clients, d Design) (*State, error) {
	s := &State{Endpoints: map[string]ec2types.VpcEndpoint{}}
	groups, err := c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{d.VPC}}}})
	if err != nil {
		return nil, fmt.Errorf("bastion: describe the security groups of %s: %w", d.VPC, err)
	}
	for i := range groups.SecurityGroups {
		g := &groups.SecurityGroups[i]
		switch aws.ToString(g.GroupName) {
		case d.Name():
			s.Group = g
		case d.EndpointGroupName():
			s.EndpointGroup = g
		}
		if aws.ToString(g.GroupId) == d.DB.SecurityGroup {
			s.DBGroup = g
		}
	}
	for _, g := range []*ec2types.SecurityGroup{s.Group, s.EndpointGroup} {
		if g != nil && ec2Tag(g.Tags, TagKey) != d.VPC {
			return nil, &NotOursError{Kind: KindGroup, Name: aws.ToString(g.GroupName)}
		}
	}
	// Where the VPC has several endpoints for a service, rdsgate's is the
	// one its plan speaks of.
	s.Endpoints, err = sessionEndpoints(ctx, c, d.VPC, d.Region, func(e ec2types.VpcEndpoint) bool { return ec2Tag(e.Tags, TagKey) == d.VPC })
	if err != nil {
		return nil, err
	}
	if err := s.observeIAM(ctx, c, d); err != nil {
		return nil, err
	}
	inst, err := findInstance(ctx, c, d.VPC)
	if err != nil {
		return nil, err
	}
	s.Instance = inst
	if inst != nil {
		s.Agent, s.AgentErr = agentOf(ctx, c, aws.ToString(inst.InstanceId))
	}
	return s, nil
}

func (s *State) observeIAM(ctx context.Context, c Clients, d Design) error {
	role, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(d.Name())})
	switch {
	case isCode(err, "NoSuchEntity"):
	case err != nil:
		return fmt.Errorf("bastion: get role %s: %w", d.Name(), err)
	default:
		if iamTag(role.Role.Tags, TagKey) != d.VPC {
			return &NotOursError{Kind: KindRole, Name: d.Name()}
		}
		s.Role = role.Role
		if s.RolePolicies, err = attachedPolicies(ctx, c, d.Name()); err != nil {
			return err
		}
	}
	prof, err := c.IAM.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(d.Name())})
	switch {
	case isCode(err, "NoSuchEntity"):
	case err != nil:
		return fmt.Errorf("bastion: get instance profile %s: %w", d.Name(), err)
	default:
		if iamTag(prof.InstanceProfile.Tags, TagKey) != d.VPC {
			return &NotOursError{Kind: KindProfile, Name: d.Name()}
		}
		s.Profile = prof.InstanceProfile
	}
	return nil
}

// sessionEndpoints are the VPC's live interface endpoints for
// EndpointServices, by short name, whoever created them; of several for
// one service, the first that prefer accepts wins.
func sessionEndpoints(ctx context.Context, c Clients, vpc, region string, prefer func(ec2types.VpcEndpoint) bool) (map[string]ec2types.VpcEndpoint, error) {
	eps, err := c.EC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil {
		return nil, fmt.Errorf("bastion: describe the VPC endpoints of %s: %w", vpc, err)
	}
	out := map[string]ec2types.VpcEndpoint{}
	for _, e := range eps.VpcEndpoints {
		if gone(e) {
			continue
		}
		for _, short := range EndpointServices {
			if aws.ToString(e.ServiceName) != endpointService(region, short) {
				continue
			}
			if have, seen := out[short]; !seen || prefer(e) && !prefer(have) {
				out[short] = e
			}
		}
	}
	return out, nil
}

// attachedPolicies are the ARNs of the managed policies attached to role.
func attachedPolicies(ctx context.Context, c Clients, role string) ([]string, error) {
	pols, err := c.IAM.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		return nil, fmt.Errorf("bastion: list the policies of role %s: %w", role, err)
	}
	var out []string
	for _, p := range pols.AttachedPolicies {
		out = append(out, aws.ToString(p.PolicyArn))
	}
	return out, nil
}

// findInstance is the VPC's tagged instance that is not terminated.
func findInstance(ctx context.Context, c Clients, vpc string) (*ec2types.Instance, error) {
	out, err := c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + TagKey), Values: []string{vpc}},
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}}}})
	if err != nil {
		return nil, fmt.Errorf("bastion: describe the instances tagged %s=%s: %w", TagKey, vpc, err)
	}
	var found []ec2types.Instance
	for _, r := range out.Reservations {
		found = append(found, r.Instances...)
	}
	if len(found) == 0 {
		return nil, nil
	}
	slices.SortFunc(found, func(a, b ec2types.Instance) int {
		return strings.Compare(aws.ToString(a.InstanceId), aws.ToString(b.InstanceId))
	})
	return &found[0], nil
}

// agentOf is the instance's SSM registration, nil when it has none.
func agentOf(ctx context.Context, c Clients, id string) (*ssmtypes.InstanceInformation, error) {
	out, err := c.SSM.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{
		{Key: aws.String("InstanceIds"), Values: []string{id}}}})
	if err != nil {
		return nil, fmt.Errorf("bastion: describe the SSM agent of %s: %w", id, err)
	}
	if len(out.InstanceInformationList) == 0 {
		return nil, nil
	}
	return &out.InstanceInformationList[0], nil
}

func ec2Tag(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

func iamTag(tags []iamtypes.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && slices.Contains(codes, ae.ErrorCode())
}

// gone reports whether an endpoint is deleted or on its way (EC2 spells
// the states in lower case, the SDK's constants capitalised).
func gone(e ec2types.VpcEndpoint) bool {
	for _, st := range []ec2types.State{ec2types.StateDeleted, ec2types.StateDeleting, ec2types.StateFailed, ec2types.StateRejected} {
		if strings.EqualFold(string(e.State), string(st)) {
			return true
		}
	}
	return false
}
