package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/sandbox"
)

// TestProxySessionLogCloudWatch: the records of a proxy's sessions reach
// the sandbox's CloudWatch Logs, read back with the AWS CLI, although Logs
// is down for its first 30 s (the logs-down fault: long enough that the
// records go to the spool and are sent from it): none is lost, none is
// doubled, and the file destination given alongside gets them too.
func TestProxySessionLogCloudWatch(t *testing.T) {
	cli := testpeer.AWSCLIv2(t)
	sb := useSandbox(t, []string{"postgres"}, sandbox.FaultLogsDown)
	logFile := filepath.Join(t.TempDir(), "sessions.jsonl")
	out := startCommand(t, "proxy", "demo-pg=0", "-q", "--session-log", "cloudwatch:rdsgate-sessions/e2e", "--session-log", logFile)
	waitOutput(t, out, "GUI tools")
	m := regexp.MustCompile(`on 127\.0\.0\.1:(\d+) -> `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no address in:\n%s", out.String())
	}
	const sessions = 5
	ctx := context.Background()
	for range sessions {
		c, err := pgx.Connect(ctx, "host=127.0.0.1 port="+m[1]+" user=app_user dbname=demo sslmode=disable")
		if err != nil {
			t.Fatal(err)
		}
		c.Close(ctx)
	}
	var ids map[string]int
	deadline := time.Now().Add(120 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		b, err := exec.CommandContext(cctx, cli, "--endpoint-url", sb.APIURL, "--output", "json", "logs", "get-log-events",
			"--log-group-name", "rdsgate-sessions", "--log-stream-name", "e2e", "--start-from-head").Output()
		cancel()
		ids = map[string]int{}
		if err == nil {
			var got struct{ Events []struct{ Message string } }
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			for _, e := range got.Events {
				var ev struct {
					Type string `json:"type"`
					ID   string `json:"session_id"`
				}
				if err := json.Unmarshal([]byte(e.Message), &ev); err != nil {
					t.Fatalf("not a session record: %s", e.Message)
				}
				ids[ev.Type+" "+ev.ID]++
			}
		}
		if len(ids) == 2*sessions || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if len(ids) != 2*sessions {
		t.Fatalf("%d distinct records in CloudWatch Logs, want %d (a start and an end per session): %v", len(ids), 2*sessions, ids)
	}
	for k, n := range ids {
		if n != 1 {
			t.Errorf("%s arrived %d times", k, n)
		}
	}
	b, _ := os.ReadFile(logFile)
	if n := strings.Count(string(b), `"type":"session.end"`); n != sessions {
		t.Errorf("the file has %d session ends, want %d", n, sessions)
	}
}
