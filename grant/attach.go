package grant

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/rdsgate/rdsgate/setting"
)

// Attachment is a policy put on an IAM principal as an inline policy of
// the policy's name (rdsgate-TARGET-USER: recognisable, and the same name
// every time, so that putting it again replaces it), or with Remove taken
// off again.
type Attachment struct {
	// Principal is role/NAME, user/NAME or group/NAME.
	Principal string
	Policy    Named
	Remove    bool
}

// principal splits role/NAME, user/NAME or group/NAME.
func principal(s string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(s, "/")
	if !ok || name == "" || strings.ContainsAny(name, "/ ") || kind != "role" && kind != "user" && kind != "group" {
		return "", "", setting.Invalidf("%s %q: use role/NAME, user/NAME or group/NAME", setting.AttachTo, s)
	}
	return kind, name, nil
}

// Command is the aws iam command that does what a describes.
func (a Attachment) Command() (string, error) {
	if !a.Remove {
		return AttachCommand(a.Principal, a.Policy.Name, a.Policy.Doc)
	}
	kind, name, err := principal(a.Principal)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("aws iam delete-%s-policy --%s-name %s --policy-name %s\n", kind, kind, shellQuote(name), shellQuote(a.Policy.Name)), nil
}

// Apply puts the policy on the principal (PutRolePolicy, PutUserPolicy,
// PutGroupPolicy), or takes it off (Delete*Policy; one that is not there
// is an error that says so).
func (a Attachment) Apply(ctx context.Context, cfg aws.Config) error {
	kind, name, err := principal(a.Principal)
	if err != nil {
		return err
	}
	api, pol := iam.NewFromConfig(cfg), aws.String(a.Policy.Name)
	doc := aws.String(a.Policy.Doc.CompactJSON())
	switch {
	case !a.Remove && kind == "role":
		_, err = api.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: &name, PolicyName: pol, PolicyDocument: doc})
	case !a.Remove && kind == "user":
		_, err = api.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: &name, PolicyName: pol, PolicyDocument: doc})
	case !a.Remove:
		_, err = api.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: &name, PolicyName: pol, PolicyDocument: doc})
	case kind == "role":
		_, err = api.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: &name, PolicyName: pol})
	case kind == "user":
		_, err = api.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: &name, PolicyName: pol})
	default:
		_, err = api.DeleteGroupPolicy(ctx, &iam.DeleteGroupPolicyInput{GroupName: &name, PolicyName: pol})
	}
	var missing *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &missing) && a.Remove:
		return fmt.Errorf("%s has no policy %s (was it attached under another name, or removed already?): %w", a.Principal, a.Policy.Name, errors.Join(errNotAttached, err))
	case errors.As(err, &missing):
		return fmt.Errorf("there is no %s: %w", a.Principal, err)
	case err != nil && a.Remove:
		return fmt.Errorf("take policy %s off %s: %w", a.Policy.Name, a.Principal, err)
	case err != nil:
		return fmt.Errorf("put policy %s on %s: %w", a.Policy.Name, a.Principal, err)
	}
	return nil
}

// NotAttached reports whether err is Apply's answer to removing a policy
// that is not there.
func NotAttached(err error) bool { return errors.Is(err, errNotAttached) }

// errNotAttached marks a removal of a policy that is not there.
var errNotAttached = errors.New("no such policy")

// String says what a does, once done: "policy NAME put on user/jane".
func (a Attachment) String() string {
	if a.Remove {
		return "policy " + a.Policy.Name + " taken off " + a.Principal
	}
	return "policy " + a.Policy.Name + " put on " + a.Principal
}
