package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/sandbox"
)

// moduleRoot and startEnv are taken before tests change directory and
// environment.
var (
	moduleRoot, _ = filepath.Abs("../..")
	startEnv      = os.Environ()
)

// useSandbox starts a sandbox and points the environment at it, as
// sourcing DIR/env does.
func useSandbox(t *testing.T, engines []string, faults ...string) *sandbox.Sandbox {
	t.Helper()
	if !dbserver.PostgresAvailable() {
		testpeer.Missing(t, "postgresql", "apt-get install postgresql")
	}
	return useSandboxWith(t, sandbox.Options{Engines: engines, Faults: faults})
}

// useSandboxWith is useSandbox with any options (Dir is set here).
func useSandboxWith(t *testing.T, opts sandbox.Options) *sandbox.Sandbox {
	t.Helper()
	isolateAWS(t)
	opts.Dir = t.TempDir()
	// The sandbox's log says why it refused or dropped a login.
	var log safeBuf
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sandbox log:\n%s", log.String())
		}
	})
	sb, err := sandbox.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(sb.Dir, "aws-config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(sb.Dir, "aws-credentials"),
		"AWS_PROFILE": sandbox.ProfileAdmin, "RDSGATE_CONFIG": filepath.Join(sb.Dir, "rdsgate.yaml"), "RDSGATE_CA_BUNDLE": sb.CAFile,
	} {
		t.Setenv(k, v)
	}
	return sb
}

func TestConnectMySQL(t *testing.T) {
	if !dbserver.MariaDBAvailable() {
		testpeer.Missing(t, "mariadb-server", "apt-get install mariadb-server")
	}
	useSandbox(t, []string{"mysql"})
	code, out, errOut := run(t, "connect", "demo-mysql", "-q", "--exec", "select current_user() as who", "-o", "json")
	var rows []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0]["who"] != "app_user@%" {
		t.Fatalf("exec: exit %d %q %s", code, out, errOut)
	}
	testpeer.LookPath(t, "apt-get install mariadb-client", "mysql", "mariadb")
	code, out, errOut = run(t, "connect", "demo-mysql", "-q", "--", "--batch", "--skip-column-names", "-e", "select count(*) from orders")
	if code != 0 || strings.TrimSpace(out) != "3" {
		t.Errorf("mysql client through connect: exit %d %q %s", code, out, errOut)
	}
	code, _, _ = run(t, "connect", "demo-mysql", "-q", "--", "-e", "select nosuchcol")
	if code != 1 {
		t.Errorf("the client's failure must be rdsgate's exit status: %d", code)
	}
}

func TestConnectExec(t *testing.T) {
	useSandbox(t, []string{"postgres"})
	code, out, errOut := run(t, "connect", "demo-pg", "--exec", "select current_user")
	if code != 0 || !strings.Contains(out, "app_user") {
		t.Fatalf("exit %d: %s\n%s", code, out, errOut)
	}
	for _, stage := range []string{"identity", "target", "login"} {
		if !strings.Contains(errOut, "  "+stage+" ") {
			t.Errorf("progress lacks the %s stage:\n%s", stage, errOut)
		}
	}
	code, out, errOut = run(t, "connect", "demo-pg", "-q", "--exec", "select current_user as who, 42 as answer", "-o", "json")
	var rows []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0]["who"] != "app_user" {
		t.Fatalf("json: exit %d %q %s", code, out, errOut)
	}
	if errOut != "" {
		t.Errorf("-q still printed: %q", errOut)
	}
	code, out, _ = run(t, "connect", "demo-pg", "-q", "--exec", "select id, customer from orders order by id", "-o", "csv")
	if code != 0 || !strings.HasPrefix(out, "id,customer\n1,Ada\n") {
		t.Errorf("csv: %d %q", code, out)
	}
	code, _, errOut = run(t, "connect", "demo-pg", "--user", "nobody_here", "--exec", "select 1")
	if code != 1 || !strings.Contains(errOut, "nobody_here") {
		t.Errorf("unknown user: exit %d %q", code, errOut)
	}
}

// psql runs for real under a pseudo-terminal (script(1)); a query typed at
// its prompt returns, \q ends it, rdsgate exits with psql's status, and no
// process's command line shows a token while it runs.
func TestConnectRunsPsqlOnATerminal(t *testing.T) {
	script := testpeer.LookPath(t, "apt-get install bsdutils", "script")
	testpeer.LookPath(t, "apt-get install postgresql-client", "psql")
	sb := useSandbox(t, []string{"postgres"})
	bin := filepath.Join(t.TempDir(), "rdsgate")
	build := exec.Command("go", "build", "-o", bin, "./cmd/rdsgate")
	build.Dir, build.Env = moduleRoot, startEnv // the developer's HOME, so the build cache is warm
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(script, "-qfec", bin+" connect demo-pg", "/dev/null")
	cmd.Env = append(os.Environ(), "TERM=dumb", "PAGER=cat", "PSQL_PAGER=cat")
	stdin, _ := cmd.StdinPipe()
	var out safeBuf
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, &out, "demo=>")
	io.WriteString(stdin, "select 'typed at ' || 'the prompt' as answer;\n")
	waitOutput(t, &out, "typed at the prompt")
	ps, _ := exec.Command("ps", "-eo", "args").Output()
	if bytes.Contains(ps, []byte("X-Amz-Signature")) || bytes.Contains(ps, []byte("Action=connect")) {
		t.Error("a token is visible in the process list")
	}
	io.WriteString(stdin, "\\q\n")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("rdsgate connect exited with %v:\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("psql did not end after \\q:\n%s", out.String())
	}
	// The Session Manager session that carried it is closed, not left to time out.
	sessions := sb.API().Sessions()
	if len(sessions) == 0 {
		t.Error("connect did not go through the sandbox's Session Manager bastion")
	}
	for _, s := range sessions {
		if s.Status != "Terminated" {
			t.Errorf("session %s is %s after connect ended", s.ID, s.Status)
		}
	}
}

func TestDoctor(t *testing.T) {
	ssm := []string{"--via", "ssm", "--bastion", sandbox.BastionID}
	// An SSH bastion nobody listens on: the route fails with SSH's checklist.
	sshDown := []string{"--via", "ssh", "--ssh", "ops@127.0.0.1:" + strconv.Itoa(testharness.FreePort(t)), "--ssh-known-hosts", filepath.Join(t.TempDir(), "known_hosts")}
	tests := []struct {
		fault   string
		args    []string
		failing string
		fix     string
	}{
		{"", nil, "", ""},
		{"", ssm, "", ""}, // the bastion's side too: its role, endpoints, egress, hardening
		{"", sshDown, "route", "--ssh USER@HOST[:PORT]"},
		{sandbox.FaultIAMAuthDisabled, nil, "iam-auth", "--enable-iam-database-authentication"},
		{sandbox.FaultNoPolicy, nil, "permission", `"Action":"rds-db:connect"`},
		{sandbox.FaultUserNotIAM, nil, "login", "GRANT rds_iam"},
		{sandbox.FaultAgentOffline, ssm, "agent", "amazon-ssm-agent"},
		{sandbox.FaultSGBlocksBastion, ssm, "security-group", "authorize-security-group-ingress"},
		{sandbox.FaultWrongCA, nil, "tls", "--ca-bundle"},
	}
	for _, tc := range tests {
		name := tc.fault
		switch {
		case tc.failing == "route":
			name = "ssh-bastion-down"
		case name == "":
			name = "healthy"
		}
		t.Run(name, func(t *testing.T) {
			var faults []string
			if tc.fault != "" {
				faults = []string{tc.fault}
			}
			useSandbox(t, []string{"postgres"}, faults...)
			code, out, errOut := run(t, append([]string{"doctor", "demo-pg", "-o", "json"}, tc.args...)...)
			var rep struct {
				OK     bool `json:"ok"`
				Checks []struct{ ID, Status, Detail, Fix string }
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("not JSON (%v): %s %s", err, out, errOut)
			}
			var failed, warned, ids []string
			for _, c := range rep.Checks {
				ids = append(ids, c.ID)
				if c.Status == "warn" {
					warned = append(warned, c.ID)
				}
				if c.Status == "fail" {
					failed = append(failed, c.ID)
					if c.ID == tc.failing && !strings.Contains(c.Fix, tc.fix) {
						t.Errorf("fix for %s = %q, want it to mention %q", c.ID, c.Fix, tc.fix)
					}
				}
			}
			if tc.failing == "" {
				if len(tc.args) > 0 && (!slices.Contains(ids, "instance-profile") || !slices.Contains(ids, "ssm-network") || !slices.Contains(ids, "bastion-egress")) {
					t.Errorf("the ssm route's checks lack the bastion's side: %v", ids)
				}
				if code != 0 || !rep.OK || len(failed) > 0 || len(warned) > 0 {
					t.Errorf("healthy sandbox: exit %d, failed %v, warned %v\n%s", code, failed, warned, out)
				}
				return
			}
			if code != 1 || len(failed) == 0 || failed[0] != tc.failing {
				t.Errorf("exit %d, failed checks %v, want %s first\n%s", code, failed, tc.failing, out)
			}
		})
	}
}

type safeBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *safeBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func waitOutput(t *testing.T, b *safeBuf, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in output:\n%s", want, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A refused login names the exact resource the policy must allow.
func TestConnectRefusedNamesThePolicyResource(t *testing.T) {
	sb := useSandbox(t, []string{"postgres"}, sandbox.FaultNoPolicy)
	inst, _ := sb.Instance(sandbox.InstancePG)
	code, _, errOut := run(t, "connect", "demo-pg", "--exec", "select 1")
	want := "arn:aws:rds-db:us-east-1:111122223333:dbuser:" + inst.ResourceID + "/app_user"
	if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "rdsgate doctor demo-pg") {
		t.Errorf("exit %d, want the error to name %s and doctor:\n%s", code, want, errOut)
	}
}

// TestConnectKeepsSecretsFromTheClient: psql runs with neither the AWS keys
// nor the password_env variable that rdsgate itself used: anything psql
// starts (\!, a pager) could read them from its environment.
func TestConnectKeepsSecretsFromTheClient(t *testing.T) {
	if _, err := exec.LookPath("psql"); err != nil {
		testpeer.Missing(t, "psql", "apt-get install postgresql-client")
	}
	sb := useSandbox(t, []string{"postgres"})
	master, password, _ := masterCredentials(t, sb)
	p := sb.Principal(sandbox.ProfileAdmin)
	t.Setenv("AWS_ACCESS_KEY_ID", p.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", p.SecretAccessKey)
	t.Setenv("DEMO_PG_PW", password)
	t.Setenv("UNRELATED_MARKER", "kept")
	base, err := os.ReadFile(filepath.Join(sb.Dir, "rdsgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "rdsgate.yaml")
	text := string(base) + "  pw-pg:\n    identifier: " + sandbox.InstancePG + "\n    user: " + master +
		"\n    auth: password\n    password_env: DEMO_PG_PW\n    route:\n      via: ssm\n      bastion: " + sandbox.BastionID + "\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RDSGATE_CONFIG", cfg)
	code, out, errOut := run(t, "connect", "pw-pg", "-q", "--", "-X", "-c", `\! env`)
	if code != 0 || !strings.Contains(out, "UNRELATED_MARKER=kept") {
		t.Fatalf("connect: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	for _, secret := range []string{p.SecretAccessKey, p.AccessKeyID, password} {
		if strings.Contains(out, secret) {
			t.Errorf("the client's environment holds a secret:\n%s", out)
		}
	}
}
