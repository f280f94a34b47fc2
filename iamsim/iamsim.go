// Package iamsim asks IAM's policy simulator whether an AWS identity may do
// an action, for the questions rdsgate has when a login is refused: may
// this caller rds-db:connect as this database user, or start a session on
// this bastion?
package iamsim

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

// ErrCannotAsk means the simulator cannot answer for this caller: the
// account root, or a caller that may not call iam:SimulatePrincipalPolicy.
var ErrCannotAsk = errors.New("cannot ask IAM's policy simulator for this caller")

// Decision is the simulator's answer for one action on one resource.
type Decision struct {
	// Principal is what was asked about: an assumed role's role ARN.
	Principal string
	Allowed   bool
	// Reason is the simulator's decision: allowed, explicitDeny or
	// implicitDeny; Resource the resource it is about (the first denied).
	Reason, Resource string
}

// Allowed asks whether callerARN (as STS names it) may do action on every
// one of resources. An error wrapping ErrCannotAsk means there is no answer.
func Allowed(ctx context.Context, cfg aws.Config, callerARN, action string, resources ...string) (Decision, error) {
	principal, ok := Principal(callerARN)
	if !ok {
		return Decision{}, fmt.Errorf("%w: %s", ErrCannotAsk, callerARN)
	}
	out, err := iam.NewFromConfig(cfg).SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(principal), ActionNames: []string{action}, ResourceArns: resources})
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && strings.Contains(apiErr.ErrorCode(), "AccessDenied") {
			return Decision{Principal: principal}, fmt.Errorf("%w: the caller may not call iam:SimulatePrincipalPolicy", ErrCannotAsk)
		}
		return Decision{Principal: principal}, err
	}
	d := Decision{Principal: principal, Allowed: len(out.EvaluationResults) > 0}
	for _, r := range out.EvaluationResults {
		d.Reason, d.Resource = string(r.EvalDecision), aws.ToString(r.EvalResourceName)
		if r.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeAllowed {
			d.Allowed = false
			break
		}
	}
	return d, nil
}

// Principal turns a caller ARN into the principal the simulator takes: an
// assumed-role session becomes its role; the account root has none.
func Principal(arn string) (string, bool) {
	switch {
	case strings.Contains(arn, ":assumed-role/"):
		// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
		parts := strings.SplitN(arn, ":", 6)
		if len(parts) < 6 {
			return "", false
		}
		role := strings.SplitN(strings.TrimPrefix(parts[5], "assumed-role/"), "/", 2)[0]
		return fmt.Sprintf("arn:%s:iam::%s:role/%s", parts[1], parts[4], role), true
	case strings.HasSuffix(arn, ":root"):
		return "", false
	}
	return arn, true
}
