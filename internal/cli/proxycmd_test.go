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
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/sandbox"
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

// startMain runs Main (with its real signal handling) in the background and
// returns its stderr and a channel with its exit code.
func startMain(t *testing.T, args ...string) (*safeBuf, <-chan int) {
	t.Helper()
	var out, errOut safeBuf
	code := make(chan int, 1)
	go func() { code <- Main(context.Background(), args, strings.NewReader(""), &out, &errOut) }()
	return &errOut, code
}

func waitExit(t *testing.T, code <-chan int, errOut *safeBuf) int {
	t.Helper()
	select {
	case c := <-code:
		return c
	case <-time.After(30 * time.Second):
		t.Fatalf("did not exit:\n%s", errOut.String())
	}
	return -1
}

// A sidecar's life: --run-connection-test logs in before "ready", and a
// POST to /quitquitquit stops the proxy with exit 0.
func TestProxyConnectionTestAndQuit(t *testing.T) {
	useSandbox(t, []string{"postgres"})
	httpPort := testharness.FreePort(t)
	errOut, code := startMain(t, "proxy", "demo-pg=0", "--run-connection-test", "--http-address", "127.0.0.1:"+strconv.Itoa(httpPort), "--quitquitquit")
	waitOutput(t, errOut, "proxy ready")
	if s := errOut.String(); !strings.Contains(s, "demo-pg: logged in as app_user over TLS verified for") ||
		strings.Index(s, "logged in as") > strings.Index(s, "proxy ready") {
		t.Errorf("no connection test before ready:\n%s", s)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(httpPort) + "/quitquitquit"
	// A plain POST is what a web page can send: refused.
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a POST without %s: %d, want 403", proxy.QuitHeader, resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	req.Header.Set(proxy.QuitHeader, "1")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := waitExit(t, code, errOut); c != ExitOK || resp.StatusCode != 200 {
		t.Errorf("exit %d after /quitquitquit (%d):\n%s", c, resp.StatusCode, errOut.String())
	}
}

// A failing connection test exits 1 with the cause, without serving; the
// flags that need others say so.
func TestProxyConnectionTestFails(t *testing.T) {
	useSandbox(t, []string{"postgres"}, sandbox.FaultNoPolicy)
	errOut, code := startMain(t, "proxy", "demo-pg=0", "--run-connection-test")
	if c := waitExit(t, code, errOut); c != ExitFailure || !strings.Contains(errOut.String(), "--run-connection-test: log in to demo-pg as app_user") ||
		strings.Contains(errOut.String(), "proxy ready") {
		t.Errorf("exit %d:\n%s", c, errOut.String())
	}
	for _, args := range [][]string{{"--quitquitquit"}, {"--drain-timeout", "-1s"}} {
		c, _, e := run(t, append([]string{"proxy", "demo-pg=0"}, args...)...)
		if c != ExitUsage {
			t.Errorf("%v: exit %d %s", args, c, e)
		}
	}
}

// SIGTERM exits 143, or 0 with --exit-zero-on-sigterm (a Job's sidecar).
func TestProxyExitOnSIGTERM(t *testing.T) {
	useSandbox(t, []string{"postgres"})
	for _, tc := range []struct {
		flags []string
		want  int
	}{{nil, ExitSIGTERM}, {[]string{"--exit-zero-on-sigterm"}, ExitOK}} {
		errOut, code := startMain(t, append([]string{"proxy", "demo-pg=0"}, tc.flags...)...)
		waitOutput(t, errOut, "proxy ready") // Main's signal handler is in place
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if c := waitExit(t, code, errOut); c != tc.want {
			t.Errorf("%v: exit %d, want %d:\n%s", tc.flags, c, tc.want, errOut.String())
		}
	}
}

// TestProxySecondInterruptExitsAtOnce: a first Ctrl-C drains (and says how
// many sessions are open); a second one exits at once, cutting them, with
// SIGINT's exit status.
func TestProxySecondInterruptExitsAtOnce(t *testing.T) {
	useSandbox(t, []string{"postgres"})
	var out, errOut safeBuf
	exited := make(chan int, 1)
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: os.Getenv, getwd: os.Getwd,
		exit: func(code int) { exited <- code }}
	done := make(chan int, 1)
	go func() { done <- a.main(context.Background(), []string{"proxy", "demo-pg=0", "--drain-timeout", "20s"}) }()
	waitOutput(t, &errOut, "proxy ready")
	m := regexp.MustCompile(`on 127\.0\.0\.1:(\d+) -> `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no address in:\n%s", out.String())
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, "host=127.0.0.1 port="+m[1]+" user=app_user dbname=demo sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, &errOut, "1 open sessions may finish (Ctrl-C again to cut them now)")
	select {
	case code := <-exited:
		t.Fatalf("exited (%d) on the first interrupt", code)
	case <-time.After(300 * time.Millisecond):
	}
	t0 := time.Now()
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exited:
		if code != ExitSIGINT || time.Since(t0) > 5*time.Second {
			t.Errorf("second interrupt: exit %d after %s, want %d at once", code, time.Since(t0), ExitSIGINT)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("a second interrupt did not exit:\n%s", errOut.String())
	}
	if !strings.Contains(errOut.String(), "rdsgate: stopped at once (a second interrupt); open sessions were cut") {
		t.Errorf("stderr lacks the reason:\n%s", errOut.String())
	}
	c.Close(ctx) // the drain of the process that went on in this test ends with it
	waitExit(t, done, &errOut)
}

// TestProxyAtTheSessionQuota: with the account allowed only two Session
// Manager sessions, a proxy that would spread over four keeps serving
// every client on the sessions it has, and says so once.
func TestProxyAtTheSessionQuota(t *testing.T) {
	useSandbox(t, []string{"postgres"}, sandbox.FaultSSMSessionLimit)
	var out, errOut safeBuf
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: os.Getenv, getwd: os.Getwd}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- a.main(ctx, []string{"proxy", "demo-pg=0", "--via", "ssm", "--ssm-sessions", "4"}) }()
	defer func() { cancel(); waitExit(t, done, &errOut) }()
	waitOutput(t, &errOut, "proxy ready")
	if !strings.Contains(errOut.String(), "spread over up to 4 sessions") {
		t.Errorf("the route line does not say the sessions:\n%s", errOut.String())
	}
	m := regexp.MustCompile(`on 127\.0\.0\.1:(\d+) -> `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no address in:\n%s", out.String())
	}
	var conns []*pgx.Conn
	defer func() {
		for _, c := range conns {
			c.Close(context.Background())
		}
	}()
	for range 6 { // held open together, so the pool wants more than two
		c, err := pgx.Connect(context.Background(), "host=127.0.0.1 port="+m[1]+" user=app_user dbname=demo sslmode=disable")
		if err != nil {
			t.Fatalf("client %d: %v\n%s", len(conns)+1, err, errOut.String())
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		var n int
		if err := c.QueryRow(context.Background(), "select count(*) from orders").Scan(&n); err != nil || n != 3 {
			t.Errorf("client %d: %d %v", i+1, n, err)
		}
	}
	if k := strings.Count(errOut.String(), "warning: ssm: the account's Session Manager session quota is reached"); k != 1 {
		t.Errorf("the quota is said %d times, want once:\n%s", k, errOut.String())
	}
}

// TestProxyReuseLogins: with --reuse-logins a client that reconnects over
// the ssm route gets the session its last connection left, reset, and
// without the flag it gets a new one.
func TestProxyReuseLogins(t *testing.T) {
	useSandbox(t, []string{"postgres"})
	for _, tt := range []struct {
		flags []string
		reuse bool
	}{{[]string{"--reuse-logins"}, true}, {nil, false}} {
		var out, errOut safeBuf
		a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: os.Getenv, getwd: os.Getwd}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() { done <- a.main(ctx, append([]string{"proxy", "demo-pg=0", "--via", "ssm"}, tt.flags...)) }()
		waitOutput(t, &errOut, "proxy ready")
		m := regexp.MustCompile(`on 127\.0\.0\.1:(\d+) -> `).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("no address in:\n%s", out.String())
		}
		var pids []int
		for i := range 2 {
			c, err := pgx.Connect(context.Background(), "host=127.0.0.1 port="+m[1]+" user=app_user dbname=demo sslmode=disable")
			if err != nil {
				t.Fatalf("client %d: %v\n%s", i+1, err, errOut.String())
			}
			var pid int
			var path string
			if err := c.QueryRow(context.Background(), "select pg_backend_pid(), current_setting('search_path')").Scan(&pid, &path); err != nil {
				t.Fatal(err)
			}
			if path != `"$user", public` {
				t.Errorf("client %d: search_path %q: the last client's setting carried over", i+1, path)
			}
			if _, err := c.Exec(context.Background(), "SET search_path = pg_catalog"); err != nil {
				t.Fatal(err)
			}
			pids = append(pids, pid)
			c.Close(context.Background())
			time.Sleep(300 * time.Millisecond) // the proxy reads the Terminate and resets the session
		}
		cancel()
		waitExit(t, done, &errOut)
		if same := pids[0] == pids[1]; same != tt.reuse {
			t.Errorf("%v: backends %v; want the same one: %v", tt.flags, pids, tt.reuse)
		}
	}
}
