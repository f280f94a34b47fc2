package awsapi

import (
	"encoding/json"
	"net/url"
	"slices"

	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

// userPolicyOps are IAM's inline policies of users: the sandbox's
// principals. A policy put on one takes part in every decision about its
// requests and logins at once, as IAM's does (give or take propagation).
func (s *Server) userPolicyOps() map[string]op {
	return map[string]op{"PutUserPolicy": s.putUserPolicy, "DeleteUserPolicy": s.deleteUserPolicy,
		"GetUserPolicy": s.getUserPolicy, "ListUserPolicies": s.listUserPolicies}
}

func (s *Server) userARN(name string) string {
	return "arn:aws:iam::" + s.world.Account + ":user/" + name
}

// userPolicy authorizes action on the user and runs change on it.
func (s *Server) userPolicy(c *call, action string, change func(p *world.Principal) *apiError) *apiError {
	name, e := s.iamName(c, "UserName", action, s.userARN, nil)
	if e != nil {
		return e
	}
	s.world.Update(func() {
		p, ok := s.world.UserPrincipal(name)
		if !ok {
			e = noSuchEntity("user", name)
			return
		}
		for len(p.PolicyNames) < len(p.Policies) {
			p.PolicyNames = append(p.PolicyNames, "")
		}
		e = change(p)
	})
	return e
}

// putUserPolicy answers IAM PutUserPolicy: PolicyName and PolicyDocument
// (URL-encoded JSON, as the SDKs send it), replacing a policy of that name.
func (s *Server) putUserPolicy(c *call) (any, *apiError) {
	name, text := c.params.Get("PolicyName"), c.params.Get("PolicyDocument")
	if name == "" {
		return nil, missingParam(c.svc, "PolicyName")
	}
	if text == "" {
		return nil, missingParam(c.svc, "PolicyDocument")
	}
	if u, err := url.QueryUnescape(text); err == nil && u != text && u[0] == '{' {
		text = u
	}
	doc, err := iampolicy.Parse([]byte(text))
	if err != nil {
		return nil, clientError("MalformedPolicyDocument", "%v", err)
	}
	e := s.userPolicy(c, "iam:PutUserPolicy", func(p *world.Principal) *apiError {
		if i := slices.Index(p.PolicyNames, name); i >= 0 {
			p.Policies[i] = doc
			return nil
		}
		p.Policies, p.PolicyNames = append(p.Policies, doc), append(p.PolicyNames, name)
		return nil
	})
	return struct{}{}, e
}

// deleteUserPolicy answers IAM DeleteUserPolicy.
func (s *Server) deleteUserPolicy(c *call) (any, *apiError) {
	name := c.params.Get("PolicyName")
	e := s.userPolicy(c, "iam:DeleteUserPolicy", func(p *world.Principal) *apiError {
		i := slices.Index(p.PolicyNames, name)
		if name == "" || i < 0 {
			return noSuchEntity("policy", name)
		}
		p.Policies, p.PolicyNames = slices.Delete(p.Policies, i, i+1), slices.Delete(p.PolicyNames, i, i+1)
		return nil
	})
	return struct{}{}, e
}

type getUserPolicyResult struct {
	UserName       string `xml:"UserName"`
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

// getUserPolicy answers IAM GetUserPolicy, the document URL-encoded as
// IAM returns it.
func (s *Server) getUserPolicy(c *call) (any, *apiError) {
	name := c.params.Get("PolicyName")
	var out getUserPolicyResult
	e := s.userPolicy(c, "iam:GetUserPolicy", func(p *world.Principal) *apiError {
		i := slices.Index(p.PolicyNames, name)
		if name == "" || i < 0 {
			return noSuchEntity("policy", name)
		}
		b, err := json.Marshal(p.Policies[i])
		if err != nil {
			return clientError("ServiceFailure", "%v", err)
		}
		out = getUserPolicyResult{UserName: p.User(), PolicyName: name, PolicyDocument: url.QueryEscape(string(b))}
		return nil
	})
	if e != nil {
		return nil, e
	}
	return out, nil
}

type listUserPoliciesResult struct {
	PolicyNames []string `xml:"PolicyNames>member"`
	IsTruncated bool     `xml:"IsTruncated"`
}

// listUserPolicies answers IAM ListUserPolicies (one page).
func (s *Server) listUserPolicies(c *call) (any, *apiError) {
	var out listUserPoliciesResult
	e := s.userPolicy(c, "iam:ListUserPolicies", func(p *world.Principal) *apiError {
		out.PolicyNames = slices.DeleteFunc(slices.Clone(p.PolicyNames), func(n string) bool { return n == "" })
		return nil
	})
	if e != nil {
		return nil, e
	}
	return out, nil
}
