package awsapi

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/sandbox/world"
)

// The EC2 writes on security groups and tags. Each authorizes the action
// on the resource's ARN with its tags as ec2:ResourceTag/KEY (or, for a
// new resource, the requested tags as aws:RequestTag/KEY and ec2:CreateTags
// with ec2:CreateAction, as EC2 asks for tag-on-create), then changes the
// world under its lock.

// ec2Return is the answer of the EC2 writes that only succeed.
type ec2Return struct {
	ec2Meta
	Return bool `xml:"return"`
}

// allTraffic is AWS's default egress rule: everything to 0.0.0.0/0.
func allTraffic() world.Rule {
	return world.Rule{Protocol: "-1", CIDRs: []string{"0.0.0.0/0"}}
}

// resourceTags are a resource's tags as condition keys.
func resourceTags(tags map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range tags {
		out["ec2:ResourceTag/"+k] = v
		out["aws:ResourceTag/"+k] = v
	}
	return out
}

// tagSpecs reads TagSpecification.N (ResourceType, Tag.M.Key/Value): the
// tags for resources of kind. Another kind is InvalidParameterValue
// unless also is true (RunInstances tags volumes too).
func tagSpecs(p url.Values, kinds ...string) (map[string]map[string]string, *apiError) {
	out := map[string]map[string]string{}
	for _, spec := range structs(p, "TagSpecification") {
		kind := spec.Get("ResourceType")
		if !slices.Contains(kinds, kind) {
			return nil, clientError("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", shorten(kind))
		}
		if out[kind] == nil {
			out[kind] = map[string]string{}
		}
		for _, t := range structs(spec, "Tag") {
			out[kind][t.Get("Key")] = t.Get("Value")
		}
	}
	return out, nil
}

// authorizeCreate asks for action on arn with the requested tags, and for
// ec2:CreateTags when there are any.
func (s *Server) authorizeCreate(c *call, action, arn string, tags map[string]string) *apiError {
	return s.authorizeCreateWith(c, action, arn, tags, nil)
}

// authorizeCreateWith is authorizeCreate with more condition keys for
// action (e.g. ec2:MetadataHttpTokens of a new instance).
func (s *Server) authorizeCreateWith(c *call, action, arn string, tags, keys map[string]string) *apiError {
	extra := maps.Clone(keys)
	if extra == nil {
		extra = map[string]string{}
	}
	for k, v := range tags {
		extra["aws:RequestTag/"+k] = v
	}
	if e := s.authorize(c, action, arn, extra); e != nil {
		return e
	}
	if len(tags) == 0 {
		return nil
	}
	for k := range keys {
		delete(extra, k)
	}
	extra["ec2:CreateAction"] = c.action
	return s.authorize(c, "ec2:CreateTags", arn, extra)
}

// authorizeUse asks for action on resources a request uses but does not
// create, each ARN with its condition keys (nil: none), as EC2 asks for
// the VPC, subnets, groups and image of a create.
func (s *Server) authorizeUse(c *call, action string, resources map[string]map[string]string) *apiError {
	for _, arn := range slices.Sorted(maps.Keys(resources)) {
		if e := s.authorize(c, action, arn, resources[arn]); e != nil {
			return e
		}
	}
	return nil
}

type createSecurityGroupResponse struct {
	ec2Meta
	Return  bool     `xml:"return"`
	GroupID string   `xml:"groupId"`
	Tags    []tagXML `xml:"tagSet>item"`
}

// createSecurityGroup answers EC2 CreateSecurityGroup: GroupName,
// GroupDescription, VpcId and tags; the group gets AWS's default egress.
func (s *Server) createSecurityGroup(c *call) (any, *apiError) {
	p := c.params
	name, desc, vpc := p.Get("GroupName"), p.Get("GroupDescription"), p.Get("VpcId")
	switch {
	case name == "":
		return nil, missingParam(c.svc, "GroupName")
	case desc == "":
		return nil, missingParam(c.svc, "GroupDescription")
	case vpc == "":
		return nil, clientError("VPCIdNotSpecified", "No default VPC for this user")
	}
	tags, e := tagSpecs(p, "security-group")
	if e != nil {
		return nil, e
	}
	id := "sg-" + randomHex(17)
	if e := s.authorizeCreate(c, "ec2:CreateSecurityGroup", s.arn("ec2", "security-group/"+id), tags["security-group"]); e != nil {
		return nil, e
	}
	if e := s.authorizeUse(c, "ec2:CreateSecurityGroup", map[string]map[string]string{s.arn("ec2", "vpc/"+vpc): nil}); e != nil {
		return nil, e
	}
	if e := ec2DryRun(p); e != nil {
		return nil, e
	}
	s.world.Update(func() {
		if !slices.ContainsFunc(s.world.Subnets, func(n world.Subnet) bool { return n.VPC == vpc }) {
			e = clientError("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", shorten(vpc))
			return
		}
		if slices.ContainsFunc(s.world.SecurityGroups, func(g world.SecurityGroup) bool { return g.VPC == vpc && g.Name == name }) {
			e = clientError("InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", shorten(name), shorten(vpc))
			return
		}
		s.world.SecurityGroups = append(s.world.SecurityGroups, world.SecurityGroup{ID: id, Name: name, Description: desc, VPC: vpc,
			Egress: []world.Rule{allTraffic()}, Tags: tags["security-group"]})
	})
	if e != nil {
		return nil, e
	}
	out := &createSecurityGroupResponse{Return: true, GroupID: id}
	for _, k := range sortedKeys(tags["security-group"]) {
		out.Tags = append(out.Tags, tagXML{Key: k, Value: tags["security-group"][k]})
	}
	return out, nil
}

// groupTags are the tags of group id, for authorization (nil: none or no
// such group).
func (s *Server) groupTags(id string) map[string]string {
	var tags map[string]string
	s.world.View(func() {
		if g, ok := s.world.SecurityGroup(id); ok {
			tags = resourceTags(g.Tags)
		}
	})
	return tags
}

// deleteSecurityGroup answers EC2 DeleteSecurityGroup by GroupId. A group
// that another group's rule names, or that an instance (not terminated)
// or an endpoint uses, is DependencyViolation.
func (s *Server) deleteSecurityGroup(c *call) (any, *apiError) {
	id := c.params.Get("GroupId")
	if id == "" {
		return nil, missingParam(c.svc, "GroupId")
	}
	if e := s.authorize(c, "ec2:DeleteSecurityGroup", s.arn("ec2", "security-group/"+id), s.groupTags(id)); e != nil {
		return nil, e
	}
	if e := ec2DryRun(c.params); e != nil {
		return nil, e
	}
	now := s.now()
	var e *apiError
	s.world.Update(func() {
		i := slices.IndexFunc(s.world.SecurityGroups, func(g world.SecurityGroup) bool { return g.ID == id })
		if i < 0 {
			e = clientError("InvalidGroup.NotFound", "The security group '%s' does not exist", shorten(id))
			return
		}
		if by := s.groupUser(id, now); by != "" {
			e = clientError("DependencyViolation", "resource %s has a dependent object", id).withReason("%s uses %s", by, id)
			return
		}
		s.world.SecurityGroups = slices.Delete(s.world.SecurityGroups, i, i+1)
	})
	if e != nil {
		return nil, e
	}
	return &ec2Return{Return: true}, nil
}

// groupUser names what still uses group id ("" when nothing does). The
// caller holds the world's lock.
func (s *Server) groupUser(id string, now time.Time) string {
	for _, g := range s.world.SecurityGroups {
		if g.ID == id {
			continue
		}
		for _, r := range append(slices.Clip(g.Ingress), g.Egress...) {
			if slices.Contains(r.SourceGroups, id) {
				return "a rule of " + g.ID
			}
		}
	}
	for i := range s.world.Bastions {
		b := &s.world.Bastions[i]
		if b.StateAt(now) != world.StateTerminated && slices.Contains(b.SecurityGroups, id) {
			return "instance " + b.InstanceID
		}
	}
	for _, ep := range s.world.Endpoints {
		if slices.Contains(ep.SecurityGroups, id) {
			return "endpoint " + ep.ID
		}
	}
	return ""
}

// changeRules answers Authorize/RevokeSecurityGroupIngress/Egress:
// GroupId and IpPermissions.N (IpProtocol, FromPort, ToPort, Groups.M,
// IpRanges.M). Each peer is one rule; authorizing one that exists is
// InvalidPermission.Duplicate, revoking one that does not is
// InvalidPermission.NotFound; nothing changes when any fails.
func (s *Server) changeRules(egress, add bool) op {
	verb, dir := "Revoke", "Ingress"
	if add {
		verb = "Authorize"
	}
	if egress {
		dir = "Egress"
	}
	action := "ec2:" + verb + "SecurityGroup" + dir
	return func(c *call) (any, *apiError) {
		id := c.params.Get("GroupId")
		if id == "" {
			return nil, missingParam(c.svc, "GroupId")
		}
		rules, e := parseRules(c.params)
		if e != nil {
			return nil, e
		}
		if e := s.authorize(c, action, s.arn("ec2", "security-group/"+id), s.groupTags(id)); e != nil {
			return nil, e
		}
		if e := ec2DryRun(c.params); e != nil {
			return nil, e
		}
		s.world.Update(func() {
			g, ok := s.world.SecurityGroup(id)
			if !ok {
				e = clientError("InvalidGroup.NotFound", "The security group '%s' does not exist", shorten(id))
				return
			}
			have := &g.Ingress
			if egress {
				have = &g.Egress
			}
			next := slices.Clone(*have)
			for _, r := range rules {
				for _, peer := range r.SourceGroups {
					if _, ok := s.world.SecurityGroup(peer); !ok {
						e = clientError("InvalidGroup.NotFound", "The security group '%s' does not exist", shorten(peer))
						return
					}
				}
				i := slices.IndexFunc(next, func(h world.Rule) bool { return sameRule(h, r) })
				switch {
				case add && i >= 0:
					e = clientError("InvalidPermission.Duplicate", "the specified rule \"%s\" already exists", ruleText(r))
					return
				case add:
					next = append(next, r)
				case i < 0:
					e = clientError("InvalidPermission.NotFound", "The specified rule does not exist in this security group.").withReason("no rule %s in %s", ruleText(r), id)
					return
				default:
					next = slices.Delete(next, i, i+1)
				}
			}
			*have = next
		})
		if e != nil {
			return nil, e
		}
		return &ec2Return{Return: true}, nil
	}
}

// parseRules reads IpPermissions.N as rules of one peer each.
func parseRules(p url.Values) ([]world.Rule, *apiError) {
	perms := structs(p, "IpPermissions")
	if len(perms) == 0 {
		return nil, missingParam(&service{proto: protoEC2}, "IpPermissions")
	}
	var out []world.Rule
	for _, perm := range perms {
		r := world.Rule{Protocol: strings.ToLower(perm.Get("IpProtocol"))}
		switch r.Protocol {
		case "tcp", "6":
			r.Protocol = "tcp"
			from, err1 := strconv.Atoi(perm.Get("FromPort"))
			to, err2 := strconv.Atoi(perm.Get("ToPort"))
			if err1 != nil || err2 != nil || from < 0 || to > 65535 || from > to {
				return nil, clientError("InvalidParameterValue", "Invalid TCP port range %s-%s", shorten(perm.Get("FromPort")), shorten(perm.Get("ToPort")))
			}
			r.FromPort, r.ToPort = from, to
		case "-1", "all":
			r.Protocol = "-1"
		default:
			return nil, clientError("InvalidParameterValue", "The sandbox knows the protocols tcp and -1, not '%s'", shorten(r.Protocol))
		}
		n := len(out)
		for _, g := range structs(perm, "Groups") {
			one := r
			one.SourceGroups, one.Description = []string{g.Get("GroupId")}, g.Get("Description")
			out = append(out, one)
		}
		for _, g := range structs(perm, "IpRanges") {
			cidr := g.Get("CidrIp")
			if _, err := netip.ParsePrefix(cidr); err != nil {
				return nil, clientError("InvalidParameterValue", "CIDR block %s is malformed", shorten(cidr))
			}
			one := r
			one.CIDRs, one.Description = []string{cidr}, g.Get("Description")
			out = append(out, one)
		}
		if len(out) == n {
			return nil, clientError("InvalidParameterValue", "The request must contain a peer: Groups or IpRanges")
		}
	}
	return out, nil
}

// sameRule compares protocol, ports and peers (not descriptions).
func sameRule(a, b world.Rule) bool {
	if a.Protocol != b.Protocol || a.Protocol != "-1" && (a.FromPort != b.FromPort || a.ToPort != b.ToPort) {
		return false
	}
	return slices.Equal(a.SourceGroups, b.SourceGroups) && slices.Equal(a.CIDRs, b.CIDRs)
}

func ruleText(r world.Rule) string {
	peer := strings.Join(append(slices.Clone(r.SourceGroups), r.CIDRs...), ", ")
	if r.Protocol == "-1" {
		return "peer: " + peer + ", ALL, ALLOW"
	}
	return fmt.Sprintf("peer: %s, TCP, from port: %d, to port: %d, ALLOW", peer, r.FromPort, r.ToPort)
}

// createTags answers EC2 CreateTags on security groups, instances and
// endpoints: ResourceId.N and Tag.N.
func (s *Server) createTags(c *call) (any, *apiError) {
	ids := members(c.params, "ResourceId")
	if len(ids) == 0 {
		return nil, missingParam(c.svc, "ResourceId")
	}
	tags := map[string]string{}
	for _, t := range structs(c.params, "Tag") {
		tags[t.Get("Key")] = t.Get("Value")
	}
	for _, id := range ids {
		var kind string
		var have map[string]string
		s.world.View(func() { kind, have = s.taggable(id) })
		if kind == "" {
			return nil, clientError("InvalidID", "The ID '%s' is not valid", shorten(id))
		}
		extra := resourceTags(have)
		for k, v := range tags {
			extra["aws:RequestTag/"+k] = v
		}
		if e := s.authorize(c, "ec2:CreateTags", s.arn("ec2", kind+"/"+id), extra); e != nil {
			return nil, e
		}
	}
	if e := ec2DryRun(c.params); e != nil {
		return nil, e
	}
	s.world.Update(func() {
		for _, id := range ids {
			set := s.tagsOf(id)
			if set == nil {
				continue
			}
			if *set == nil {
				*set = map[string]string{}
			}
			for k, v := range tags {
				(*set)[k] = v
			}
		}
	})
	return &ec2Return{Return: true}, nil
}

// taggable is the ARN kind and the tags of resource id ("" when unknown).
// The caller holds the world's lock.
func (s *Server) taggable(id string) (string, map[string]string) {
	set := s.tagsOf(id)
	if set == nil {
		return "", nil
	}
	switch {
	case strings.HasPrefix(id, "sg-"):
		return "security-group", *set
	case strings.HasPrefix(id, "vpce-"):
		return "vpc-endpoint", *set
	}
	return "instance", *set
}

// tagsOf points at the tags of resource id (nil when unknown). The caller
// holds the world's lock.
func (s *Server) tagsOf(id string) *map[string]string {
	if g, ok := s.world.SecurityGroup(id); ok {
		return &g.Tags
	}
	if b, ok := s.world.Bastion(id); ok {
		return &b.Tags
	}
	for i := range s.world.Endpoints {
		if s.world.Endpoints[i].ID == id {
			return &s.world.Endpoints[i].Tags
		}
	}
	return nil
}
