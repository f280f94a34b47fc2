package posture

import (
	"slices"
	"testing"
)

func TestGapKind(t *testing.T) {
	for _, tc := range []struct {
		desc string
		err  AccessError
		want GapKind
	}{
		{"denied", AccessError{Action: "rds:DescribeDBInstances", Code: "AccessDenied", Denied: true}, GapDenied},
		{"query protocol: unknown action", AccessError{Action: "ec2:DescribeVpcs", Code: "InvalidAction"}, GapUnsupported},
		{"JSON protocol: unknown operation", AccessError{Action: "cloudtrail:DescribeTrails", Code: "UnknownOperationException"}, GapUnsupported},
		{"throttled", AccessError{Action: "rds:DescribeDBSnapshots", Code: "Throttling"}, GapThrottled},
		{"other", AccessError{Action: "cloudwatch:DescribeAlarms", Code: "InternalFailure"}, GapError},
	} {
		if got := tc.err.Kind(); got != tc.want {
			t.Errorf("%s: Kind() = %s, want %s", tc.desc, got, tc.want)
		}
	}
}

// TestIncomplete: an audit says when it cannot vouch for the account.
func TestIncomplete(t *testing.T) {
	inst := Instance{ID: "db1", ARN: "arn:aws:rds:us-east-1:1:db:db1", Engine: "postgres"}
	for _, tc := range []struct {
		desc    string
		snap    Snapshot
		targets []string
		want    []string
	}{
		{"complete", Snapshot{Regions: []Region{{Name: "us-east-1", Instances: []Instance{inst}}}}, nil, []string{}},
		{"inventory denied", Snapshot{Regions: []Region{{Name: "us-east-1", Errors: []AccessError{{Action: "rds:DescribeDBInstances", Code: "AccessDenied", Denied: true}}}}}, nil,
			[]string{"the databases of us-east-1 could not be listed: access denied to rds:DescribeDBInstances"}},
		{"target matches nothing", Snapshot{Regions: []Region{{Name: "us-east-1", Instances: []Instance{inst}}}}, []string{"db2"},
			[]string{"target db2 matches no database in us-east-1"}},
		{"target by ARN", Snapshot{Regions: []Region{{Name: "us-east-1", Instances: []Instance{inst}}}}, []string{inst.ARN}, []string{}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			rep := Audit(&tc.snap, AuditOptions{Targets: tc.targets})
			if !slices.Equal(rep.Incomplete, tc.want) {
				t.Errorf("Incomplete = %q, want %q", rep.Incomplete, tc.want)
			}
		})
	}
	// Every check unknown: every read of the region denied.
	var errs []AccessError
	for _, c := range Checks() {
		for _, a := range c.Needs {
			errs = append(errs, AccessError{Action: a, Code: "AccessDenied", Denied: true})
		}
	}
	s := &Snapshot{Regions: []Region{{Name: "us-east-1", Instances: []Instance{inst}, Errors: errs}}}
	rep := Audit(s, AuditOptions{Checks: []string{"cloudtrail-off", "sg-open-ingress"}})
	if want := []string{"every check of db1 (us-east-1) is unknown"}; !slices.Equal(rep.Incomplete, want) {
		t.Errorf("all unknown: Incomplete = %q, want %q", rep.Incomplete, want)
	}
	for _, f := range rep.Databases[0].Results {
		if f.Reason != GapDenied {
			t.Errorf("%s: reason %q, want %q", f.CheckID, f.Reason, GapDenied)
		}
	}
}
