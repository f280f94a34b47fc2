package tfplan

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/posture"
	"github.com/rdsgate/rdsgate/posture/report"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	badPlan      = "testdata/bad.plan.json"
	hardenedPlan = "testdata/hardened.plan.json"
	badAddress   = "module.db.aws_db_instance.main"
	goodAddress  = "aws_db_instance.orders"
)

// audit loads a plan file and audits it.
func audit(t *testing.T, path string) *posture.Report {
	t.Helper()
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return posture.Audit(s, posture.AuditOptions{})
}

// auditJSON audits plan JSON given as a document.
func auditJSON(t *testing.T, doc map[string]any) *posture.Report {
	t.Helper()
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(data, "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	return posture.Audit(s, posture.AuditOptions{})
}

// finding returns the result of check on the database at address.
func finding(t *testing.T, rep *posture.Report, address, check string) posture.Finding {
	t.Helper()
	for _, db := range rep.Databases {
		if db.Address != address {
			continue
		}
		for _, f := range db.Results {
			if f.CheckID == check {
				return f
			}
		}
	}
	t.Fatalf("no result of %s for %s in the report", check, address)
	return posture.Finding{}
}

// exposures are the findings the bad plan was written to have.
var exposures = []struct {
	check    string
	severity posture.Severity
	detail   string
}{
	{"public-access", posture.SeverityCritical, "instance orders-prod is publicly accessible"},
	{"sg-open-ingress", posture.SeverityCritical, "module.db.aws_security_group.db: tcp/5432 from 0.0.0.0/0"},
	{"snapshot-public", posture.SeverityCritical, "orders-prod-before-migration"},
	{"storage-unencrypted", posture.SeverityHigh, "storage is not encrypted"},
	{"production-multi-az-off", posture.SeverityHigh, "tagged Environment=production: single-AZ instance"},
	{"multi-az-off", posture.SeverityLow, "single-AZ instance"},
	{"snapshot-unencrypted", posture.SeverityMedium, "orders-prod-before-migration"},
}

func TestBadPlanFindings(t *testing.T) {
	rep := audit(t, badPlan)
	if len(rep.Databases) != 1 {
		t.Fatalf("got %d databases, want 1", len(rep.Databases))
	}
	db := rep.Databases[0]
	if db.Address != badAddress || db.ID != "orders-prod" || db.Region != "eu-west-1" || db.File != badPlan {
		t.Errorf("database = %s %s in %s, file %s; want %s orders-prod in eu-west-1, file %s", db.Address, db.ID, db.Region, db.File, badAddress, badPlan)
	}
	if db.Line < 2 {
		t.Errorf("line = %d, want the line of the address in the indented plan", db.Line)
	}
	for _, tc := range exposures {
		t.Run(tc.check, func(t *testing.T) {
			f := finding(t, rep, badAddress, tc.check)
			if f.Status != posture.StatusFail || f.Severity != tc.severity || !strings.Contains(f.Detail, tc.detail) {
				t.Errorf("%s = %s %s %q, want fail %s with %q", tc.check, f.Status, f.Severity, f.Detail, tc.severity, tc.detail)
			}
		})
	}
	if len(rep.Incomplete) != 0 {
		t.Errorf("incomplete: %q", rep.Incomplete)
	}
}

func TestHardenedPlanHasNoFindings(t *testing.T) {
	rep := audit(t, hardenedPlan)
	if len(rep.Databases) != 1 || rep.Databases[0].Address != goodAddress {
		t.Fatalf("databases = %+v, want %s", rep.Databases, goodAddress)
	}
	for _, f := range rep.Databases[0].Results {
		if f.Status == posture.StatusFail {
			t.Errorf("%s fails: %s", f.CheckID, f.Detail)
		}
	}
	// The checks the bad plan fails come to a verdict here: they pass.
	for _, tc := range exposures {
		if f := finding(t, rep, goodAddress, tc.check); f.Status != posture.StatusPass {
			t.Errorf("%s = %s (%s), want pass", tc.check, f.Status, f.Detail)
		}
	}
	// So do those the plan has all the facts for.
	for _, c := range []string{"tls-not-enforced", "sg-broad-ingress", "sg-egress", "no-outside-vpc-connection-alarm", "master-password-not-managed", "default-port", "ca-expiring"} {
		if f := finding(t, rep, goodAddress, c); f.Status != posture.StatusPass {
			t.Errorf("%s = %s (%s%s), want pass", c, f.Status, f.Detail, posture.UnknownText(f))
		}
	}
}

// TestNotInPlan: what a plan cannot know is unknown, and says why.
func TestNotInPlan(t *testing.T) {
	rep := audit(t, hardenedPlan)
	for _, tc := range []struct {
		check string
		want  string
	}{
		{"cloudtrail-off", "cloudtrail:DescribeTrails"},
		{"public-subnet", "ec2:DescribeRouteTables"},
		{"no-delete-guard-policy", "iam:ListPolicies"},
		{"event-subscription-missing", "rds:DescribeEventSubscriptions"},
	} {
		f := finding(t, rep, goodAddress, tc.check)
		if f.Status != posture.StatusUnknown || f.Reason != posture.GapNotInPlan || !strings.Contains(posture.UnknownText(f), "not in the plan: "+tc.want) {
			t.Errorf("%s = %s %s %q%s, want unknown, not in the plan: %s", tc.check, f.Status, f.Reason, f.Detail, posture.UnknownText(f), tc.want)
		}
	}
	f := finding(t, rep, goodAddress, "no-cross-region-backup")
	if f.Status != posture.StatusUnknown || f.Reason != posture.GapNotInPlan {
		t.Errorf("no-cross-region-backup = %s %s %q, want unknown, not in the plan", f.Status, f.Reason, f.Detail)
	}
}

// loadDoc reads a plan fixture as a document to change.
func loadDoc(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// changeOf returns the "change" object and planned "values" of address.
func changeOf(t *testing.T, doc map[string]any, address string) (change, values map[string]any) {
	t.Helper()
	for _, rc := range doc["resource_changes"].([]any) {
		if rc := rc.(map[string]any); rc["address"] == address {
			change = rc["change"].(map[string]any)
		}
	}
	var walk func(m map[string]any)
	walk = func(m map[string]any) {
		for _, r := range asList(m["resources"]) {
			if r := r.(map[string]any); r["address"] == address {
				values = r["values"].(map[string]any)
			}
		}
		for _, c := range asList(m["child_modules"]) {
			walk(c.(map[string]any))
		}
	}
	walk(doc["planned_values"].(map[string]any)["root_module"].(map[string]any))
	if change == nil || values == nil {
		t.Fatalf("%s is not in the plan", address)
	}
	return change, values
}

func asList(v any) []any { l, _ := v.([]any); return l }

// makeUnknown makes attr of address known only after apply, as Terraform
// writes it: left out of the values, true in after_unknown.
func makeUnknown(t *testing.T, doc map[string]any, address, attr string) {
	change, values := changeOf(t, doc, address)
	delete(values, attr)
	delete(change["after"].(map[string]any), attr)
	change["after_unknown"].(map[string]any)[attr] = true
}

// setConfig replaces the configuration expression of attr of a root
// module resource.
func setConfig(t *testing.T, doc map[string]any, address, attr string, expr any) {
	for _, r := range asList(doc["configuration"].(map[string]any)["root_module"].(map[string]any)["resources"]) {
		if r := r.(map[string]any); r["address"] == address {
			r["expressions"].(map[string]any)[attr] = expr
			return
		}
	}
	t.Fatalf("%s is not in the configuration", address)
}

// TestUnknownUntilApply: a value the plan does not know makes the checks
// that read it unknown, never passing; the others still decide.
func TestUnknownUntilApply(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		change func(t *testing.T, doc map[string]any)
		check  string
		detail string
	}{
		{"storage encryption", func(t *testing.T, doc map[string]any) {
			makeUnknown(t, doc, goodAddress, "storage_encrypted")
			setConfig(t, doc, goodAddress, "storage_encrypted", map[string]any{"references": []any{"var.encrypt"}})
		}, "storage-unencrypted", "storage_encrypted"},
		{"public access", func(t *testing.T, doc map[string]any) {
			makeUnknown(t, doc, goodAddress, "publicly_accessible")
		}, "public-access", "publicly_accessible"},
		{"multi-AZ", func(t *testing.T, doc map[string]any) {
			makeUnknown(t, doc, goodAddress, "multi_az")
		}, "production-multi-az-off", "multi_az"},
		{"security groups from a data source", func(t *testing.T, doc map[string]any) {
			setConfig(t, doc, goodAddress, "vpc_security_group_ids", map[string]any{"references": []any{"data.aws_security_group.shared.id", "data.aws_security_group.shared"}})
		}, "sg-open-ingress", "security_groups"},
		{"rule source known after apply", func(t *testing.T, doc map[string]any) {
			makeUnknown(t, doc, "aws_vpc_security_group_ingress_rule.db_from_app", "cidr_ipv4")
		}, "sg-open-ingress", "security_groups"},
		{"rule of an unknown group", func(t *testing.T, doc map[string]any) {
			setConfig(t, doc, "aws_vpc_security_group_ingress_rule.db_from_app", "security_group_id", map[string]any{"references": []any{"local.db_sg"}})
		}, "sg-open-ingress", "security_groups"},
		{"identifier", func(t *testing.T, doc map[string]any) {
			makeUnknown(t, doc, goodAddress, "identifier")
		}, "no-outside-vpc-connection-alarm", "id"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			doc := loadDoc(t, hardenedPlan)
			tc.change(t, doc)
			rep := auditJSON(t, doc)
			f := finding(t, rep, goodAddress, tc.check)
			if f.Status != posture.StatusUnknown || f.Reason != posture.GapAfterApply || !strings.Contains(f.Detail, tc.detail) {
				t.Errorf("%s = %s %s %q, want unknown, known after apply: %s", tc.check, f.Status, f.Reason, f.Detail, tc.detail)
			}
			if f := finding(t, rep, goodAddress, "deletion-protection-off"); f.Status != posture.StatusPass {
				t.Errorf("deletion-protection-off = %s %q, want pass (its value is known)", f.Status, f.Detail)
			}
		})
	}
}

// TestModuleReferences: references are followed through a module's
// variables to the resource the caller passes.
func TestModuleReferences(t *testing.T) {
	doc := loadDoc(t, badPlan)
	// The rule's group comes into module.db as var.rule_group, which the
	// root passes from module.net's output db_sg_id.
	calls := doc["configuration"].(map[string]any)["root_module"].(map[string]any)["module_calls"].(map[string]any)
	db := calls["db"].(map[string]any)
	db["expressions"].(map[string]any)["rule_group"] = map[string]any{"references": []any{"module.net.db_sg_id", "module.net"}}
	calls["net"] = map[string]any{"source": "./modules/net", "module": map[string]any{
		"outputs": map[string]any{"db_sg_id": map[string]any{"expression": map[string]any{"references": []any{"aws_security_group.db.id", "aws_security_group.db"}}}},
	}}
	mod := db["module"].(map[string]any)
	for _, r := range asList(mod["resources"]) {
		if r := r.(map[string]any); r["address"] == "aws_vpc_security_group_ingress_rule.postgres_from_anywhere" {
			r["expressions"].(map[string]any)["security_group_id"] = map[string]any{"references": []any{"var.rule_group"}}
		}
	}
	// module.net's group is not planned, so the rule belongs to no planned
	// group: the database's own group has no open rule, but it cannot be
	// told, as the rule may belong to it.
	rep := auditJSON(t, doc)
	if f := finding(t, rep, badAddress, "sg-open-ingress"); f.Status != posture.StatusUnknown {
		t.Errorf("rule of a group not in the plan: sg-open-ingress = %s %q, want unknown", f.Status, f.Detail)
	}
	// When module.net passes on module.db's output (root → net's var.sg →
	// net's output → db's var.rule_group), the rule is found on the group.
	calls["net"].(map[string]any)["module"] = map[string]any{"outputs": map[string]any{"db_sg_id": map[string]any{"expression": map[string]any{"references": []any{"var.sg"}}}}}
	calls["net"].(map[string]any)["expressions"] = map[string]any{"sg": map[string]any{"references": []any{"module.db.sg_id", "module.db"}}}
	mod["outputs"] = map[string]any{"sg_id": map[string]any{"expression": map[string]any{"references": []any{"aws_security_group.db.id", "aws_security_group.db"}}}}
	rep = auditJSON(t, doc)
	if f := finding(t, rep, badAddress, "sg-open-ingress"); f.Status != posture.StatusFail {
		t.Errorf("rule through module outputs and variables: sg-open-ingress = %s %q, want fail", f.Status, f.Detail)
	}
}

func TestNotAPlan(t *testing.T) {
	for _, tc := range []struct {
		desc, doc string
		notPlan   bool
	}{
		{"state", `{"format_version":"1.0","terraform_version":"1.9.8","values":{"root_module":{}}}`, true},
		{"other JSON", `{"hello":"world"}`, true},
		{"future format", `{"format_version":"2.0","planned_values":{"root_module":{}}}`, false},
		{"not JSON", `resource "aws_db_instance" "x" {}`, false},
		{"wrong types", `{"format_version":"1.2","planned_values":{"root_module":{"resources":"x"}}}`, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "x.json")
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrNotPlan) != tc.notPlan || !strings.HasPrefix(err.Error(), "tfplan: x.json: ") {
				t.Errorf("error %q: ErrNotPlan %v, want %v, with the file named", err, errors.Is(err, ErrNotPlan), tc.notPlan)
			}
		})
	}
	if _, err := Load("testdata/nosuch.json"); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestBadPlanReportGolden: the JSON and SARIF reports of the bad plan
// (rerun with -update to accept a change).
func TestBadPlanReportGolden(t *testing.T) {
	rep := audit(t, badPlan)
	for _, tc := range []struct {
		format report.Format
		golden string
	}{
		{report.FormatJSON, "testdata/bad.report.json"},
		{report.FormatSARIF, "testdata/bad.report.sarif"},
	} {
		var buf bytes.Buffer
		if err := report.Render(&buf, rep, tc.format, report.Options{ToolVersion: "test"}); err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(tc.golden, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(tc.golden)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s differs from the golden file (rerun with -update to accept); got:\n%s", filepath.Base(tc.golden), buf.String())
		}
	}
}

// TestSARIFLocation: code scanning needs a file and a line for each result;
// the database is named by its resource address.
func TestSARIFLocation(t *testing.T) {
	var buf bytes.Buffer
	if err := report.SARIF(&buf, audit(t, badPlan), report.Options{}); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
					LogicalLocations []struct{ FullyQualifiedName string } `json:"logicalLocations"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range log.Runs[0].Results {
		l := r.Locations[0]
		if l.PhysicalLocation.ArtifactLocation.URI != badPlan || l.PhysicalLocation.Region.StartLine < 2 || l.LogicalLocations[0].FullyQualifiedName != badAddress {
			t.Errorf("%s located at %+v", r.RuleID, l)
		}
		n++
	}
	if n == 0 {
		t.Error("no results")
	}
}
