package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

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
		if got := ExitCode(rep, ExitPolicy{FailOn: tc.failOn}); got != tc.want {
			t.Errorf("ExitCode(%q) = %d, want %d", tc.failOn, got, tc.want)
		}
	}
	// Only low findings: --fail-on medium passes, --fail-on low fails.
	low := &posture.Report{Databases: []posture.DBReport{{ID: "x", Results: []posture.Finding{
		{CheckID: "multi-az-off", Severity: posture.SeverityLow, Status: posture.StatusFail},
		{CheckID: "tls-not-enforced", Severity: posture.SeverityHigh, Status: posture.StatusUnknown},
	}}}}
	if got := ExitCode(low, ExitPolicy{FailOn: posture.SeverityMedium}); got != 0 {
		t.Errorf("medium on low-only: %d, want 0 (unknown never fails)", got)
	}
	if got := ExitCode(low, ExitPolicy{FailOn: posture.SeverityLow}); got != ExitFindings {
		t.Errorf("low on low-only: %d, want %d", got, ExitFindings)
	}
}

// TestSARIFValid validates the SARIF output against the full SARIF 2.1.0
// JSON schema, in both published forms vendored in testdata (the OASIS
// TC's draft-07 file and the SARIF SDK's 2020-12 copy; origins and sha256
// in testdata/SARIF-SCHEMAS.md), with format assertions on (uri,
// date-time, uuid...), using github.com/santhosh-tekuri/jsonschema/v6.
func TestSARIFValid(t *testing.T) {
	var b bytes.Buffer
	if err := SARIF(&b, load(t), Options{ToolVersion: "test"}); err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"sarif-schema-2.1.0.json", "sarif-2.1.0-multitool.json"} {
		t.Run(file, func(t *testing.T) {
			schema := compileSARIFSchema(t, file)
			if err := schema.Validate(doc); err != nil {
				t.Errorf("SARIF output does not validate against %s:\n%v", file, err)
			}
			// The validator must catch broken logs.
			for _, broken := range []string{
				`{"version": "2.0", "runs": []}`,
				`{"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]}`,
				`{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x", "informationUri": "not a uri"}}}]}`,
				`{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"}, "level": "fatal"}]}]}`,
				`{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "unknownProperty": 1}]}`,
			} {
				v, err := jsonschema.UnmarshalJSON(strings.NewReader(broken))
				if err != nil {
					t.Fatal(err)
				}
				if err := schema.Validate(v); err == nil {
					t.Errorf("%s accepted %s", file, broken)
				}
			}
		})
	}
}

func compileSARIFSchema(t *testing.T, file string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	url := "file:///testdata/" + file
	if err := c.AddResource(url, raw); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

// loadOrg audits testdata/snapshot-org.json (the moto organization of
// posture/collect's TestOrgMoto, written there with -update: a hardened
// database, two bad ones in two regions) plus an account whose role could
// not be assumed.
func loadOrg(t *testing.T) *posture.Report {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "snapshot-org.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := posture.ReadSnapshot(f)
	if err != nil {
		t.Fatal(err)
	}
	s.Accounts = append(s.Accounts, posture.AccountSnapshot{ID: "444444444444", Name: "legacy", Role: "arn:aws:iam::444444444444:role/OrganizationAccountAccessRole",
		Failure: &posture.AccountFailure{
			AccessError: posture.AccessError{Action: "sts:AssumeRole", Resource: "arn:aws:iam::444444444444:role/OrganizationAccountAccessRole", Code: "AccessDenied", Denied: true, Message: "not authorized"},
			Why:         "role arn:aws:iam::444444444444:role/OrganizationAccountAccessRole could not be assumed (AccessDenied): create it",
		}})
	return posture.Audit(s, posture.AuditOptions{})
}

func TestGoldenOrg(t *testing.T) {
	rep := loadOrg(t)
	for _, tc := range []struct {
		file   string
		format Format
	}{
		{"org-report.txt", FormatText},
		{"org-report.json", FormatJSON},
		{"org-report.sarif", FormatSARIF},
		{"org-report.md", FormatMarkdown},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, rep, tc.format, Options{ToolVersion: "test"}); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			// Every database is named with its account, and the account
			// not read is there with why.
			for _, want := range []string{"ACCOUNT-dev", "ACCOUNT-staging", "ACCOUNT-prod", "eu-west-1", "444444444444", "could not be assumed"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s lacks %q", tc.file, want)
				}
			}
			golden(t, tc.file, b.Bytes())
		})
	}
	if got := ExitCode(rep, ExitPolicy{}); got != ExitIncomplete {
		t.Errorf("ExitCode with an account not read = %d, want %d", got, ExitIncomplete)
	}
	if got := ExitCode(rep, ExitPolicy{FailOn: posture.SeverityCritical}); got != ExitFindings {
		t.Errorf("ExitCode --fail-on critical = %d, want %d (the bad databases are public)", got, ExitFindings)
	}
	for _, db := range rep.Databases {
		if db.Account == "" || db.Region == "" {
			t.Errorf("database %s without its account or region", db.ID)
		}
	}
	for _, g := range rep.Gaps {
		if g.Account == "" {
			t.Errorf("gap %+v without its account", g)
		}
	}
	var b bytes.Buffer
	if err := SARIF(&b, rep, Options{ToolVersion: "test"}); err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := compileSARIFSchema(t, "sarif-schema-2.1.0.json").Validate(doc); err != nil {
		t.Errorf("organization SARIF does not validate: %v", err)
	}
}

// TestStreamedJSON: the JSON and SARIF written a database at a time are
// what encoding/json writes for the whole, for no, one and many databases.
func TestStreamedJSON(t *testing.T) {
	full := load(t)
	for _, n := range []int{0, 1, 3} {
		rep := *full
		rep.Databases = nil
		for i := range n {
			db := full.Databases[0]
			db.ID = fmt.Sprintf("db-%d", i)
			rep.Databases = append(rep.Databases, db)
		}
		if rep.Databases == nil {
			rep.Databases = []posture.DBReport{}
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&rep); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := JSON(&got, &rep); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%d databases: streamed JSON differs:\n%s\nwant:\n%s", n, got.String(), want.String())
		}
		var sarif bytes.Buffer
		if err := SARIF(&sarif, &rep, Options{}); err != nil {
			t.Fatal(err)
		}
		var log struct {
			Runs []struct {
				Results []json.RawMessage `json:"results"`
			} `json:"runs"`
		}
		if err := json.Unmarshal(sarif.Bytes(), &log); err != nil {
			t.Fatalf("%d databases: SARIF is not JSON: %v", n, err)
		}
		perDB := 0
		for _, f := range full.Databases[0].Results {
			if f.Status == posture.StatusFail || f.Status == posture.StatusUnknown {
				perDB++
			}
		}
		if got := len(log.Runs[0].Results); got != n*perDB {
			t.Errorf("%d databases: %d SARIF results, want %d", n, got, n*perDB)
		}
	}
}
