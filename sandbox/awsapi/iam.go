package awsapi

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

type simulatePolicyResult struct {
	EvaluationResults []evalResultXML `xml:"EvaluationResults>member"`
	IsTruncated       bool            `xml:"IsTruncated"`
	Marker            string          `xml:"Marker,omitempty"`
}

type evalResultXML struct {
	EvalActionName       string         `xml:"EvalActionName"`
	EvalResourceName     string         `xml:"EvalResourceName"`
	EvalDecision         string         `xml:"EvalDecision"`
	MatchedStatements    []statementXML `xml:"MatchedStatements>member"`
	MissingContextValues []string       `xml:"MissingContextValues>member"`
}

type statementXML struct {
	SourcePolicyID   string `xml:"SourcePolicyId"`
	SourcePolicyType string `xml:"SourcePolicyType"`
}

// simulatePrincipalPolicy answers IAM SimulatePrincipalPolicy: for each
// ActionNames × ResourceArns (default "*") pair, the decision of the
// principal PolicySourceArn's policies plus PolicyInputList, with the
// ContextEntries as condition keys, and the deciding statement's policy.
// The caller needs iam:SimulatePrincipalPolicy on PolicySourceArn.
func (s *Server) simulatePrincipalPolicy(c *call) (any, *apiError) {
	p := c.params
	source := p.Get("PolicySourceArn")
	if source == "" {
		return nil, missingParam(c.svc, "PolicySourceArn")
	}
	actions := members(p, "ActionNames.member")
	if len(actions) == 0 {
		return nil, missingParam(c.svc, "ActionNames")
	}
	resources := members(p, "ResourceArns.member")
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	kind, name, ok := parseIAMPrincipalARN(source)
	if !ok {
		return nil, clientError("InvalidInput", "ARN %s is not valid.", shorten(source))
	}
	var inputs []iampolicy.Document
	for i, text := range members(p, "PolicyInputList.member") {
		d, err := iampolicy.Parse([]byte(text))
		if err != nil {
			return nil, clientError("MalformedPolicyDocument", "PolicyInputList.%d: %v", i+1, err)
		}
		inputs = append(inputs, d)
	}
	ctx := map[string]string{}
	for _, e := range structs(p, "ContextEntries.member") {
		key := e.Get("ContextKeyName")
		vals := members(e, "ContextKeyValues.member")
		if key == "" || len(vals) == 0 {
			return nil, clientError("InvalidInput", "Each context entry needs a ContextKeyName and at least one ContextKeyValues value.")
		}
		ctx[key] = vals[0]
	}
	maxItems, offset := 100, 0
	if v := p.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, validation(c.svc, "1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000", shorten(v))
		}
		maxItems = n
	}
	if m := p.Get("Marker"); m != "" {
		n, ok := decodeMarker(m)
		if !ok {
			return nil, clientError("InvalidInput", "Invalid Marker.")
		}
		offset = n
	}
	if e := s.authorize(c, "iam:SimulatePrincipalPolicy", source, nil); e != nil {
		return nil, e
	}
	principal := s.principalByARN(source)
	if principal == nil {
		return nil, &apiError{Status: http.StatusNotFound, Code: "NoSuchEntity", Message: fmt.Sprintf("The %s with name %s cannot be found.", kind, name)}
	}
	// Evaluate over a copy carrying the extra input policies.
	sim := *principal
	sim.Policies = append(slices.Clip(principal.Policies), inputs...)
	var all []evalResultXML
	for _, action := range actions {
		for _, res := range resources {
			r := s.world.Authorize(&sim, action, res, ctx)
			x := evalResultXML{EvalActionName: action, EvalResourceName: res, EvalDecision: string(r.Decision)}
			if r.Statement != nil {
				x.MatchedStatements = []statementXML{policySource(&sim, len(principal.Policies), kind, r.Statement)}
			}
			all = append(all, x)
		}
	}
	var out simulatePolicyResult
	if offset < len(all) {
		end := min(offset+maxItems, len(all))
		out.EvaluationResults = all[offset:end]
		if end < len(all) {
			out.IsTruncated, out.Marker = true, encodeMarker(end)
		}
	}
	return out, nil
}

// policySource names the policy holding st: the principal's own policies
// are "<name>-policy-N" of type user or role; PolicyInputList entries are
// "PolicyInputList.N" of type none, as IAM names them.
func policySource(p *world.Principal, own int, kind string, st *iampolicy.Statement) statementXML {
	for di := range p.Policies {
		for si := range p.Policies[di].Statement {
			if &p.Policies[di].Statement[si] != st {
				continue
			}
			if di >= own {
				return statementXML{SourcePolicyID: fmt.Sprintf("PolicyInputList.%d", di-own+1), SourcePolicyType: "none"}
			}
			return statementXML{SourcePolicyID: fmt.Sprintf("%s-policy-%d", p.Name, di+1), SourcePolicyType: kind}
		}
	}
	return statementXML{SourcePolicyType: "none"}
}

// parseIAMPrincipalARN splits arn:aws:iam::ACCOUNT:user/NAME (or role/,
// group/, with paths) into its kind and name.
func parseIAMPrincipalARN(a string) (kind, name string, ok bool) {
	rest, ok := strings.CutPrefix(a, "arn:aws:iam::")
	if !ok {
		return "", "", false
	}
	_, res, ok := strings.Cut(rest, ":")
	if !ok {
		return "", "", false
	}
	kind, path, ok := strings.Cut(res, "/")
	if !ok || path == "" || kind != "user" && kind != "role" && kind != "group" {
		return "", "", false
	}
	return kind, path[strings.LastIndex(path, "/")+1:], true
}

func (s *Server) principalByARN(a string) *world.Principal {
	for i := range s.world.Principals {
		if s.world.Principals[i].ARN == a {
			return &s.world.Principals[i]
		}
	}
	return nil
}
