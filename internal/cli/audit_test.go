package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
)

func TestAuditAgainstMoto(t *testing.T) {
	isolateAWS(t)
	_, api := useMoto(t)
	mustInstance(t, api, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String("careless"), Engine: aws.String("postgres"),
		DBInstanceClass: aws.String("db.t3.micro"), AllocatedStorage: aws.Int32(20),
		MasterUsername: aws.String("admin"), MasterUserPassword: aws.String("pw-not-used-1"),
		PubliclyAccessible: aws.Bool(true), BackupRetentionPeriod: aws.Int32(0),
	})
	code, out, errOut := run(t, "audit", "-o", "json", "--fail-on", "high")
	if code != 1 {
		t.Errorf("--fail-on high with failing high checks: exit %d, want 1 (%s)", code, errOut)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, id := range []string{"public-access", "iam-auth-disabled", "default-master-username", "backup-retention-low", "deletion-protection-off"} {
		if !strings.Contains(out, `"`+id+`"`) {
			t.Errorf("report lacks %s", id)
		}
	}
	// Saved snapshots re-audit without AWS, in every format.
	snap := filepath.Join(t.TempDir(), "snap.json")
	if code, _, errOut := run(t, "audit", "--save", snap, "-q"); code != 0 {
		t.Fatalf("--save: exit %d %s", code, errOut)
	}
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	for _, f := range []string{"text", "json", "sarif", "markdown"} {
		code, out, errOut := run(t, "audit", "--input", snap, "-o", f)
		if code != 0 || !strings.Contains(out, "careless") {
			t.Errorf("--input -o %s: exit %d %s", f, code, errOut)
		}
	}
	code, out, _ = run(t, "audit", "--input", snap, "--emit-alarms", "--alarm-format", "terraform")
	if code != 0 || !strings.Contains(out, "aws_cloudwatch_log_metric_filter") {
		t.Errorf("alarm kit: exit %d\n%s", code, out)
	}
	if code, _, errOut := run(t, "audit", "--input", snap, "--fail-on", "severe"); code != 2 {
		t.Errorf("bad --fail-on: exit %d %s", code, errOut)
	}
	_ = os.Remove(snap)
}

// TestAuditNeverGreenByAccident: an audit that could not see what it was
// asked to see exits 3 (not 0) and says why on stderr, whatever --fail-on.
func TestAuditNeverGreenByAccident(t *testing.T) {
	isolateAWS(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	denied := write("denied.json", `{"schema_version":1,"collected_at":"2025-01-01T00:00:00Z","regions":[{"name":"us-east-1",
		"errors":[{"action":"rds:DescribeDBInstances","code":"AccessDenied","denied":true}]}],"iam":{}}`)
	one := write("one.json", `{"schema_version":1,"collected_at":"2025-01-01T00:00:00Z","regions":[{"name":"us-east-1",
		"db_instances":[{"id":"demo-pg","arn":"arn:aws:rds:us-east-1:123456789012:db:demo-pg","engine":"postgres","storage_encrypted":true}],
		"errors":[{"action":"cloudtrail:DescribeTrails","code":"UnknownOperationException"}]}],"iam":{}}`)
	cfg := write("rdsgate.yaml", "targets:\n  pg:\n    identifier: demo-pg\n")
	t.Setenv("RDSGATE_CONFIG", cfg)
	for _, tc := range []struct {
		desc    string
		args    []string
		want    int
		wantErr string
		wantOut string
	}{
		{desc: "inventory denied", args: []string{"--input", denied, "--fail-on", "high"}, want: 3, wantErr: "access denied to rds:DescribeDBInstances"},
		{desc: "target matches nothing", args: []string{"--input", one, "--target", "nosuch"}, want: 3, wantErr: "target nosuch matches no database"},
		{desc: "config name is the identifier", args: []string{"--input", one, "--target", "pg"}, want: 0, wantOut: "demo-pg"},
		{desc: "unknown fails CI", args: []string{"--input", one, "--fail-on-unknown"}, want: 3, wantErr: "unknown"},
		{desc: "not served reads unlike a permission", args: []string{"--input", one, "--all"}, want: 0, wantOut: "[not served by the endpoint: cloudtrail:DescribeTrails]"},
		{desc: "findings win over unknowns", args: []string{"--input", one, "--fail-on", "high", "--fail-on-unknown"}, want: 1},
		{desc: "accounts without --org", args: []string{"--input", one, "--accounts", "111122223333"}, want: 2, wantErr: "--accounts and --role-name go with --org"},
		{desc: "alarms are for one account", args: []string{"--org", "--emit-alarms"}, want: 2, wantErr: "--emit-alarms is for one account"},
		{desc: "a bad production tag", args: []string{"--input", one, "--production-tag", "=prod"}, want: 2, wantErr: "--production-tag"},
		{desc: "a check that does not exist", args: []string{"--input", one, "--check", "nope"}, want: 2, wantErr: `--check "nope": no such check`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			code, out, errOut := run(t, append([]string{"audit"}, tc.args...)...)
			if code != tc.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.want, out, errOut)
			}
			if !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErr, errOut)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantOut, out)
			}
		})
	}
}

// TestAuditOrgAgainstMoto: audit --org lists the organization's accounts,
// reads the management account with the caller's credentials and the
// member through the role, and says which account each database is in.
func TestAuditOrgAgainstMoto(t *testing.T) {
	isolateAWS(t)
	m, api := useMoto(t)
	mustInstance(t, api, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String("careless"), Engine: aws.String("postgres"),
		DBInstanceClass: aws.String("db.t3.micro"), AllocatedStorage: aws.Int32(20),
		MasterUsername: aws.String("admin"), MasterUserPassword: aws.String("pw-not-used-1"),
		PubliclyAccessible: aws.Bool(true),
	})
	m.CLI(t, "organizations", "create-organization", "--feature-set", "ALL")
	var created struct{ CreateAccountStatus struct{ AccountId string } }
	if err := json.Unmarshal(m.CLI(t, "organizations", "create-account", "--email", "dev@example.com", "--account-name", "dev"), &created); err != nil {
		t.Fatal(err)
	}
	member := created.CreateAccountStatus.AccountId
	code, out, errOut := run(t, "audit", "--org", "--regions", m.Region, "-o", "json", "-q")
	if code != 0 && code != 1 {
		t.Fatalf("audit --org: exit %d\n%s\n%s", code, out, errOut)
	}
	var rep struct {
		Accounts []struct {
			ID string `json:"id"`
		} `json:"accounts"`
		Databases []struct {
			ID      string `json:"id"`
			Account string `json:"account"`
			Region  string `json:"region"`
		} `json:"databases"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var ids []string
	for _, a := range rep.Accounts {
		ids = append(ids, a.ID)
	}
	if !slices.Contains(ids, "123456789012") || !slices.Contains(ids, member) {
		t.Errorf("accounts %v, want the management account and %s", ids, member)
	}
	if len(rep.Databases) != 1 || rep.Databases[0].ID != "careless" || rep.Databases[0].Account != "123456789012" || rep.Databases[0].Region != m.Region {
		t.Errorf("databases %+v, want careless in 123456789012/%s", rep.Databases, m.Region)
	}
	if !strings.Contains(out, `"public-access"`) {
		t.Errorf("report lacks public-access:\n%s", out)
	}
}

// TestAuditPlan: audit --plan reads a Terraform plan, names the resource
// address of each finding, and fails CI on the bad plan only.
func TestAuditPlan(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "posture", "tfplan", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	isolateAWS(t)
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1") // a plan needs no AWS
	code, out, stderr := run(t, "audit", "--plan", filepath.Join(dir, "bad.plan.json"), "--fail-on", "high")
	if code != 1 || !strings.Contains(out, "module.db.aws_db_instance.main") || !strings.Contains(out, "public-access") {
		t.Errorf("bad plan: exit %d\n%s\n%s", code, out, stderr)
	}
	if code, out, stderr := run(t, "audit", "--plan", filepath.Join(dir, "hardened.plan.json"), "--fail-on", "high"); code != 0 {
		t.Errorf("hardened plan: exit %d\n%s\n%s", code, out, stderr)
	}
	if code, _, stderr := run(t, "audit", "--plan", filepath.Join(dir, "bad.plan.json"), "--org"); code != ExitUsage {
		t.Errorf("--plan with --org: exit %d\n%s", code, stderr)
	}
}
