package awsapi_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rdsgate/rdsgate/posture"
	"github.com/rdsgate/rdsgate/posture/collect"
	"github.com/rdsgate/rdsgate/sandbox"
)

// sandboxFindings are the sandbox world's deliberate findings, the ones
// the demo shows: each must fail on the database named.
var sandboxFindings = map[string][]string{
	"demo-pg": {
		"cloudtrail-off", "no-outside-vpc-connection-alarm", "audit-logs-not-exported", "default-port",
		"production-multi-az-off", "snapshot-public", "event-subscription-missing", "performance-insights-aws-key",
	},
	"demo-mysql": {"tls-not-enforced", "snapshot-shared-unknown-account", "enhanced-monitoring-off", "copy-tags-to-snapshot-off"},
}

// TestAuditOfAFreshSandbox: rdsgate's collector and audit against the
// sandbox's real API server. Every read the audit makes is served (no
// unknown of the not-supported kind, no collection error that is not a
// denial), and the world's deliberate findings are found.
func TestAuditOfAFreshSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a sandbox")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{Dir: t.TempDir(), Backend: sandbox.BackendEmbedded})
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	cfgOf := func(profile string) aws.Config {
		p := sb.Principal(profile)
		return aws.Config{
			Region:       sb.World.Region,
			BaseEndpoint: aws.String(sb.APIURL),
			Credentials:  credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, p.SessionToken),
		}
	}
	t.Run("intern is denied every read, in each protocol's words", func(t *testing.T) {
		snap, _ := collect.Collect(ctx, cfgOf(sandbox.ProfileIntern), collect.Options{Regions: []string{sb.World.Region}, MaxAttempts: 1})
		if snap == nil {
			t.Fatal("no snapshot")
		}
		seen := map[string]bool{}
		for _, e := range append(snap.Regions[0].Errors, snap.IAM.Errors...) {
			seen[e.Action] = true
			if e.Kind() != posture.GapDenied {
				t.Errorf("%s: %s (%s), want access denied", e.Action, e.Kind(), e.Code)
			}
		}
		for _, a := range []string{"cloudwatch:DescribeAlarms", "rds:DescribeEventSubscriptions", "rds:DescribeDBInstances", "ssm:DescribeInstanceInformation"} {
			if !seen[a] {
				t.Errorf("%s was not denied", a)
			}
		}
	})
	snap, err := collect.Collect(ctx, cfgOf(sandbox.ProfileAdmin), collect.Options{Regions: []string{sb.World.Region}, MaxAttempts: 1})
	if err != nil {
		t.Errorf("collect: %v", err)
	}
	if snap == nil {
		t.FailNow()
	}
	rep := posture.Audit(snap, posture.AuditOptions{})
	for _, g := range rep.Gaps {
		t.Errorf("read failed: %s (%s)", g.Explain(), g.Message)
	}
	for _, db := range rep.Databases {
		for _, f := range db.Results {
			if f.Status == posture.StatusUnknown && f.Reason != posture.GapNotReported {
				t.Errorf("%s %s: unknown (%s): %s%s", db.ID, f.CheckID, f.Reason, f.Detail, posture.UnknownText(f))
			}
			if f.Status == posture.StatusUnknown {
				t.Logf("%s %s: unknown: %s", db.ID, f.CheckID, f.Detail)
			}
		}
	}
	for id, want := range sandboxFindings {
		var failed []string
		for _, db := range rep.Databases {
			if db.ID != id {
				continue
			}
			for _, f := range db.Results {
				if f.Status == posture.StatusFail {
					failed = append(failed, f.CheckID)
				}
			}
		}
		for _, c := range want {
			if !slices.Contains(failed, c) {
				t.Errorf("%s: %s does not fail (failed: %s)", id, c, strings.Join(failed, ", "))
			}
		}
	}
}
