package cli

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/sandbox"
)

// connect --via ssh through a real OpenSSH sshd: TLS is verified against the
// endpoint name and the token signed for it, while the bastion dials the
// sandbox front's address.
func TestConnectViaSSH(t *testing.T) {
	sb := useSandbox(t, []string{"postgres"})
	keyFile, pub := testharness.GenerateSSHKey(t)
	sshd := testharness.StartSSHD(t, testharness.SSHDOptions{AuthorizedKeys: []string{pub}})
	inst, _ := sb.Instance(sandbox.InstancePG)
	dest := sshd.User + "@127.0.0.1:" + strconv.Itoa(sshd.Port)
	known := filepath.Join(t.TempDir(), "known_hosts")
	args := []string{"connect", "demo-pg", "--via", "ssh", "--ssh", dest, "--address", inst.FrontAddr,
		"--ssh-identity", keyFile, "--ssh-known-hosts", known, "--exec", "select current_user", "-q"}

	code, _, errOut := run(t, args...)
	if code != 1 || !strings.Contains(errOut, "SHA256:") || !strings.Contains(errOut, "ssh-keyscan") {
		t.Fatalf("unknown host key: exit %d, want a refusal with the fingerprint and the command to trust it:\n%s", code, errOut)
	}
	code, out, errOut := run(t, append(args, "--ssh-accept-new")...)
	if code != 0 || strings.TrimSpace(strings.SplitN(out, "\n", 3)[1]) != "app_user" {
		t.Fatalf("--ssh-accept-new: exit %d %q %s", code, out, errOut)
	}
	recorded, _ := os.ReadFile(known)
	if strings.Count(string(recorded), "\n") != 1 {
		t.Errorf("known_hosts should hold one line: %q", recorded)
	}
	code, out, errOut = run(t, args...)
	if code != 0 || !strings.Contains(out, "app_user") {
		t.Errorf("with the recorded key: exit %d %q %s", code, out, errOut)
	}
	// A changed host key is refused, and the file is left alone.
	other := testharness.StartSSHD(t, testharness.SSHDOptions{AuthorizedKeys: []string{pub}})
	line := strings.Replace(string(recorded), strconv.Itoa(sshd.Port), strconv.Itoa(other.Port), 1)
	os.WriteFile(known, []byte(string(recorded)+line), 0o600)
	otherArgs := append([]string{}, args...)
	otherArgs[5] = other.User + "@127.0.0.1:" + strconv.Itoa(other.Port)
	code, _, errOut = run(t, append(otherArgs, "--ssh-accept-new")...)
	if code != 1 || !strings.Contains(strings.ToLower(errOut), "changed") {
		t.Errorf("changed host key: exit %d %s", code, errOut)
	}
}

// An SSH bastion with a key needs no AWS credentials or region.
func TestTunnelViaSSHNeedsNoAWS(t *testing.T) {
	isolateAWS(t)
	keyFile, pub := testharness.GenerateSSHKey(t)
	sshd := testharness.StartSSHD(t, testharness.SSHDOptions{AuthorizedKeys: []string{pub}})
	echo := testharness.EchoServer(t)
	known := filepath.Join(t.TempDir(), "known_hosts")
	out := startCommand(t, "tunnel", "--remote", echo, "--via", "ssh", "--ssh", sshd.User+"@127.0.0.1:"+strconv.Itoa(sshd.Port),
		"--ssh-identity", keyFile, "--ssh-known-hosts", known, "--ssh-accept-new", "-q")
	waitOutput(t, out, "Forwarding")
	addr := regexp.MustCompile(`Forwarding (127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())[1]
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Errorf("echo %q %v", buf, err)
	}
}
