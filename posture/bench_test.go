package posture

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// generated returns a snapshot with n databases (every fourth an Aurora
// cluster with two members), each with its own security group, subnets,
// parameter group, snapshots, log group, filter and alarm, spread over
// two regions; every other database is misconfigured.
func generated(n int) *Snapshot {
	base := hardened()
	tmpl := rg(base)
	s := &Snapshot{SchemaVersion: SchemaVersion, CollectedAt: base.CollectedAt, IAM: base.IAM}
	for _, name := range []string{"us-east-1", "eu-west-1"} {
		r := Region{Name: name, VPCs: tmpl.VPCs, Subnets: tmpl.Subnets, RouteTables: tmpl.RouteTables, NetworkACLs: tmpl.NetworkACLs,
			InternetGateways: tmpl.InternetGateways, Trails: tmpl.Trails, SubnetGroups: tmpl.SubnetGroups}
		for i := 0; i < n/2; i++ {
			id := fmt.Sprintf("%s-db-%04d", name, i)
			sgID := "sg-" + id
			r.SecurityGroups = append(r.SecurityGroups, SecurityGroup{ID: sgID, VPC: "vpc-1",
				Ingress: []Rule{{Protocol: "tcp", FromPort: 5432, ToPort: 5432, Groups: []string{"sg-app"}}}})
			pg := "pg-" + id
			bad := i%2 == 1
			if i%4 == 0 {
				c := tmpl.Clusters[0]
				c.ID, c.ARN, c.SecurityGroups, c.ParameterGroup = id, "arn:aws:rds:"+name+":123456789012:cluster:"+id, []string{sgID}, pg
				c.Members = []string{id + "-a", id + "-b"}
				for _, m := range c.Members {
					in := tmpl.Instances[1]
					in.ID, in.ClusterID, in.ARN = m, id, "arn:aws:rds:"+name+":123456789012:db:"+m
					r.Instances = append(r.Instances, in)
				}
				r.Clusters = append(r.Clusters, c)
				r.ParameterGroups = append(r.ParameterGroups, ParameterGroup{Name: pg, Cluster: true, Parameters: map[string]string{"rds.force_ssl": "1"}})
			} else {
				in := tmpl.Instances[0]
				in.ID, in.ARN, in.SecurityGroups, in.ParameterGroups = id, "arn:aws:rds:"+name+":123456789012:db:"+id, []string{sgID}, []string{pg}
				if bad {
					in.PubliclyAccessible, in.StorageEncrypted, in.IAMAuth, in.MasterUsername = true, false, false, "admin"
					r.SecurityGroups[len(r.SecurityGroups)-1].Ingress = append(r.SecurityGroups[len(r.SecurityGroups)-1].Ingress, Rule{Protocol: "tcp", FromPort: 5432, ToPort: 5432, CIDRs: []string{"0.0.0.0/0"}})
				}
				r.Instances = append(r.Instances, in)
				r.ParameterGroups = append(r.ParameterGroups, ParameterGroup{Name: pg, Parameters: map[string]string{"rds.force_ssl": "1"}})
			}
			r.Snapshots = append(r.Snapshots, DBSnapshot{ID: id + "-manual", Source: id, Cluster: i%4 == 0, Type: "manual", Encrypted: !bad, AttributesRead: true})
			kind := "instance"
			if i%4 == 0 {
				kind = "cluster"
			}
			group := "/aws/rds/" + kind + "/" + id + "/postgresql"
			r.LogGroups = append(r.LogGroups, LogGroup{Name: group})
			r.MetricFilters = append(r.MetricFilters, MetricFilter{Name: "f-" + id, LogGroup: group, Pattern: `"connection received"`, Namespace: "rdsgate", Metric: "m-" + id})
			r.Alarms = append(r.Alarms, Alarm{Name: "a-" + id, Namespace: "rdsgate", Metric: "m-" + id, ActionsEnabled: true, Actions: []string{"arn:sns"}})
		}
		s.Regions = append(s.Regions, r)
	}
	return s
}

func TestGeneratedSnapshot(t *testing.T) {
	s := generated(2000)
	rep := Audit(s, AuditOptions{})
	if rep.Summary.Databases != 2000 {
		t.Fatalf("%d databases", rep.Summary.Databases)
	}
	if rep.Summary.Fail == 0 || rep.Summary.Pass == 0 {
		t.Errorf("summary %+v", rep.Summary)
	}
}

// BenchmarkAudit2000 audits a 2,000-database snapshot (indexing included:
// each iteration decodes a fresh copy's index by auditing a new snapshot).
func BenchmarkAudit2000(b *testing.B) {
	var buf bytes.Buffer
	if err := generated(2000).WriteJSON(&buf); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s, err := ReadSnapshot(bytes.NewReader(buf.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep := Audit(s, AuditOptions{})
		if rep.Summary.Databases != 2000 {
			b.Fatal(rep.Summary.Databases)
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := hardened()
	var buf bytes.Buffer
	if err := s.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(s, got, cmpopts.IgnoreUnexported(Region{}), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if _, err := ReadSnapshot(bytes.NewReader([]byte(`{"schema_version": 99}`))); err == nil {
		t.Error("newer schema accepted")
	}
	if _, err := ReadSnapshot(bytes.NewReader([]byte(`{`))); err == nil {
		t.Error("truncated file accepted")
	}
}
