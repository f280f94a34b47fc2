package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
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
