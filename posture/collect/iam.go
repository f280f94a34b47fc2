package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/rdsgate/rdsgate/posture"
)

// iamPolicies returns the customer-managed policies whose default version
// mentions rds:Delete* (or rds:*, or denies with NotAction).
func (rs *regionState) iamPolicies(ctx context.Context, region string) []posture.IAMPolicy {
	c := iam.NewFromConfig(rs.c.regionCfg(region))
	var all []types.Policy
	p := iam.NewListPoliciesPaginator(c, &iam.ListPoliciesInput{Scope: types.PolicyScopeTypeLocal})
	for p.HasMorePages() {
		var page *iam.ListPoliciesOutput
		if err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
			rs.record(ctx, "iam:ListPolicies", "", err)
			return nil
		}
		all = append(all, page.Policies...)
	}
	out := []posture.IAMPolicy{}
	var wg sync.WaitGroup
	for _, pol := range all {
		wg.Go(func() {
			var v *iam.GetPolicyVersionOutput
			err := rs.call(ctx, func() (err error) {
				v, err = c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: pol.Arn, VersionId: pol.DefaultVersionId})
				return err
			})
			if err != nil {
				rs.record(ctx, "iam:GetPolicyVersion", aws.ToString(pol.Arn), err)
				return
			}
			if v.PolicyVersion == nil {
				return
			}
			stmts, err := ParsePolicy(aws.ToString(v.PolicyVersion.Document))
			if err != nil || !mentionsDelete(stmts) {
				return
			}
			rs.mu.Lock()
			out = append(out, posture.IAMPolicy{ARN: aws.ToString(pol.Arn), Name: aws.ToString(pol.PolicyName), AttachmentCount: int(aws.ToInt32(pol.AttachmentCount)), Statements: stmts})
			rs.mu.Unlock()
		})
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].ARN < out[j].ARN })
	return out
}

func mentionsDelete(stmts []posture.Statement) bool {
	for _, s := range stmts {
		if len(s.NotActions) > 0 && strings.EqualFold(s.Effect, "Deny") {
			return true
		}
		for _, a := range s.Actions {
			a = strings.ToLower(a)
			if strings.HasPrefix(a, "rds:delete") || a == "rds:*" || a == "rds:del*" || a == "rds:de*" || a == "rds:d*" {
				return true
			}
		}
	}
	return false
}

// ParsePolicy parses an IAM policy document (URL-encoded, as IAM returns
// it, or plain JSON) into statements.
func ParsePolicy(doc string) ([]posture.Statement, error) {
	if strings.HasPrefix(doc, "%7B") || strings.HasPrefix(doc, "%7b") {
		d, err := url.QueryUnescape(doc)
		if err != nil {
			return nil, fmt.Errorf("collect: policy document: %w", err)
		}
		doc = d
	}
	var raw struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, fmt.Errorf("collect: policy document: %w", err)
	}
	type stmt struct {
		Effect    string
		Action    json.RawMessage
		NotAction json.RawMessage
		Resource  json.RawMessage
		Condition json.RawMessage
	}
	var list []stmt
	if err := json.Unmarshal(raw.Statement, &list); err != nil {
		var one stmt
		if err := json.Unmarshal(raw.Statement, &one); err != nil {
			return nil, fmt.Errorf("collect: policy statement: %w", err)
		}
		list = []stmt{one}
	}
	out := make([]posture.Statement, 0, len(list))
	for _, s := range list {
		out = append(out, posture.Statement{
			Effect: s.Effect, Actions: strs(s.Action), NotActions: strs(s.NotAction), Resources: strs(s.Resource),
			HasCondition: len(s.Condition) > 0 && string(s.Condition) != "null",
		})
	}
	return out, nil
}

// strs decodes a string or a list of strings.
func strs(m json.RawMessage) []string {
	if len(m) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(m, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(m, &many)
	return many
}
