package awsapi

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/rdsgate/rdsgate/sandbox/world"
)

// IAM roles and instance profiles: what an EC2 instance's agent needs to
// register with Systems Manager. Each call authorizes its action on the
// role's or profile's ARN, as IAM does; the roles are the world's (they
// are not principals that sign requests).

type tagMember struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type roleXML struct {
	Path                     string      `xml:"Path"`
	RoleName                 string      `xml:"RoleName"`
	RoleID                   string      `xml:"RoleId"`
	Arn                      string      `xml:"Arn"`
	CreateDate               string      `xml:"CreateDate"`
	AssumeRolePolicyDocument string      `xml:"AssumeRolePolicyDocument,omitempty"`
	Description              string      `xml:"Description,omitempty"`
	Tags                     []tagMember `xml:"Tags>member,omitempty"`
}

type profileXML struct {
	Path                string      `xml:"Path"`
	InstanceProfileName string      `xml:"InstanceProfileName"`
	InstanceProfileID   string      `xml:"InstanceProfileId"`
	Arn                 string      `xml:"Arn"`
	CreateDate          string      `xml:"CreateDate"`
	Roles               []roleXML   `xml:"Roles>member"`
	Tags                []tagMember `xml:"Tags>member,omitempty"`
}

func tagMembers(tags map[string]string) []tagMember {
	var out []tagMember
	for _, k := range sortedKeys(tags) {
		out = append(out, tagMember{Key: k, Value: tags[k]})
	}
	return out
}

func (s *Server) roleARN(name string) string {
	return "arn:aws:iam::" + s.world.Account + ":role/" + name
}

func (s *Server) profileARN(name string) string {
	return "arn:aws:iam::" + s.world.Account + ":instance-profile/" + name
}

func (s *Server) roleXML(r *world.Role) roleXML {
	return roleXML{Path: "/", RoleName: r.Name, RoleID: r.ID, Arn: r.ARN, CreateDate: xmlTime(r.Created),
		AssumeRolePolicyDocument: url.QueryEscape(r.TrustPolicy), Description: r.Description, Tags: tagMembers(r.Tags)}
}

// profileXML describes p. The caller holds the world's lock.
func (s *Server) profileXML(p *world.InstanceProfile) profileXML {
	x := profileXML{Path: "/", InstanceProfileName: p.Name, InstanceProfileID: p.ID, Arn: p.ARN, CreateDate: xmlTime(p.Created),
		Roles: []roleXML{}, Tags: tagMembers(p.Tags)}
	for _, name := range p.Roles {
		if r, ok := s.world.Role(name); ok {
			x.Roles = append(x.Roles, s.roleXML(r))
		}
	}
	return x
}

func noSuchEntity(kind, name string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "NoSuchEntity", Message: "The " + kind + " with name " + shorten(name) + " cannot be found."}
}

func conflict(code, format string, args ...any) *apiError {
	e := clientError(code, format, args...)
	e.Status = http.StatusConflict
	return e
}

// iamName reads a required name parameter and authorizes action on the
// ARN arnOf builds from it, with the tags of the role or instance profile
// of that name as aws:ResourceTag/KEY and iam:ResourceTag/KEY, as IAM
// gives them.
func (s *Server) iamName(c *call, param, action string, arnOf func(string) string, extra map[string]string) (string, *apiError) {
	name := c.params.Get(param)
	if name == "" {
		return "", missingParam(c.svc, param)
	}
	arn := arnOf(name)
	keys := maps.Clone(extra)
	if keys == nil {
		keys = map[string]string{}
	}
	s.world.View(func() {
		var tags map[string]string
		switch arn {
		case s.roleARN(name):
			if r, ok := s.world.Role(name); ok {
				tags = r.Tags
			}
		case s.profileARN(name):
			if p, ok := s.world.InstanceProfile(name); ok {
				tags = p.Tags
			}
		}
		for k, v := range tags {
			keys["aws:ResourceTag/"+k], keys["iam:ResourceTag/"+k] = v, v
		}
	})
	return name, s.authorize(c, action, arn, keys)
}

// requestTags reads Tags.member.N as tags and as aws:RequestTag/KEY keys.
func requestTags(c *call) (tags, keys map[string]string) {
	tags, keys = map[string]string{}, map[string]string{}
	for _, t := range structs(c.params, "Tags.member") {
		tags[t.Get("Key")] = t.Get("Value")
		keys["aws:RequestTag/"+t.Get("Key")] = t.Get("Value")
	}
	return tags, keys
}

// iamTags reads Tags.member.N, authorizes tagAction on arn with them as
// aws:RequestTag/KEY when there are any, and returns them.
func (s *Server) iamTags(c *call, tagAction, arn string) (map[string]string, *apiError) {
	tags, keys := requestTags(c)
	if len(tags) == 0 {
		return nil, nil
	}
	return tags, s.authorize(c, tagAction, arn, keys)
}

// createRole answers IAM CreateRole: RoleName, AssumeRolePolicyDocument,
// Description and Tags (which need iam:TagRole too).
func (s *Server) createRole(c *call) (any, *apiError) {
	// The create itself sees the requested tags, so that a policy can
	// demand them (IAM's tag-on-create).
	_, keys := requestTags(c)
	name, e := s.iamName(c, "RoleName", "iam:CreateRole", s.roleARN, keys)
	if e != nil {
		return nil, e
	}
	trust := c.params.Get("AssumeRolePolicyDocument")
	if trust == "" {
		return nil, missingParam(c.svc, "AssumeRolePolicyDocument")
	}
	if !json.Valid([]byte(trust)) {
		return nil, clientError("MalformedPolicyDocument", "This policy contains invalid Json")
	}
	tags, e := s.iamTags(c, "iam:TagRole", s.roleARN(name))
	if e != nil {
		return nil, e
	}
	r := world.Role{Name: name, ID: "AROA" + strings.ToUpper(randomHex(17)), ARN: s.roleARN(name), TrustPolicy: trust,
		Description: c.params.Get("Description"), Created: s.now().UTC(), Tags: tags}
	s.world.Update(func() {
		if _, ok := s.world.Role(name); ok {
			e = conflict("EntityAlreadyExists", "Role with name %s already exists.", shorten(name))
			return
		}
		s.world.Roles = append(s.world.Roles, r)
	})
	if e != nil {
		return nil, e
	}
	return struct {
		Role roleXML `xml:"Role"`
	}{s.roleXML(&r)}, nil
}

// getRole answers IAM GetRole.
func (s *Server) getRole(c *call) (any, *apiError) {
	name, e := s.iamName(c, "RoleName", "iam:GetRole", s.roleARN, nil)
	if e != nil {
		return nil, e
	}
	var x roleXML
	s.world.View(func() {
		r, ok := s.world.Role(name)
		if !ok {
			e = noSuchEntity("role", name)
			return
		}
		x = s.roleXML(r)
	})
	if e != nil {
		return nil, e
	}
	return struct {
		Role roleXML `xml:"Role"`
	}{x}, nil
}

// deleteRole answers IAM DeleteRole: a role with attached policies or in
// an instance profile is DeleteConflict.
func (s *Server) deleteRole(c *call) (any, *apiError) {
	name, e := s.iamName(c, "RoleName", "iam:DeleteRole", s.roleARN, nil)
	if e != nil {
		return nil, e
	}
	s.world.Update(func() {
		r, ok := s.world.Role(name)
		switch {
		case !ok:
			e = noSuchEntity("role", name)
		case len(r.Policies) > 0:
			e = conflict("DeleteConflict", "Cannot delete entity, must detach all policies first.")
		case slices.ContainsFunc(s.world.InstanceProfiles, func(p world.InstanceProfile) bool { return slices.Contains(p.Roles, name) }):
			e = conflict("DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
		default:
			s.world.Roles = slices.DeleteFunc(s.world.Roles, func(r world.Role) bool { return r.Name == name })
		}
	})
	if e != nil {
		return nil, e
	}
	return struct{}{}, nil
}

// managedPolicy reports whether arn is one of AWS's managed policies (the
// sandbox account has no policies of its own).
func managedPolicy(arn string) bool {
	return strings.HasPrefix(arn, "arn:aws:iam::aws:policy/") && len(arn) > len("arn:aws:iam::aws:policy/")
}

// attachRolePolicy answers IAM AttachRolePolicy with an AWS managed policy.
func (s *Server) attachRolePolicy(c *call) (any, *apiError) {
	return s.rolePolicy(c, "iam:AttachRolePolicy", func(r *world.Role, arn string) *apiError {
		if !slices.Contains(r.Policies, arn) {
			r.Policies = append(r.Policies, arn)
		}
		return nil
	})
}

// detachRolePolicy answers IAM DetachRolePolicy.
func (s *Server) detachRolePolicy(c *call) (any, *apiError) {
	return s.rolePolicy(c, "iam:DetachRolePolicy", func(r *world.Role, arn string) *apiError {
		if !slices.Contains(r.Policies, arn) {
			return noSuchEntity("policy", arn).withReason("%s is not attached to %s", arn, r.Name)
		}
		r.Policies = slices.DeleteFunc(r.Policies, func(p string) bool { return p == arn })
		return nil
	})
}

func (s *Server) rolePolicy(c *call, action string, change func(*world.Role, string) *apiError) (any, *apiError) {
	arn := c.params.Get("PolicyArn")
	name, e := s.iamName(c, "RoleName", action, s.roleARN, map[string]string{"iam:PolicyARN": arn})
	if e != nil {
		return nil, e
	}
	if arn == "" {
		return nil, missingParam(c.svc, "PolicyArn")
	}
	if !managedPolicy(arn) {
		return nil, noSuchEntity("policy", arn).withReason("policy %s does not exist or is not attachable", arn)
	}
	s.world.Update(func() {
		r, ok := s.world.Role(name)
		if !ok {
			e = noSuchEntity("role", name)
			return
		}
		e = change(r, arn)
	})
	if e != nil {
		return nil, e
	}
	return struct{}{}, nil
}

type attachedPolicyXML struct {
	PolicyName string `xml:"PolicyName"`
	PolicyArn  string `xml:"PolicyArn"`
}

// listAttachedRolePolicies answers IAM ListAttachedRolePolicies (one page).
func (s *Server) listAttachedRolePolicies(c *call) (any, *apiError) {
	name, e := s.iamName(c, "RoleName", "iam:ListAttachedRolePolicies", s.roleARN, nil)
	if e != nil {
		return nil, e
	}
	out := struct {
		AttachedPolicies []attachedPolicyXML `xml:"AttachedPolicies>member"`
		IsTruncated      bool                `xml:"IsTruncated"`
	}{AttachedPolicies: []attachedPolicyXML{}}
	s.world.View(func() {
		r, ok := s.world.Role(name)
		if !ok {
			e = noSuchEntity("role", name)
			return
		}
		for _, p := range r.Policies {
			out.AttachedPolicies = append(out.AttachedPolicies, attachedPolicyXML{PolicyName: p[strings.LastIndex(p, "/")+1:], PolicyArn: p})
		}
	})
	if e != nil {
		return nil, e
	}
	return out, nil
}

// createInstanceProfile answers IAM CreateInstanceProfile.
func (s *Server) createInstanceProfile(c *call) (any, *apiError) {
	_, keys := requestTags(c)
	name, e := s.iamName(c, "InstanceProfileName", "iam:CreateInstanceProfile", s.profileARN, keys)
	if e != nil {
		return nil, e
	}
	tags, e := s.iamTags(c, "iam:TagInstanceProfile", s.profileARN(name))
	if e != nil {
		return nil, e
	}
	p := world.InstanceProfile{Name: name, ID: "AIPA" + strings.ToUpper(randomHex(17)), ARN: s.profileARN(name), Created: s.now().UTC(), Tags: tags}
	var x profileXML
	s.world.Update(func() {
		if _, ok := s.world.InstanceProfile(name); ok {
			e = conflict("EntityAlreadyExists", "Instance Profile %s already exists.", shorten(name))
			return
		}
		s.world.InstanceProfiles = append(s.world.InstanceProfiles, p)
		x = s.profileXML(&p)
	})
	if e != nil {
		return nil, e
	}
	return struct {
		InstanceProfile profileXML `xml:"InstanceProfile"`
	}{x}, nil
}

// getInstanceProfile answers IAM GetInstanceProfile, with its role.
func (s *Server) getInstanceProfile(c *call) (any, *apiError) {
	name, e := s.iamName(c, "InstanceProfileName", "iam:GetInstanceProfile", s.profileARN, nil)
	if e != nil {
		return nil, e
	}
	var x profileXML
	s.world.View(func() {
		p, ok := s.world.InstanceProfile(name)
		if !ok {
			e = noSuchEntity("Instance Profile", name)
			return
		}
		x = s.profileXML(p)
	})
	if e != nil {
		return nil, e
	}
	return struct {
		InstanceProfile profileXML `xml:"InstanceProfile"`
	}{x}, nil
}

// deleteInstanceProfile answers IAM DeleteInstanceProfile: one with a
// role is DeleteConflict.
func (s *Server) deleteInstanceProfile(c *call) (any, *apiError) {
	name, e := s.iamName(c, "InstanceProfileName", "iam:DeleteInstanceProfile", s.profileARN, nil)
	if e != nil {
		return nil, e
	}
	s.world.Update(func() {
		p, ok := s.world.InstanceProfile(name)
		switch {
		case !ok:
			e = noSuchEntity("Instance Profile", name)
		case len(p.Roles) > 0:
			e = conflict("DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
		default:
			s.world.InstanceProfiles = slices.DeleteFunc(s.world.InstanceProfiles, func(p world.InstanceProfile) bool { return p.Name == name })
		}
	})
	if e != nil {
		return nil, e
	}
	return struct{}{}, nil
}

// addRoleToInstanceProfile answers IAM AddRoleToInstanceProfile: a profile
// holds one role (LimitExceeded), and adding asks for iam:PassRole on it
// too, as IAM does.
func (s *Server) addRoleToInstanceProfile(c *call) (any, *apiError) {
	return s.profileRole(c, "iam:AddRoleToInstanceProfile", true)
}

// removeRoleFromInstanceProfile answers IAM RemoveRoleFromInstanceProfile.
func (s *Server) removeRoleFromInstanceProfile(c *call) (any, *apiError) {
	return s.profileRole(c, "iam:RemoveRoleFromInstanceProfile", false)
}

func (s *Server) profileRole(c *call, action string, add bool) (any, *apiError) {
	name, e := s.iamName(c, "InstanceProfileName", action, s.profileARN, nil)
	if e != nil {
		return nil, e
	}
	role := c.params.Get("RoleName")
	if role == "" {
		return nil, missingParam(c.svc, "RoleName")
	}
	if add {
		if e := s.authorize(c, "iam:PassRole", s.roleARN(role), nil); e != nil {
			return nil, e
		}
	}
	s.world.Update(func() {
		p, ok := s.world.InstanceProfile(name)
		if !ok {
			e = noSuchEntity("Instance Profile", name)
			return
		}
		if _, ok := s.world.Role(role); !ok {
			e = noSuchEntity("role", role)
			return
		}
		has := slices.Contains(p.Roles, role)
		switch {
		case add && len(p.Roles) > 0:
			e = conflict("LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
		case add:
			p.Roles = append(p.Roles, role)
		case !has:
			e = noSuchEntity("role", role).withReason("role %s is not in instance profile %s", role, name)
		default:
			p.Roles = slices.DeleteFunc(p.Roles, func(r string) bool { return r == role })
		}
	})
	if e != nil {
		return nil, e
	}
	return struct{}{}, nil
}
