package cli

import (
	"strings"
	"testing"
)

// TestOffboard: a person given a database user and rdsgate's policy is
// taken off both by offboard --yes, after a plan that changes nothing;
// a second run finds nothing left.
func TestOffboard(t *testing.T) {
	useSandbox(t, []string{"postgres"})
	intern := "user/rdsgate-sandbox-intern"
	for _, args := range [][]string{
		{"grant", "demo-pg", "jane", "--read-only", "--apply", "-q"},
		{"policy", "demo-pg", "-u", "jane", "--attach-to", intern, "--apply"},
	} {
		if code, _, stderr := run(t, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
	}
	code, _, stderr := run(t, "offboard", "jane", "--principal", intern, "-q")
	if code != ExitFailure || !strings.Contains(stderr, "to do: revoke") || !strings.Contains(stderr, "rdsgate-demo-pg-jane") || !strings.Contains(stderr, "pass --yes") {
		t.Fatalf("plan: exit %d\n%s", code, stderr)
	}
	if _, out, _ := run(t, "users", "demo-pg", "-q"); !strings.Contains(out, "jane") {
		t.Fatalf("the plan changed something: jane is gone\n%s", out)
	}
	code, out, stderr := run(t, "offboard", "jane", "--principal", intern, "--yes", "-q")
	if code != 0 || !strings.Contains(out, "revoked (") || !strings.Contains(out, "policy taken off") {
		t.Fatalf("--yes: exit %d\n%s\n%s", code, out, stderr)
	}
	if _, out, _ := run(t, "users", "demo-pg", "-q"); strings.Contains(out, "jane") {
		t.Errorf("jane is still a user:\n%s", out)
	}
	code, out, stderr = run(t, "offboard", "jane", "--principal", intern, "--yes", "-q")
	if code != 0 || !strings.Contains(out, "nothing to do") {
		t.Errorf("again: exit %d\n%s\n%s", code, out, stderr)
	}
}
