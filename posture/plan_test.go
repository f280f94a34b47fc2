package posture

import (
	"strings"
	"testing"
)

// Every check says which planned fields it reads, so that a new check is
// not left to the catch-all (unknown on any unknown field) by accident.
func TestEveryCheckHasPlanReads(t *testing.T) {
	for _, c := range Checks() {
		if _, ok := planReads[c.ID]; !ok {
			t.Errorf("check %s has no entry in planReads", c.ID)
		}
	}
	for id := range planReads {
		if CheckByID(id) == nil {
			t.Errorf("planReads names %s, which is not a check", id)
		}
	}
}

func TestPlannedUnknownField(t *testing.T) {
	planned := func(unknown map[string]GapKind) *Snapshot {
		return &Snapshot{SchemaVersion: 1, Regions: []Region{{Name: "eu-west-1", Instances: []Instance{{
			ID: "db", Engine: "postgres", StorageEncrypted: false, DeletionProtection: true,
			Settings: Settings{Planned: &PlanSource{Address: "aws_db_instance.db", File: "plan.json", Line: 3, Unknown: unknown}},
		}}}}}
	}
	for _, tc := range []struct {
		desc    string
		unknown map[string]GapKind
		check   string
		status  Status
		reason  GapKind
		detail  string
	}{
		{"known value decides", nil, "storage-unencrypted", StatusFail, "", "not encrypted"},
		{"unknown value", map[string]GapKind{"storage_encrypted": GapAfterApply}, "storage-unencrypted", StatusUnknown, GapAfterApply, "known only after apply: storage_encrypted"},
		{"not in the plan", map[string]GapKind{"storage_encrypted": GapNotInPlan}, "storage-unencrypted", StatusUnknown, GapNotInPlan, "not in the plan: storage_encrypted"},
		{"other field unknown", map[string]GapKind{"multi_az": GapAfterApply}, "deletion-protection-off", StatusPass, "", "on"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			rep := Audit(planned(tc.unknown), AuditOptions{Checks: []string{tc.check}})
			db := rep.Databases[0]
			if db.Address != "aws_db_instance.db" || db.File != "plan.json" || db.Line != 3 {
				t.Errorf("report names %q %q:%d, want the plan source", db.Address, db.File, db.Line)
			}
			f := db.Results[0]
			if f.Status != tc.status || f.Reason != tc.reason || !strings.Contains(f.Detail, tc.detail) {
				t.Errorf("%s = %s %s %q, want %s %s %q", tc.check, f.Status, f.Reason, f.Detail, tc.status, tc.reason, tc.detail)
			}
		})
	}
}

func TestNotInPlanKind(t *testing.T) {
	e := AccessError{Action: "cloudtrail:DescribeTrails", Code: CodeNotInPlan}
	if e.Kind() != GapNotInPlan || e.Explain() != "not in the plan: cloudtrail:DescribeTrails" {
		t.Errorf("kind %s, explained %q", e.Kind(), e.Explain())
	}
}
