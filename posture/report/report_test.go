package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/posture"
)

var update = flag.Bool("update", false, "rewrite golden files")

// load audits testdata/snapshot.json: the bad moto account collected by a
// principal denied some reads (written by posture/collect's moto test
// with -update), so it has failures, unknowns and collection errors.
func load(t *testing.T) *posture.Report {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := posture.ReadSnapshot(f)
	if err != nil {
		t.Fatal(err)
	}
	return posture.Audit(s, posture.AuditOptions{})
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
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

func TestGolden(t *testing.T) {
	rep := load(t)
	for _, tc := range []struct {
		file   string
		format Format
		opts   Options
	}{
		{"report.txt", FormatText, Options{}},
		{"report-all.txt", FormatText, Options{All: true}},
		{"report.json", FormatJSON, Options{}},
		{"report.sarif", FormatSARIF, Options{ToolVersion: "test"}},
		{"report.md", FormatMarkdown, Options{}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, rep, tc.format, tc.opts); err != nil {
				t.Fatal(err)
			}
			if tc.format == FormatText && strings.Contains(b.String(), "\x1b[") {
				t.Error("colour without Options.Color")
			}
			golden(t, tc.file, b.Bytes())
		})
	}
}

func TestColor(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, load(t), Options{Color: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), ansiRed+"FAIL"+ansiReset) {
		t.Error("no red FAIL with Options.Color")
	}
}

func TestUnknownFormat(t *testing.T) {
	if err := Render(&bytes.Buffer{}, load(t), "yaml", Options{}); err == nil {
		t.Error("no error for an unknown format")
	}
}

func TestExitCode(t *testing.T) {
	rep := load(t)
	for _, tc := range []struct {
		failOn posture.Severity
		want   int
	}{{"", 0}, {posture.SeverityCritical, 1}, {posture.SeverityLow, 1}} {
		if got := ExitCode(rep, tc.failOn); got != tc.want {
			t.Errorf("ExitCode(%q) = %d, want %d", tc.failOn, got, tc.want)
		}
	}
	// Only low findings: --fail-on medium passes, --fail-on low fails.
	low := &posture.Report{Databases: []posture.DBReport{{ID: "x", Results: []posture.Finding{
		{CheckID: "multi-az-off", Severity: posture.SeverityLow, Status: posture.StatusFail},
		{CheckID: "tls-not-enforced", Severity: posture.SeverityHigh, Status: posture.StatusUnknown},
	}}}}
	if got := ExitCode(low, posture.SeverityMedium); got != 0 {
		t.Errorf("medium on low-only: %d, want 0 (unknown never fails)", got)
	}
	if got := ExitCode(low, posture.SeverityLow); got != ExitFindings {
		t.Errorf("low on low-only: %d, want %d", got, ExitFindings)
	}
}

// TestSARIFValid checks the SARIF output against the required properties
// and enumerations of the SARIF 2.1.0 JSON schema for every object rdsgate
// writes (sarifLog, run, tool, toolComponent, reportingDescriptor,
// reportingConfiguration, result, message, location, logicalLocation),
// transcribed in testdata/sarif-2.1.0-subset.json; the full schema could
// not be fetched (no network) and is not vendored.
func TestSARIFValid(t *testing.T) {
	var b bytes.Buffer
	if err := SARIF(&b, load(t), Options{ToolVersion: "test"}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "sarif-2.1.0-subset.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema subsetSchema
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range schema.validate(doc) {
		t.Error(e)
	}
	// The validator must catch a broken log.
	broken := map[string]any{"version": "2.0", "runs": []any{map[string]any{"tool": map[string]any{"driver": map[string]any{}}}}}
	if errs := schema.validate(broken); len(errs) < 2 {
		t.Errorf("broken log gave %v, want version and driver.name errors", errs)
	}
}
