package posture

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestChecksDoc: docs/audit-checks.md is what the check table says; every
// check has a reference with the fields it reads.
func TestChecksDoc(t *testing.T) {
	for _, c := range Checks() {
		if len(References[c.ID].Reads) == 0 {
			t.Errorf("check %s has no reference (the API fields it reads) in References", c.ID)
		}
	}
	for id := range References {
		if CheckByID(id) == nil {
			t.Errorf("reference for %s, which is no check", id)
		}
	}
	var buf bytes.Buffer
	if err := WriteChecksDoc(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "docs", "audit-checks.md")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./posture -run TestChecksDoc -update)", err)
	}
	if !bytes.Equal(got, buf.Bytes()) {
		t.Errorf("%s is stale: run go test ./posture -run TestChecksDoc -update", path)
	}
}
