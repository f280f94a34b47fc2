package cli

import (
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/sandbox"
	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
)

// TestEveryFaultIsOneLine: against each way the sandbox can be wrong,
// connect and the proxy's connection test end with one line that says
// the stage that failed and what to do, once, with no request id, socket
// path or SQL state of a network failure, and exit 1; a fresh token is
// not tried where it cannot help. The tunnel, which has no login, says
// the same of a route that fails.
func TestEveryFaultIsOneLine(t *testing.T) {
	tests := []struct {
		fault string
		stage string // the stage the line names
		fix   string // what the line must hold
		retry bool   // a retry with a fresh token is right here
	}{
		{sandbox.FaultIAMAuthDisabled, "target", "--enable-iam-database-authentication", false},
		{sandbox.FaultAgentOffline, "route", "start it", false},
		{sandbox.FaultSGBlocksBastion, "route", "security group admits the bastion's", false},
		{sandbox.FaultUserNotIAM, "login", "GRANT rds_iam", false},
		{sandbox.FaultNoPolicy, "login", "rdsgate policy demo-pg --user app_user", true},
		{sandbox.FaultWrongCA, "tls", "--ca-bundle", false},
		{sandbox.FaultExpiredCert, "tls", "--ca-certificate-identifier", false},
	}
	for _, tc := range tests {
		t.Run(tc.fault, func(t *testing.T) {
			useSandbox(t, []string{"postgres"}, tc.fault)
			for _, args := range [][]string{
				{"connect", "demo-pg", "--exec", "select 1"},
				{"proxy", "demo-pg=0", "--run-connection-test"},
			} {
				code, _, stderr := run(t, args...)
				lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
				last := lines[len(lines)-1]
				what := args[0] + " with " + tc.fault
				switch {
				case code != ExitFailure:
					t.Errorf("%s: exit %d, want 1:\n%s", what, code, stderr)
				case strings.Count(last, "rdsgate:") != 1 || !strings.HasPrefix(last, "rdsgate: "+tc.stage+": "):
					t.Errorf("%s: the last line does not start with %q once:\n%s", what, "rdsgate: "+tc.stage+": ", last)
				case !strings.Contains(last, tc.fix):
					t.Errorf("%s: the last line lacks the fix %q:\n%s", what, tc.fix, last)
				case strings.Contains(last, "RequestID") || strings.Contains(last, ".s.PGSQL") || strings.Contains(last, "/tmp/"):
					t.Errorf("%s: internals in the last line:\n%s", what, last)
				case tc.stage != "login" && strings.Contains(last, "SQLSTATE"):
					t.Errorf("%s: a SQL state on a %s failure:\n%s", what, tc.stage, last)
				case !tc.retry && strings.Contains(stderr, "retrying"):
					t.Errorf("%s: retried where a fresh token cannot help:\n%s", what, stderr)
				}
			}
			if tc.stage != "route" {
				return
			}
			port := testharness.FreePort(t)
			errOut, done := startMain(t, "tunnel", "demo-pg", "--port", strconv.Itoa(port))
			var c net.Conn
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				var err error
				if c, err = net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the tunnel does not listen: %v\n%s", err, errOut.String())
				}
			}
			_, _ = c.Read(make([]byte, 1)) // the tunnel hangs up when the route fails
			c.Close()
			waitOutput(t, errOut, "could not") // open the route, or connect to the destination
			if s := errOut.String(); !strings.Contains(s, tc.fix) || strings.Contains(s, "RequestID") {
				t.Errorf("tunnel with %s:\n%s", tc.fault, s)
			}
			if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			waitExit(t, done, errOut)
		})
	}
}

// A fault that does not exist is a usage error before anything starts.
func TestSandboxRefusesAnUnknownFault(t *testing.T) {
	code, _, stderr := run(t, "sandbox", "--dir", t.TempDir(), "--fault", "agent-ofline")
	if code != ExitUsage || !strings.Contains(stderr, "did you mean agent-offline?") || strings.Contains(stderr, "starting") {
		t.Errorf("exit %d:\n%s", code, stderr)
	}
}

// The shell completes target names (the sandbox's config file) and the
// values of enumerated flags.
func TestDynamicCompletion(t *testing.T) {
	useSandbox(t, []string{"postgres"})
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "connect", ""}, []string{"demo-pg"}},
		{[]string{"__complete", "connect", "demo-pg", "--via", ""}, []string{"direct", "ssm", "ssh"}},
		{[]string{"__complete", "token", "--target", ""}, []string{"demo-pg"}},
		{[]string{"__complete", "sandbox", "--fault", ""}, sandbox.AllFaults},
		{[]string{"__complete", "connect", "demo-pg", "--client", ""}, []string{"psql", "mycli"}},
		{[]string{"__complete", "--profile", ""}, []string{sandbox.ProfileAdmin, sandbox.ProfileIntern}},
	} {
		code, out, stderr := run(t, tc.args...)
		for _, w := range tc.want {
			if code != 0 || !slices.Contains(strings.Split(out, "\n"), w) {
				t.Errorf("%q: exit %d, no %q in:\n%s%s", tc.args, code, w, out, stderr)
			}
		}
	}
}

// doctor's login line is the proxy's explained error (no socket path) and
// points at the check that failed before it; no retry is logged above it.
func TestDoctorLoginNamesTheEarlierCause(t *testing.T) {
	useSandbox(t, []string{"postgres"}, sandbox.FaultNoPolicy)
	code, out, stderr := run(t, "doctor", "demo-pg")
	if code != ExitFailure || strings.Contains(out, ".s.PGSQL") || strings.Contains(stderr, "retrying") ||
		!strings.Contains(out, "may not rds-db:connect") || !strings.Contains(out, "fix permission above first") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	code, _, stderr = run(t, "conect", "demo-pg")
	if code != ExitUsage || !strings.Contains(stderr, "did you mean connect?") || strings.Count(strings.TrimSpace(stderr), "\n") != 1 {
		t.Errorf("a misspelt command: exit %d\n%s", code, stderr)
	}
}

// policy --until and --for print access that IAM (here the sandbox's
// evaluator, the one its databases ask) stops allowing at that time.
func TestPolicyAccessExpires(t *testing.T) {
	sb := useSandbox(t, []string{"postgres"})
	inst, _ := sb.Instance(sandbox.InstancePG)
	resource := sb.World.DBUserARN(inst, sandbox.IAMUser)
	for _, tc := range []struct {
		args []string
		want iampolicy.Decision
	}{
		{[]string{"--until", "2020-01-01"}, iampolicy.ImplicitDeny},
		{[]string{"--for", "1h"}, iampolicy.Allowed},
		{nil, iampolicy.Allowed},
	} {
		code, out, stderr := run(t, append([]string{"policy", "demo-pg", "-u", sandbox.IAMUser}, tc.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d %s", tc.args, code, stderr)
		}
		doc, err := iampolicy.Parse([]byte(out))
		if err != nil {
			t.Fatalf("%v: %v\n%s", tc.args, err, out)
		}
		got := iampolicy.Evaluate([]iampolicy.Document{doc}, iampolicy.Request{Action: "rds-db:connect", Resource: resource,
			Context: map[string]string{"aws:CurrentTime": time.Now().UTC().Format(time.RFC3339)}})
		if got.Decision != tc.want {
			t.Errorf("%v: %s, want %s\n%s", tc.args, got.Decision, tc.want, out)
		}
	}
	if code, _, _ := run(t, "policy", "demo-pg", "-u", "x", "--until", "2020-01-01", "--for", "1h"); code != ExitUsage {
		t.Errorf("--until with --for: exit %d", code)
	}
}

// A misspelt target or --via is caught with the closest name, the --via
// before any AWS call.
func TestDidYouMean(t *testing.T) {
	useSandbox(t, []string{"postgres"})
	code, _, stderr := run(t, "connect", "demo-pgg", "--exec", "select 1")
	if code != ExitFailure || !strings.Contains(stderr, "did you mean demo-pg?") {
		t.Errorf("demo-pgg: exit %d\n%s", code, stderr)
	}
	code, _, stderr = run(t, "connect", "demo-pg", "--via", "sssm")
	if code != ExitUsage || !strings.Contains(stderr, "did you mean ssm?") || strings.Contains(stderr, "identity") {
		t.Errorf("--via sssm: exit %d\n%s", code, stderr)
	}
}

// doctor warns of a bastion with a key pair, a public IP or IMDSv1, each
// with its fix, and passes a hardened one.
func TestDoctorBastionHardening(t *testing.T) {
	sb := useSandbox(t, []string{"postgres"})
	check := func() (status, detail, fix string) {
		t.Helper()
		_, out, stderr := run(t, "doctor", "demo-pg", "--via", "ssm", "-o", "json")
		var rep struct {
			Checks []struct{ ID, Status, Detail, Fix string }
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("not JSON (%v): %s %s", err, out, stderr)
		}
		for _, c := range rep.Checks {
			if c.ID == "bastion-hardening" {
				return c.Status, c.Detail, c.Fix
			}
		}
		t.Fatalf("no bastion-hardening check:\n%s", out)
		return
	}
	if status, detail, _ := check(); status != "pass" {
		t.Errorf("the sandbox's hardened bastion: %s %s", status, detail)
	}
	sb.World.Update(func() {
		b := &sb.World.Bastions[0]
		b.KeyName, b.PublicIP, b.HTTPTokens = "ops-key", "203.0.113.7", "optional"
	})
	status, detail, fix := check()
	for _, want := range []string{"key pair ops-key", "public IP 203.0.113.7", "IMDSv1"} {
		if status != "warn" || !strings.Contains(detail, want) {
			t.Errorf("want a warning naming %q: %s %s", want, status, detail)
		}
	}
	if !strings.Contains(fix, "--http-tokens required") {
		t.Errorf("fix: %s", fix)
	}
}

// policy --via ssm without --bastion names the bastion the route takes
// (here the config file's).
func TestPolicyFindsTheBastion(t *testing.T) {
	useSandbox(t, []string{"postgres"})
	code, out, stderr := run(t, "policy", "demo-pg", "-u", sandbox.IAMUser, "--via", "ssm")
	if code != 0 || !strings.Contains(out, "instance/"+sandbox.BastionID) {
		t.Errorf("exit %d\n%s\n%s", code, out, stderr)
	}
}

// TestPolicyBastionAdmin: --bastion-admin prints the bastion's admin
// policy scoped to the target's VPC, and refuses to mix with an access
// policy's flags.
func TestPolicyBastionAdmin(t *testing.T) {
	useSandbox(t, []string{"postgres"})
	code, out, stderr := run(t, "policy", "demo-pg", "--bastion-admin")
	var doc struct{ Statement []json.RawMessage }
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Statement) < 5 {
		t.Fatalf("exit %d, %d statements\n%s\n%s", code, len(doc.Statement), out, stderr)
	}
	for _, want := range []string{sandbox.VPCID, "rdsgate:bastion", "AmazonSSMManagedInstanceCore"} {
		if !strings.Contains(out, want) {
			t.Errorf("policy does not name %s:\n%s", want, out)
		}
	}
	if code, _, stderr := run(t, "policy", "demo-pg", "--bastion-admin", "-u", "x"); code != ExitUsage || !strings.Contains(stderr, "--bastion-admin takes one TARGET") {
		t.Errorf("with --user: exit %d\n%s", code, stderr)
	}
	if code, out, _ := run(t, "policy", "demo-pg", "--bastion-admin", "-o", "terraform"); code != 0 || !strings.Contains(out, `resource "aws_iam_policy"`) {
		t.Errorf("terraform: exit %d\n%s", code, out)
	}
}

// TestMissingArgumentsAreAskedFor: a command run without its TARGET (or
// DBUSER, or session id) says which is missing, with the usage line.
func TestMissingArgumentsAreAskedFor(t *testing.T) {
	isolateAWS(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"connect"}, "rdsgate connect: which database? rdsgate connect TARGET [-- CLIENT-ARGS...] [flags] (rdsgate ls lists them)"},
		{[]string{"grant", "orders"}, "rdsgate grant: which database user? rdsgate grant TARGET DBUSER"},
		{[]string{"sessions", "kill", "orders"}, "rdsgate sessions kill: which session? rdsgate sessions kill TARGET ID [flags] (rdsgate sessions TARGET lists them)"},
		{[]string{"doctor", "a", "b"}, "rdsgate doctor: accepts 1 arg(s), received 2; rdsgate doctor TARGET"},
	} {
		code, _, stderr := run(t, tc.args...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q in:\n%s", tc.args, code, tc.want, stderr)
		}
	}
}

// TestPolicyAppliedToAPrincipal: the intern, who holds no policy, is given
// exactly rdsgate's policy with --apply --attach-to and can then connect;
// given it again with --until in the past (same name: it replaces the
// first), the login is refused as expired access; --detach takes it off.
func TestPolicyAppliedToAPrincipal(t *testing.T) {
	sb := useSandboxLogged(t)
	intern := "user/rdsgate-sandbox-intern"
	asIntern := []string{"--profile", sandbox.ProfileIntern}
	connect := func() (int, string) {
		code, _, stderr := run(t, append([]string{"connect", "demo-pg", "--exec", "select 1", "-q"}, asIntern...)...)
		return code, stderr
	}
	if code, _ := connect(); code == 0 {
		t.Fatal("the intern connects before holding any policy")
	}
	if code, out, stderr := run(t, "policy", "demo-pg", "-u", sandbox.IAMUser, "--attach-to", intern); code != 0 || !strings.Contains(out, "aws iam put-user-policy --user-name rdsgate-sandbox-intern") {
		t.Fatalf("without --apply the command is printed: exit %d\n%s%s", code, out, stderr)
	}
	if code, _ := connect(); code == 0 {
		t.Fatal("printing the command changed IAM")
	}
	if code, _, stderr := run(t, "policy", "demo-pg", "-u", sandbox.IAMUser, "--attach-to", intern, "--apply"); code != 0 || !strings.Contains(stderr, "put on "+intern) {
		t.Fatalf("--apply: exit %d\n%s", code, stderr)
	}
	if code, stderr := connect(); code != 0 {
		t.Fatalf("the intern holding exactly the policy: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := run(t, "policy", "demo-pg", "-u", sandbox.IAMUser, "--until", "2020-01-01", "--attach-to", intern, "--apply"); code != 0 {
		t.Fatalf("--until --apply: exit %d\n%s", code, stderr)
	}
	// The sandbox's route is ssm: Session Manager refuses first.
	if code, stderr := connect(); code != ExitFailure || !strings.HasPrefix(lastLine(stderr), "rdsgate: route: ") || !strings.Contains(stderr, "ssm:StartSession") {
		t.Errorf("expired access: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(sb.log.String(), "expired access") {
		t.Errorf("the sandbox does not say the access expired:\n%s", sb.log.String())
	}
	if code, _, stderr := run(t, "policy", "demo-pg", "-u", sandbox.IAMUser, "--attach-to", intern, "--detach", "--apply"); code != 0 || !strings.Contains(stderr, "taken off "+intern) {
		t.Fatalf("--detach --apply: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := run(t, "policy", "demo-pg", "-u", sandbox.IAMUser, "--attach-to", intern, "--detach", "--apply"); code != ExitFailure || !strings.Contains(stderr, "has no policy rdsgate-") {
		t.Errorf("a second --detach: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := run(t, "policy", "demo-pg", "-u", sandbox.IAMUser, "--apply"); code != ExitUsage {
		t.Errorf("--apply without --attach-to: exit %d\n%s", code, stderr)
	}
}

// loggedSandbox is a PostgreSQL sandbox and its log.
type loggedSandbox struct {
	*sandbox.Sandbox
	log *safeBuf
}

func useSandboxLogged(t *testing.T) loggedSandbox {
	var log safeBuf
	sb := useSandboxWith(t, sandbox.Options{Engines: []string{"postgres"}, Log: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sandbox log:\n%s", log.String())
		}
	})
	return loggedSandbox{sb, &log}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
