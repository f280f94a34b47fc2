package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/posture"
)

// A database of a Terraform plan is shown with its resource address, and
// SARIF locates it in the plan file (code scanning needs a file and line).
func TestPlannedDatabaseAddress(t *testing.T) {
	rep := &posture.Report{Schema: posture.ReportSchema, Regions: []string{"eu-west-1"},
		Summary: posture.Summary{Databases: 1, Fail: 1, FailBySeverity: map[posture.Severity]int{posture.SeverityCritical: 1}},
		Checks:  []posture.CheckInfo{{ID: "public-access", Title: "Database is publicly accessible", Severity: posture.SeverityCritical}},
		Databases: []posture.DBReport{{Region: "eu-west-1", Kind: posture.KindInstance, ID: "orders-prod", Engine: "postgres",
			Address: "module.db.aws_db_instance.main", File: "plans/prod.json", Line: 7,
			Results: []posture.Finding{{CheckID: "public-access", Severity: posture.SeverityCritical, Status: posture.StatusFail, Detail: "public",
				Remediation: &posture.Remediation{Text: "turn it off"}}}}},
	}
	for _, tc := range []struct {
		format Format
		want   []string
	}{
		{FormatText, []string{"resource module.db.aws_db_instance.main\n"}},
		{FormatMarkdown, []string{"Terraform resource `module.db.aws_db_instance.main`."}},
		{FormatJSON, []string{`"address": "module.db.aws_db_instance.main"`, `"file": "plans/prod.json"`, `"line": 7`}},
		{FormatSARIF, []string{`"uri": "plans/prod.json"`, `"startLine": 7`, `"fullyQualifiedName": "module.db.aws_db_instance.main"`,
			`"rdsgate/v1": "public-access|module.db.aws_db_instance.main"`}},
	} {
		var b bytes.Buffer
		if err := Render(&b, rep, tc.format, Options{}); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s output lacks %q:\n%s", tc.format, w, b.String())
			}
		}
	}
}
