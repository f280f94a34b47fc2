package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/testharness"
)

func TestProxyCommand(t *testing.T) {
	useSandbox(t, []string{"postgres"})
	httpPort := testharness.FreePort(t)
	logFile := filepath.Join(t.TempDir(), "sessions.jsonl")
	sock := filepath.Join(t.TempDir(), "sock")
	out := startCommand(t, "proxy", "demo-pg=0", "--http-address", "127.0.0.1:"+strconv.Itoa(httpPort),
		"--session-log", logFile, "--log-statements", "--unix-socket", sock, "-q")
	waitOutput(t, out, "GUI tools")
	m := regexp.MustCompile(`on 127\.0\.0\.1:(\d+) -> `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no address in:\n%s", out.String())
	}
	for _, want := range []string{"psql \"host=127.0.0.1 port=" + m[1] + " user=app_user dbname=demo\"", "jdbc:postgresql://127.0.0.1:" + m[1] + "/demo"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("connection info lacks %q:\n%s", want, out.String())
		}
	}
	ctx := context.Background()
	for _, dsn := range []string{
		"host=127.0.0.1 port=" + m[1] + " user=app_user dbname=demo sslmode=disable",
		"host=" + sock + " port=" + m[1] + " user=app_user dbname=demo sslmode=disable",
	} {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		var n int
		if err := c.QueryRow(ctx, "select count(*) from orders").Scan(&n); err != nil || n != 3 {
			t.Errorf("query: %d %v", n, err)
		}
		c.Close(ctx)
	}
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(httpPort) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `rdsgate_connections_total{target="demo-pg",engine="postgres"} 1`) ||
		!strings.Contains(string(body), "rdsgate_token_builds_total") {
		t.Errorf("metrics:\n%s", body)
	}
	waitFor(t, func() bool {
		b, _ := os.ReadFile(logFile)
		return strings.Count(string(b), `"type":"session.end"`) == 2
	})
	b, _ := os.ReadFile(logFile)
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Errorf("not JSON: %s", line)
		}
	}
	if !strings.Contains(string(b), "select count(*) from orders") || strings.Contains(string(b), "X-Amz-Signature") {
		t.Errorf("session log: statements missing or a token present:\n%s", b)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
