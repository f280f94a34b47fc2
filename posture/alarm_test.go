package posture

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file (rerun with -update to accept); got:\n%s", name, got)
	}
}

func alarmFixture() *Snapshot {
	s := hardened()
	r := rg(s)
	// A MariaDB instance in a VPC whose CIDR is not on an octet boundary.
	r.VPCs = append(r.VPCs, VPC{ID: "vpc-2", CIDRs: []string{"172.16.16.0/20"}})
	r.Instances = append(r.Instances, Instance{ID: "shop-maria", ARN: "arn:aws:rds:us-east-1:123456789012:db:shop-maria", Engine: "mariadb", VPC: "vpc-2", Port: 3306})
	return s
}

func TestAlarmKitGolden(t *testing.T) {
	defs := AlarmKit(alarmFixture(), AlarmOptions{Actions: []string{"arn:aws:sns:us-east-1:123456789012:oncall"}})
	if len(defs) != 3 {
		t.Fatalf("%d alarm definitions, want 3", len(defs))
	}
	var cli, tf bytes.Buffer
	if err := WriteAlarmsCLI(&cli, defs); err != nil {
		t.Fatal(err)
	}
	if err := WriteAlarmsTerraform(&tf, defs); err != nil {
		t.Fatal(err)
	}
	golden(t, "alarms.sh", cli.Bytes())
	golden(t, "alarms.tf", tf.Bytes())
}

// TestAlarmKitClosesCheck: a snapshot with the kit applied passes
// no-outside-vpc-connection-alarm.
func TestAlarmKitClosesCheck(t *testing.T) {
	s := hardened()
	rg(s).MetricFilters, rg(s).Alarms = nil, nil
	if r := evaluate(t, s, "no-outside-vpc-connection-alarm", "db1", nil); r.Status != StatusFail {
		t.Fatalf("before: %s", r.Status)
	}
	defs := AlarmKit(s, AlarmOptions{Targets: []string{"db1"}})
	s = hardened()
	rg(s).MetricFilters, rg(s).Alarms = nil, nil
	for _, d := range defs {
		rg(s).MetricFilters = append(rg(s).MetricFilters, MetricFilter{Name: d.FilterName, LogGroup: d.LogGroup, Pattern: d.FilterPattern, Namespace: d.Namespace, Metric: d.MetricName})
		rg(s).Alarms = append(rg(s).Alarms, Alarm{Name: d.AlarmName, Namespace: d.Namespace, Metric: d.MetricName, ActionsEnabled: true, Actions: d.Actions})
	}
	if r := evaluate(t, s, "no-outside-vpc-connection-alarm", "db1", nil); r.Status != StatusPass {
		t.Fatalf("after: %s %s", r.Status, r.Detail)
	}
}

func TestOctetPrefixes(t *testing.T) {
	s := alarmFixture()
	for _, db := range s.Databases() {
		if db.ID() == "shop-maria" {
			got := vpcPrefixes(db)
			if len(got) != 16 || got[0] != "172.16.16." || got[15] != "172.16.31." {
				t.Errorf("prefixes %v", got)
			}
		}
		if db.ID() == "db1" {
			if got := vpcPrefixes(db); !slices.Equal(got, []string{"10.0."}) {
				t.Errorf("prefixes %v", got)
			}
		}
	}
}
