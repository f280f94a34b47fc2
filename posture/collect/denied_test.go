package collect

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/rdsgate/rdsgate/posture"
)

// denyOps makes every SDK client built from cfg fail the named operations
// the way AWS does for a principal without the permission.
func denyOps(cfg aws.Config, codes map[string]string) aws.Config {
	cfg = cfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("denyOps",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if code, ok := codes[middleware.GetOperationName(ctx)]; ok {
					return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: code, Message: "not authorized (test)"}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
	return cfg
}

// throttleFirst makes the first attempt of op fail with Throttling, inside
// the retry loop; it counts the attempts.
func throttleFirst(cfg aws.Config, op string, attempts *atomic.Int32) aws.Config {
	cfg = cfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("throttleFirst",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				if middleware.GetOperationName(ctx) == op && attempts.Add(1) == 1 {
					return middleware.FinalizeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded (test)"}
				}
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	})
	return cfg
}

// testDenied runs against the bad account built by TestAcceptanceMoto.
func testDenied(t *testing.T, cfg aws.Config, opts Options) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	denied := denyOps(cfg, map[string]string{
		"DescribeSecurityGroups": "UnauthorizedOperation",
		"DescribeNetworkAcls":    "UnauthorizedOperation",
		"DescribeDBParameters":   "AccessDenied",
		"DescribeTrails":         "AccessDeniedException",
		"ListPolicies":           "AccessDenied",
	})
	snap, err := Collect(ctx, denied, opts)
	checkMotoErr(t, nil2(snap, err), nil)
	if err != nil && !onlyGaps(snap) {
		t.Fatalf("denials must not be errors: %v", err)
	}
	if *update {
		// The report package's golden input: fails, unknowns and gaps.
		var buf bytes.Buffer
		if err := snap.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "report", "testdata", "snapshot.json"), normalise(buf.Bytes()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep := posture.Audit(snap, posture.AuditOptions{})
	want := map[string][]string{
		"sg-open-ingress":        {"ec2:DescribeSecurityGroups"},
		"sg-broad-ingress":       {"ec2:DescribeSecurityGroups"},
		"sg-egress":              {"ec2:DescribeSecurityGroups"},
		"nacl-broad":             {"ec2:DescribeNetworkAcls"},
		"tls-not-enforced":       {"rds:DescribeDBParameters"},
		"cloudtrail-off":         {"cloudtrail:DescribeTrails"},
		"no-delete-guard-policy": {"iam:ListPolicies"},
	}
	for _, f := range rep.Databases[0].Results {
		w, ok := want[f.CheckID]
		if !ok {
			continue
		}
		if f.Status != posture.StatusUnknown || !slices.Equal(f.MissingActions, w) {
			t.Errorf("%s: %s %v (%s), want unknown %v", f.CheckID, f.Status, f.MissingActions, f.Detail, w)
		}
	}
	// Checks that do not need the denied reads still decide.
	for _, f := range rep.Databases[0].Results {
		if f.CheckID == "public-access" && f.Status != posture.StatusFail {
			t.Errorf("public-access: %s, want fail", f.Status)
		}
	}
	var gaps []string
	for _, g := range rep.Gaps {
		if g.Denied {
			gaps = append(gaps, g.Action)
		}
	}
	slices.Sort(gaps)
	wantGaps := []string{"cloudtrail:DescribeTrails", "ec2:DescribeNetworkAcls", "ec2:DescribeSecurityGroups", "iam:ListPolicies", "rds:DescribeDBParameters"}
	if !slices.Equal(gaps, wantGaps) {
		t.Errorf("denied actions in the report: %v, want %v", gaps, wantGaps)
	}
}

// testRetry: a throttled call is retried with backoff and succeeds.
func testRetry(t *testing.T, cfg aws.Config, opts Options) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var attempts atomic.Int32
	snap, err := Collect(ctx, throttleFirst(cfg, "DescribeDBInstances", &attempts), opts)
	checkMotoErr(t, nil2(snap, err), nil)
	if n := attempts.Load(); n != 2 {
		t.Errorf("DescribeDBInstances attempts = %d, want 2", n)
	}
	if len(snap.Regions[0].Instances) != 1 {
		t.Errorf("instances after retry: %d, want 1", len(snap.Regions[0].Instances))
	}
}

func nil2(s *posture.Snapshot, _ error) *posture.Snapshot { return s }

func onlyGaps(s *posture.Snapshot) bool {
	for _, r := range s.Regions {
		for _, e := range r.Errors {
			if !e.Denied && !slices.Contains(motoGaps, e.Action) {
				return false
			}
		}
	}
	return true
}
