package tfplan

import (
	"io"
	"os"
	"testing"

	"github.com/rdsgate/rdsgate/posture"
)

// FuzzParse: plan JSON comes from a peer (a CI job, a pull request); any
// bytes give a snapshot or an error, never a panic or a hang, and a
// snapshot audits and saves.
func FuzzParse(f *testing.F) {
	for _, p := range []string{badPlan, hardenedPlan} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte(`{"format_version":"1.2","planned_values":{"root_module":{"resources":[{"address":"aws_db_instance.x","mode":"managed","type":"aws_db_instance","values":{"port":1e300,"tags_all":{"a":1}}}]}},"resource_changes":[{"address":"aws_db_instance.x","change":{"actions":["create"],"after_unknown":{"vpc_security_group_ids":[[[true]]]}}}],"configuration":{"root_module":{"resources":[{"address":"aws_db_instance.x","expressions":{"vpc_security_group_ids":{"references":["var.a","module.m[\"k\"].o","aws_security_group.y[0].id"]}}}]}}}`))
	f.Add([]byte(`{"format_version":"1.2","variables":{"a":{"value":["sg-1"]}},"planned_values":{"root_module":{"child_modules":[{"address":"module.m[","resources":[]}]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, "fuzz.json")
		if err != nil {
			return
		}
		posture.Audit(s, posture.AuditOptions{})
		if err := s.WriteJSON(io.Discard); err != nil {
			t.Fatalf("a parsed plan does not save: %v", err)
		}
	})
}
