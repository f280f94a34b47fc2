package bastion

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Action is what Apply does to a resource.
type Action string

// Actions of a plan.
const (
	Exists Action = "exists"
	Create Action = "create"
	// Fix changes a resource of rdsgate's to match the design (a missing
	// or extra rule, a missing policy).
	Fix Action = "fix"
	// StartInstance starts a stopped instance.
	StartInstance Action = "start"
	// Use is a resource rdsgate did not create that the design relies on
	// (an interface endpoint already in the VPC).
	Use Action = "use"
)

// Step is one resource of a Plan.
type Step struct {
	Resource
	Action Action `json:"action"`
	// ID is the resource's id when it exists.
	ID string `json:"id,omitempty"`
}

// Plan is a design against what exists.
type Plan struct {
	Design Design
	State  *State
	Steps  []Step
}

// Changes reports whether Apply would change anything.
func (p *Plan) Changes() bool {
	return slices.ContainsFunc(p.Steps, func(s Step) bool { return s.Action != Exists && s.Action != Use })
}

// Ready reports whether everything is in place and the agent online:
// Apply would change nothing and wait for nothing.
func (p *Plan) Ready() bool {
	return !p.Changes() && p.State.Agent != nil && p.State.Agent.PingStatus == ssmtypes.PingStatusOnline
}

// NewPlan compares d with s.
func NewPlan(d Design, s *State) *Plan {
	p := &Plan{Design: d, State: s}
	gid := func(g *ec2types.SecurityGroup) string {
		if g == nil {
			return ""
		}
		return aws.ToString(g.GroupId)
	}
	for _, r := range d.Resources() {
		st := Step{Resource: r, Action: Create}
		switch r.Kind {
		case KindGroup:
			g := s.Group
			if r.Name == d.EndpointGroupName() {
				g = s.EndpointGroup
			}
			if g != nil {
				st.ID, st.Action = gid(g), Exists
				if !groupMatches(d, s, g) {
					st.Action = Fix
				}
			}
		case KindRule:
			if s.Group != nil && s.DBGroup != nil && hasRule(s.DBGroup.IpPermissions, d.DB.Port, gid(s.Group), "") {
				st.Action = Exists
			}
		case KindEndpoint:
			short := strings.TrimPrefix(r.Name, "com.amazonaws."+d.Region+".")
			if e, ok := s.Endpoints[short]; ok {
				st.ID, st.Action = aws.ToString(e.VpcEndpointId), Exists
				if ec2Tag(e.Tags, TagKey) != d.VPC {
					st.Action = Use
				}
			}
		case KindRole:
			if s.Role != nil {
				st.ID, st.Action = aws.ToString(s.Role.Arn), Exists
				if !slices.Equal(s.RolePolicies, []string{SSMCorePolicyARN}) {
					st.Action = Fix
				}
			}
		case KindProfile:
			if s.Profile != nil {
				st.ID, st.Action = aws.ToString(s.Profile.Arn), Exists
				if len(s.Profile.Roles) != 1 || aws.ToString(s.Profile.Roles[0].RoleName) != d.Name() {
					st.Action = Fix
				}
			}
		case KindInstance:
			if s.Instance != nil {
				st.ID, st.Action = aws.ToString(s.Instance.InstanceId), Exists
				if s.Instance.State != nil && s.Instance.State.Name != ec2types.InstanceStateNameRunning && s.Instance.State.Name != ec2types.InstanceStateNamePending {
					st.Action = StartInstance
				}
			}
		}
		p.Steps = append(p.Steps, st)
	}
	return p
}

// groupMatches reports whether a group of rdsgate's has exactly the
// design's rules.
func groupMatches(d Design, s *State, g *ec2types.SecurityGroup) bool {
	if g == s.EndpointGroup {
		return len(g.IpPermissionsEgress) <= 1 && len(g.IpPermissions) == 1 && s.Group != nil &&
			hasRule(g.IpPermissions, 443, aws.ToString(s.Group.GroupId), "")
	}
	if len(g.IpPermissions) != 0 || len(g.IpPermissionsEgress) != len(d.Egress()) {
		return false
	}
	for _, r := range d.Egress() {
		group, cidr := peerOf(d, s, r.Peer)
		if !hasRule(g.IpPermissionsEgress, r.Port, group, cidr) {
			return false
		}
	}
	return true
}

// peerOf is a peer's group id or CIDR.
func peerOf(d Design, s *State, p Peer) (group, cidr string) {
	switch p {
	case PeerDB:
		return d.DB.SecurityGroup, ""
	case PeerEndpoints:
		if s.EndpointGroup != nil {
			return aws.ToString(s.EndpointGroup.GroupId), ""
		}
		return "", ""
	case PeerBastion:
		if s.Group != nil {
			return aws.ToString(s.Group.GroupId), ""
		}
		return "", ""
	}
	return "", string(p)
}

// hasRule reports whether perms hold a TCP rule on port from/to group
// (or cidr).
func hasRule(perms []ec2types.IpPermission, port int, group, cidr string) bool {
	for _, p := range perms {
		if aws.ToString(p.IpProtocol) != "tcp" || int(aws.ToInt32(p.FromPort)) != port || int(aws.ToInt32(p.ToPort)) != port {
			continue
		}
		for _, g := range p.UserIdGroupPairs {
			if group != "" && aws.ToString(g.GroupId) == group {
				return true
			}
		}
		for _, r := range p.IpRanges {
			if cidr != "" && aws.ToString(r.CidrIp) == cidr {
				return true
			}
		}
	}
	return false
}

// WriteText writes the plan for people: one block per resource.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "bastion for %s in %s (%s):\n", p.Design.DB.Identifier, p.Design.VPC, p.Design.Region)
	for _, s := range p.Steps {
		id := ""
		if s.ID != "" {
			id = " " + s.ID
		}
		fmt.Fprintf(&b, "  %-7s %s %s%s\n", s.Action, s.Kind, s.Name, id)
		for _, kv := range s.Settings {
			fmt.Fprintf(&b, "            %-15s %s\n", kv.Key, kv.Value)
		}
	}
	if !p.Changes() {
		b.WriteString("everything is in place: nothing to change\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
