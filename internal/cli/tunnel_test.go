package cli

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/internal/sigwatch"
	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/sandbox"
)

// startCommand runs a long-lived command in-process until the test ends.
func startCommand(t *testing.T, args ...string) *safeBuf {
	t.Helper()
	var out, errOut safeBuf
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: os.Getenv, getwd: os.Getwd, open: dbpath.Open}
	root := a.newRoot()
	root.SetArgs(args)
	a.sig = &sigwatch.Watcher{} // no signal handling in tests
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%v: %v\n%s", args, err, errOut.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%v did not stop", args)
		}
	})
	return &out
}

// psql through `rdsgate tunnel`: a plain port forward over Session Manager,
// with the client doing verify-full TLS against the endpoint name itself and
// logging in with a token from `rdsgate token`.
func TestTunnelCarriesVerifyFullPsql(t *testing.T) {
	psql := testpeer.LookPath(t, "apt-get install postgresql-client", "psql")
	sb := useSandbox(t, []string{"postgres"})
	out := startCommand(t, "tunnel", "demo-pg", "-q")
	waitOutput(t, out, "Forwarding")
	m := regexp.MustCompile(`Forwarding 127\.0\.0\.1:(\d+) -> `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no address in %q", out.String())
	}
	code, tok, errOut := run(t, "token", "--target", "demo-pg", "-q")
	if code != 0 {
		t.Fatalf("token: %s", errOut)
	}
	inst, _ := sb.Instance(sandbox.InstancePG)
	for i := 0; i < 2; i++ { // two connections over the one session
		cmd := exec.Command(psql, "host="+inst.Endpoint+" hostaddr=127.0.0.1 port="+m[1]+" user=app_user dbname=demo sslmode=verify-full sslrootcert="+sb.CAFile,
			"-XAtc", "select current_user")
		cmd.Env = []string{"PGPASSWORD=" + strings.TrimSpace(tok), "PATH=/usr/bin:/bin"}
		b, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(b)) != "app_user" {
			t.Fatalf("psql through the tunnel: %v: %s", err, b)
		}
	}
	var live int
	for _, s := range sb.API().Sessions() {
		if s.Status == "Connected" {
			live++
		}
	}
	if live != 1 {
		t.Errorf("%d live Session Manager sessions, want 1 shared by both connections", live)
	}
}

func TestTunnelRemote(t *testing.T) {
	useSandbox(t, []string{"postgres"})
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	out := startCommand(t, "tunnel", "--remote", echo.Addr().String(), "--via", "ssm", "--bastion", sandbox.BastionID, "-q")
	waitOutput(t, out, "Forwarding")
	addr := regexp.MustCompile(`Forwarding (127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())[1]
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping through the bastion"))
	buf := make([]byte, 24)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping through the bastion" {
		t.Errorf("echo %q, %v", buf, err)
	}
}

// connect --ssm-plugin goes through AWS's own plugin, spawned as the AWS CLI
// spawns it, and terminates its session afterwards.
func TestConnectThroughAWSPlugin(t *testing.T) {
	plugin := testharness.SessionManagerPlugin(t)
	sb := useSandbox(t, []string{"postgres"})
	p := sb.Principal(sandbox.ProfileAdmin)
	// The plugin calls ResumeSession/TerminateSession with the profile's
	// credentials and the endpoint it is given.
	t.Setenv("AWS_ACCESS_KEY_ID", p.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", p.SecretAccessKey)
	code, out, errOut := run(t, "connect", "demo-pg", "--ssm-plugin", plugin, "--exec", "select current_user")
	if code != 0 || !strings.Contains(out, "app_user") || !strings.Contains(errOut, "session-manager-plugin") {
		t.Fatalf("exit %d: %s\n%s", code, out, errOut)
	}
	for _, s := range sb.API().Sessions() {
		if s.Status != "Terminated" {
			t.Errorf("session %s is %s after connect ended", s.ID, s.Status)
		}
	}
}
