package awsapi

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestGetCallerIdentity(t *testing.T) {
	e := start(t)
	for _, name := range []string{"admin", "intern", "temp"} {
		t.Run(name, func(t *testing.T) {
			p := principal(t, e.world, name)
			out, err := sts.NewFromConfig(e.cfg(t, name)).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatalf("GetCallerIdentity: %v", err)
			}
			if got := aws.ToString(out.Arn); got != p.ARN {
				t.Errorf("Arn = %q, want %q", got, p.ARN)
			}
			if got := aws.ToString(out.UserId); got != p.UserID {
				t.Errorf("UserId = %q, want %q", got, p.UserID)
			}
			if got := aws.ToString(out.Account); got != testAccount {
				t.Errorf("Account = %q, want %q", got, testAccount)
			}
		})
	}
}
