package proxy

import (
	"strings"
	"testing"
)

func TestAppTag(t *testing.T) {
	long := strings.Repeat("a", 80)
	for _, tc := range []struct {
		desc, app, principal, want, wantApp, wantID string
	}{
		{"user", "psql", "arn:aws:iam::111122223333:user/jane", "psql rdsgate:user/jane", "psql", "user/jane"},
		{"no app", "", "arn:aws:iam::111122223333:user/jane", "rdsgate:user/jane", "", "user/jane"},
		{"role session", "DBeaver 24.1", "arn:aws:sts::111122223333:assumed-role/dbusers/jane@example.com",
			"DBeaver 24.1 rdsgate:assumed-role/dbusers/jane@example.com", "DBeaver 24.1", "assumed-role/dbusers/jane@example.com"},
		{"long app is cut", long, "arn:aws:iam::111122223333:user/jane", long[:63-len(" rdsgate:user/jane")] + " rdsgate:user/jane",
			long[:63-len(" rdsgate:user/jane")], "user/jane"},
		{"long identity is cut", "psql", "arn:aws:sts::111122223333:assumed-role/" + long, "rdsgate:assumed-role/" + long[:63-len("rdsgate:assumed-role/~")] + "~",
			"", "assumed-role/" + long[:63-len("rdsgate:assumed-role/~")] + "~"},
		{"not an ARN", "psql", "jane", "psql", "psql", ""},
		{"non-ASCII replaced", "pgAdmin é", "arn:aws:iam::1:user/j", "pgAdmin ? rdsgate:user/j", "pgAdmin ?", "user/j"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got := AppTag(tc.app, tc.principal)
			if got != tc.want || len(got) > AppTagMax {
				t.Errorf("AppTag = %q (%d bytes), want %q", got, len(got), tc.want)
			}
			app, id, ok := SplitAppTag(got)
			if app != tc.wantApp || id != tc.wantID || ok != (tc.wantID != "") {
				t.Errorf("SplitAppTag(%q) = %q, %q, %v; want %q, %q", got, app, id, ok, tc.wantApp, tc.wantID)
			}
		})
	}
	for _, name := range []string{"myrdsgate:x", "rdsgate:", "psql rdsgate:a b"} {
		if _, _, ok := SplitAppTag(name); ok {
			t.Errorf("SplitAppTag(%q) found a tag", name)
		}
	}
}
