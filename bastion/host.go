package bastion

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/rdsgate/rdsgate/target"
)

// Host is what a Session Manager bastion depends on, read for any
// instance: rdsgate's, or one a user named or tagged and built by hand.
// Nothing in it needs the tag, so doctor checks both alike.
type Host struct {
	Instance ec2types.Instance
	// Profile is the instance profile (nil: none, gone from IAM though
	// the instance names it, or ProfileErr) and Role the name of its role
	// ("": none).
	Profile *iamtypes.InstanceProfile
	Role    string
	// RolePolicies are the ARNs of the managed policies attached to Role.
	RolePolicies []string
	// ProfileErr is why the profile or its role could not be read: often
	// a caller who may read EC2 but not IAM.
	ProfileErr error
	// Groups are the instance's security groups.
	Groups []ec2types.SecurityGroup
	// Route is where the instance's subnet sends 0.0.0.0/0 (RouteNAT,
	// RouteInternet or RouteNone) and Gateway the gateway's id.
	Route, Gateway string
	// Endpoints are the VPC's interface endpoints for EndpointServices,
	// by short name, whoever made them; a usable one (available, with
	// private DNS) wins over another.
	Endpoints map[string]ec2types.VpcEndpoint
	// groups are the instance's and the endpoints' security groups, by id.
	groups map[string]ec2types.SecurityGroup
	// subnets are the CIDRs of the VPC's subnets, by id: where rules
	// with CIDR peers are compared.
	subnets map[string]string
}

// Routes of a Host's subnet.
const (
	RouteNAT      = "nat"
	RouteInternet = "igw"
	RouteNone     = ""
)

// Inspect reads what the instance inst depends on as a Session Manager
// bastion. An instance profile IAM does not let the caller read is
// ProfileErr, not an error: the network checks still stand.
func Inspect(ctx context.Context, c Clients, inst ec2types.Instance) (*Host, error) {
	h := &Host{Instance: inst, groups: map[string]ec2types.SecurityGroup{}, subnets: map[string]string{}}
	vpc, id := aws.ToString(inst.VpcId), aws.ToString(inst.InstanceId)
	if vpc == "" {
		return nil, fmt.Errorf("%w: instance %s reports none", ErrNoVPC, id)
	}
	subnets, err := c.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil {
		return nil, fmt.Errorf("bastion: describe the subnets of %s: %w", vpc, err)
	}
	for _, s := range subnets.Subnets {
		h.subnets[aws.ToString(s.SubnetId)] = aws.ToString(s.CidrBlock)
	}
	tables, err := c.EC2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil {
		return nil, fmt.Errorf("bastion: describe the route tables of %s: %w", vpc, err)
	}
	h.Route, h.Gateway = defaultRoute(tables.RouteTables, aws.ToString(inst.SubnetId))
	h.Endpoints, err = sessionEndpoints(ctx, c, vpc, c.EC2.Options().Region, usable)
	if err != nil {
		return nil, err
	}
	groupIDs := []string{}
	for _, g := range inst.SecurityGroups {
		groupIDs = append(groupIDs, aws.ToString(g.GroupId))
	}
	for _, e := range h.Endpoints {
		for _, g := range e.Groups {
			groupIDs = append(groupIDs, aws.ToString(g.GroupId))
		}
	}
	slices.Sort(groupIDs)
	groupIDs = slices.Compact(groupIDs)
	if len(groupIDs) > 0 {
		groups, err := c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: groupIDs})
		if err != nil {
			return nil, fmt.Errorf("bastion: describe the security groups %s of %s and its endpoints: %w", strings.Join(groupIDs, ", "), id, err)
		}
		for _, g := range groups.SecurityGroups {
			h.groups[aws.ToString(g.GroupId)] = g
			if slices.ContainsFunc(inst.SecurityGroups, func(x ec2types.GroupIdentifier) bool { return aws.ToString(x.GroupId) == aws.ToString(g.GroupId) }) {
				h.Groups = append(h.Groups, g)
			}
		}
	}
	h.ProfileErr = h.inspectProfile(ctx, c)
	return h, nil
}

// usable reports whether the agent can use an endpoint: it is available
// and answers for the service's public name (private DNS).
func usable(e ec2types.VpcEndpoint) bool {
	return strings.EqualFold(string(e.State), string(ec2types.StateAvailable)) && aws.ToBool(e.PrivateDnsEnabled)
}

func (h *Host) inspectProfile(ctx context.Context, c Clients) error {
	if h.Instance.IamInstanceProfile == nil {
		return nil
	}
	// The name is the ARN's last segment, whatever the profile's path.
	arn := aws.ToString(h.Instance.IamInstanceProfile.Arn)
	name := arn[strings.LastIndex(arn, "/")+1:]
	prof, err := c.IAM.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	if isCode(err, "NoSuchEntity") {
		// Deleted after it was associated: the agent gets no credentials.
		return nil
	}
	if err != nil {
		return fmt.Errorf("bastion: get instance profile %s: %w", name, err)
	}
	h.Profile = prof.InstanceProfile
	if len(prof.InstanceProfile.Roles) == 0 {
		return nil
	}
	h.Role = aws.ToString(prof.InstanceProfile.Roles[0].RoleName)
	h.RolePolicies, err = attachedPolicies(ctx, c, h.Role)
	return err
}

// SSMCore reports whether the instance's role holds AmazonSSMManagedInstanceCore.
func (h *Host) SSMCore() bool { return slices.Contains(h.RolePolicies, SSMCorePolicyARN) }

// GroupIDs are the ids of the instance's security groups.
func (h *Host) GroupIDs() []string {
	var out []string
	for _, g := range h.Instance.SecurityGroups {
		out = append(out, aws.ToString(g.GroupId))
	}
	return out
}

// ReachesDB returns the egress rule that lets the instance reach the
// database t on its port ("" and false: none): one naming a group of the
// database's, or a CIDR that holds every subnet of the database's.
func (h *Host) ReachesDB(t target.Target) (string, bool) {
	var cidrs []string
	for _, s := range t.Subnets {
		if c, ok := h.subnets[s]; ok {
			cidrs = append(cidrs, c)
		}
	}
	return h.egress(t.Port, t.SecurityGroups, cidrs)
}

// ReachesSystemsManager returns the egress rule that lets the instance
// reach Systems Manager on 443 ("" and false: none). A rule to 0.0.0.0/0
// always does; through a gateway nothing narrower can (the service's
// addresses are AWS's to change); where the VPC has the endpoints, a rule
// naming their groups or holding their subnets does too.
func (h *Host) ReachesSystemsManager() (string, bool) {
	var groups, cidrs []string
	for _, e := range h.Endpoints {
		for _, g := range e.Groups {
			groups = append(groups, aws.ToString(g.GroupId))
		}
		for _, s := range e.SubnetIds {
			if c, ok := h.subnets[s]; ok {
				cidrs = append(cidrs, c)
			}
		}
	}
	if len(h.Endpoints) == 0 || len(cidrs) == 0 && len(groups) == 0 {
		return h.egress(443, nil, nil)
	}
	return h.egress(443, groups, cidrs)
}

// egress finds an egress rule of the instance's groups for TCP port to a
// group of groups, or to a CIDR holding every one of cidrs (0.0.0.0/0 when
// cidrs is empty).
func (h *Host) egress(port int, groups, cidrs []string) (string, bool) {
	for _, g := range h.Groups {
		for _, p := range g.IpPermissionsEgress {
			if !covers(p, port) {
				continue
			}
			for _, pair := range p.UserIdGroupPairs {
				if slices.Contains(groups, aws.ToString(pair.GroupId)) {
					return fmt.Sprintf("%s egress %s to %s", aws.ToString(g.GroupId), portText(p), aws.ToString(pair.GroupId)), true
				}
			}
			for _, r := range p.IpRanges {
				if holdsAll(aws.ToString(r.CidrIp), cidrs) {
					return fmt.Sprintf("%s egress %s to %s", aws.ToString(g.GroupId), portText(p), aws.ToString(r.CidrIp)), true
				}
			}
		}
	}
	return "", false
}

// EndpointGap is what keeps one Session Manager endpoint from serving the
// instance.
type EndpointGap struct {
	// Service is the short name (ssm); Endpoint the endpoint's id ("":
	// the VPC has none).
	Service, Endpoint string
	// Problem is one of the EndpointMissing... constants.
	Problem string
	// Groups are the endpoint's security groups (for EndpointClosed).
	Groups []string
}

// Problems of an EndpointGap.
const (
	EndpointMissing     = "missing"
	EndpointUnavailable = "not available"
	EndpointNoDNS       = "private DNS off"
	EndpointClosed      = "closed to the bastion"
)

// EndpointGaps lists what keeps the VPC's Session Manager endpoints from
// serving the instance, one per service: none at all, not available,
// private DNS off (the agent resolves the public name, which the subnet
// cannot reach), or security groups that do not admit it on 443.
func (h *Host) EndpointGaps() []EndpointGap {
	var out []EndpointGap
	for _, short := range EndpointServices {
		e, ok := h.Endpoints[short]
		gap := EndpointGap{Service: short, Endpoint: aws.ToString(e.VpcEndpointId)}
		switch {
		case !ok:
			gap.Problem = EndpointMissing
		case !strings.EqualFold(string(e.State), string(ec2types.StateAvailable)):
			gap.Problem = EndpointUnavailable
		case !aws.ToBool(e.PrivateDnsEnabled):
			gap.Problem = EndpointNoDNS
		case !h.endpointAdmits(e):
			gap.Problem = EndpointClosed
			for _, g := range e.Groups {
				gap.Groups = append(gap.Groups, aws.ToString(g.GroupId))
			}
		default:
			continue
		}
		out = append(out, gap)
	}
	return out
}

// endpointAdmits reports whether an ingress rule of one of e's groups
// admits the instance on 443: from one of its groups, or from a CIDR
// holding its private address.
func (h *Host) endpointAdmits(e ec2types.VpcEndpoint) bool {
	mine := h.GroupIDs()
	ip := aws.ToString(h.Instance.PrivateIpAddress)
	for _, ref := range e.Groups {
		g := h.groups[aws.ToString(ref.GroupId)]
		for _, p := range g.IpPermissions {
			if !covers(p, 443) {
				continue
			}
			if slices.ContainsFunc(p.UserIdGroupPairs, func(pair ec2types.UserIdGroupPair) bool { return slices.Contains(mine, aws.ToString(pair.GroupId)) }) {
				return true
			}
			if slices.ContainsFunc(p.IpRanges, func(r ec2types.IpRange) bool {
				return ip != "" && holdsAll(aws.ToString(r.CidrIp), []string{ip + "/32"})
			}) {
				return true
			}
		}
	}
	return false
}

// covers reports whether a permission admits TCP port.
func covers(p ec2types.IpPermission, port int) bool {
	switch aws.ToString(p.IpProtocol) {
	case "-1":
		return true
	case "tcp", "6":
		return int(aws.ToInt32(p.FromPort)) <= port && port <= int(aws.ToInt32(p.ToPort))
	}
	return false
}

func portText(p ec2types.IpPermission) string {
	if aws.ToString(p.IpProtocol) == "-1" {
		return "all traffic"
	}
	if aws.ToInt32(p.FromPort) == aws.ToInt32(p.ToPort) {
		return fmt.Sprintf("tcp %d", aws.ToInt32(p.FromPort))
	}
	return fmt.Sprintf("tcp %d-%d", aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort))
}

// holdsAll reports whether the CIDR outer holds every CIDR of inner; with
// no inner, only the whole internet (0.0.0.0/0) does.
func holdsAll(outer string, inner []string) bool {
	o, err := netip.ParsePrefix(outer)
	if err != nil {
		return false
	}
	if len(inner) == 0 {
		return o.Bits() == 0
	}
	for _, s := range inner {
		i, err := netip.ParsePrefix(s)
		if err != nil || o.Bits() > i.Bits() || !o.Contains(i.Addr()) {
			return false
		}
	}
	return true
}
