package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSessionsListsAndKillsAConnect: a connect running in the background
// is listed by sessions with its AWS identity, database user and
// statement; sessions kill prints its plan and ends nothing without
// --yes, and with it ends the connection, which connect then reports.
func TestSessionsListsAndKillsAConnect(t *testing.T) {
	useSandbox(t, []string{"postgres"})
	done := make(chan string, 1)
	go func() {
		code, out, errOut := run(t, "connect", "demo-pg", "--via", "ssm", "--exec", "select pg_sleep(60)")
		done <- fmt.Sprintf("exit %d\n%s\n%s", code, out, errOut)
	}()
	type row struct {
		ID          string `json:"id"`
		AWSIdentity string `json:"aws_identity"`
		DBUser      string `json:"db_user"`
		Statement   string `json:"statement"`
		SSMSession  string `json:"ssm_session"`
	}
	var found row
	for deadline := time.Now().Add(60 * time.Second); found.ID == ""; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the background connect was never listed")
		}
		code, out, stderr := run(t, "sessions", "demo-pg", "--via", "ssm", "-o", "json", "-q")
		var rep struct{ Sessions []row }
		if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
			t.Fatalf("sessions: exit %d\n%s\n%s", code, out, stderr)
		}
		for _, r := range rep.Sessions {
			if strings.Contains(r.Statement, "pg_sleep(60)") {
				found = r
			}
		}
	}
	if !strings.HasSuffix(found.AWSIdentity, ":user/rdsgate-sandbox-admin") || found.DBUser != "app_user" || found.SSMSession == "" {
		t.Errorf("row %+v: want the sandbox admin's ARN, app_user and its Session Manager session", found)
	}
	code, _, stderr := run(t, "sessions", "kill", "demo-pg", found.ID, "--via", "ssm", "-q")
	if code != ExitFailure || !strings.Contains(stderr, "pass --yes") || !strings.Contains(stderr, found.ID) {
		t.Errorf("kill without --yes: exit %d\n%s", code, stderr)
	}
	select {
	case res := <-done:
		t.Fatalf("connect ended without --yes: %s", res)
	default:
	}
	if code, _, stderr := run(t, "sessions", "kill", "demo-pg", found.ID, "--via", "ssm", "--yes", "-q"); code != 0 {
		t.Fatalf("kill --yes: exit %d\n%s", code, stderr)
	}
	select {
	case res := <-done:
		if strings.HasPrefix(res, "exit 0") {
			t.Errorf("connect survived the kill: %s", res)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("connect still runs 30 s after the kill")
	}
}
