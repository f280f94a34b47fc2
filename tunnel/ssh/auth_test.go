package ssh

import (
	"context"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/sandbox/awsapi"
	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

// serveAgent serves an in-process ssh-agent keyring on a unix socket.
func serveAgent(t testing.TB, keys ...any) string {
	t.Helper()
	kr := agent.NewKeyring()
	for _, k := range keys {
		if err := kr.Add(agent.AddedKey{PrivateKey: k, Comment: "test-agent-key"}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); agent.ServeAgent(kr, c) }()
		}
	}()
	return sock
}

func TestAuthAgent(t *testing.T) {
	t.Parallel()
	needSSHD(t)
	priv, _, pub := newEd25519(t)
	s := testharness.StartSSHD(t, testharness.SSHDOptions{AuthorizedKeys: []string{pub}})
	echo := testharness.EchoServer(t)

	opts := baseOptions(t, s)
	opts.NoAgent = false
	opts.AgentSocket = serveAgent(t, priv)
	d := newDialer(t, opts)
	c, err := d.DialContext(testCtx(t), "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, 1000); err != nil {
		t.Fatal(err)
	}

	// An agent with the wrong key: refused, with the next step.
	other, _, _ := newEd25519(t)
	opts.AgentSocket = serveAgent(t, other)
	_, err = New(testCtx(t), opts)
	if err == nil || !strings.Contains(err.Error(), "ssh-add") || !strings.Contains(err.Error(), "agent key test-agent-key") {
		t.Fatalf("wrong agent key: %v", err)
	}
}

func TestAuthIdentityFile(t *testing.T) {
	t.Parallel()
	needSSHD(t)
	priv, _, pub := newEd25519(t)
	s := testharness.StartSSHD(t, testharness.SSHDOptions{AuthorizedKeys: []string{pub}})
	echo := testharness.EchoServer(t)
	dir := t.TempDir()

	plainFile := filepath.Join(dir, "id_plain")
	block, err := ssh.MarshalPrivateKey(priv, "plain")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plainFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	encFile := filepath.Join(dir, "id_enc")
	block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "enc", []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(encFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}

	d := newDialer(t, baseOptions(t, s, plainFile))
	c, err := d.DialContext(testCtx(t), "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	// Passphrase-protected without a prompt: a clear error naming ssh-add.
	_, err = New(testCtx(t), baseOptions(t, s, encFile))
	if err == nil || !strings.Contains(err.Error(), "ssh-add "+encFile) {
		t.Fatalf("encrypted key without prompt: %v", err)
	}
	opts := baseOptions(t, s, encFile)
	opts.Passphrase = func(string) ([]byte, error) { return []byte("wrong"), nil }
	if _, err = New(testCtx(t), opts); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	var asked atomic.Int32
	opts.Passphrase = func(f string) ([]byte, error) {
		asked.Add(1)
		if f != encFile {
			return nil, fmt.Errorf("asked for %s", f)
		}
		return []byte("correct horse"), nil
	}
	d = newDialer(t, opts)
	c, err = d.DialContext(testCtx(t), "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if asked.Load() != 1 {
		t.Errorf("passphrase asked %d times", asked.Load())
	}

	// No key at all: refused with next steps.
	_, err = New(testCtx(t), baseOptions(t, s))
	if err == nil || !strings.Contains(err.Error(), "refused every key offered (there was none)") {
		t.Fatalf("no keys: %v", err)
	}
}

const (
	eicBastion = "i-0sandbox00000000b1"
	eicAZ      = "us-east-1a"
)

// testClock is a clock the test moves.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// eicEnv is an awsapi server answering SendSSHPublicKey and an sshd whose
// AuthorizedKeysCommand asks it (through a loopback HTTP endpoint) for the
// keys pushed in the last 60 s. No key file exists anywhere.
type eicEnv struct {
	api    *awsapi.Server
	clock  *testClock
	sshd   *testharness.SSHD
	pusher *ec2instanceconnect.Client
}

func startEIC(t *testing.T) *eicEnv {
	t.Helper()
	needSSHD(t)
	if os.Geteuid() != 0 {
		testpeer.Missing(t, "root", "sshd runs AuthorizedKeysCommand only from root-owned paths; run the EIC test as root (CI does)")
	}
	testpeer.LookPath(t, "apt-get install curl", "/usr/bin/curl")
	policy, err := iampolicy.Parse([]byte(`{"Statement":[{"Effect":"Allow","Action":"ec2-instance-connect:SendSSHPublicKey",
		"Resource":"arn:aws:ec2:*:*:instance/*","Condition":{"StringEquals":{"ec2:osuser":"root"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	w := &world.World{
		Account: world.DefaultAccount, Region: world.DefaultRegion,
		Principals: []world.Principal{{Name: "dev", ARN: "arn:aws:iam::111122223333:user/dev", UserID: "AIDASANDBOXDEV000001",
			AccessKeyID: "AKIASANDBOXDEV000001", SecretAccessKey: "devsecret0000000000000000000000000000000000",
			Policies: []iampolicy.Document{policy}}},
		Bastions: []world.Bastion{{InstanceID: eicBastion, Name: "bastion", AvailabilityZone: eicAZ,
			Tags: map[string]string{"Name": "bastion"}}},
	}
	e := &eicEnv{clock: &testClock{}}
	e.api = awsapi.New(awsapi.Options{World: w, Now: e.clock.now, Log: slog.New(slog.DiscardHandler)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.api.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	e.pusher = ec2instanceconnect.NewFromConfig(aws.Config{
		Region:           world.DefaultRegion,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIASANDBOXDEV000001", "devsecret0000000000000000000000000000000000", ""),
		BaseEndpoint:     aws.String("http://" + ln.Addr().String()),
		RetryMaxAttempts: 1,
	})

	// What the bastion's AuthorizedKeysCommand asks.
	keysLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, k := range e.api.PushedKeys(eicBastion, r.URL.Query().Get("user")) {
			fmt.Fprintln(w, k)
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(keysLn)
	t.Cleanup(func() { hs.Close() })

	// sshd wants the command and every directory above it root-owned and
	// not writable by others: /run qualifies, /tmp does not.
	dir, err := os.MkdirTemp("/run", "rdsgate-eic-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "eic-keys")
	body := fmt.Sprintf("#!/bin/sh\nexec /usr/bin/curl -fsS --max-time 5 \"http://%s/keys?user=$1\"\n", keysLn.Addr())
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	e.sshd = testharness.StartSSHD(t, testharness.SSHDOptions{AuthorizedKeysCommand: script + " %u"})
	return e
}

// recordingPusher counts pushes and can run a hook after each.
type recordingPusher struct {
	KeyPusher
	n     atomic.Int32
	after func()
}

func (p *recordingPusher) SendSSHPublicKey(ctx context.Context, in *ec2instanceconnect.SendSSHPublicKeyInput,
	optFns ...func(*ec2instanceconnect.Options)) (*ec2instanceconnect.SendSSHPublicKeyOutput, error) {
	out, err := p.KeyPusher.SendSSHPublicKey(ctx, in, optFns...)
	p.n.Add(1)
	if p.after != nil {
		p.after()
	}
	return out, err
}

func TestAuthEC2InstanceConnect(t *testing.T) {
	t.Parallel()
	e := startEIC(t)
	echo := testharness.EchoServer(t)
	rp := &recordingPusher{KeyPusher: e.pusher}
	opts := baseOptions(t, e.sshd) // no identities, no agent, empty home
	opts.EIC = &EIC{Pusher: rp, InstanceID: eicBastion, AvailabilityZone: eicAZ}
	d := newDialer(t, opts)
	c, err := d.DialContext(testCtx(t), "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(c, 1000); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := e.api.PushedKeys(eicBastion, e.sshd.User); len(got) != 1 || !strings.HasPrefix(got[0], "ssh-ed25519 ") {
		t.Fatalf("pushed keys %v", got)
	}

	// 61 s later the pushed key is gone; a reconnection pushes a new one.
	e.clock.advance(61 * time.Second)
	if got := e.api.PushedKeys(eicBastion, e.sshd.User); len(got) != 0 {
		t.Fatalf("keys after 61 s: %v", got)
	}
	e.sshd.Restart(t)
	c, err = d.DialContext(testCtx(t), "tcp", echo)
	if err != nil {
		t.Fatalf("reconnect with EIC: %v", err)
	}
	c.Close()
	if rp.n.Load() != 2 {
		t.Errorf("%d pushes for 2 connections", rp.n.Load())
	}

	// A key used after its 60 s are up is refused.
	late := &recordingPusher{KeyPusher: e.pusher, after: func() { e.clock.advance(61 * time.Second) }}
	opts.EIC = &EIC{Pusher: late, InstanceID: eicBastion}
	_, err = New(testCtx(t), opts)
	if err == nil || !strings.Contains(err.Error(), "EC2 Instance Connect") {
		t.Fatalf("login with an expired pushed key: %v", err)
	}

	// IAM refuses another OS user (the policy's ec2:osuser condition).
	opts.EIC = &EIC{Pusher: e.pusher, InstanceID: eicBastion}
	opts.Chain = "ec2-user@" + e.sshd.Addr()
	_, err = New(testCtx(t), opts)
	if err == nil || !strings.Contains(err.Error(), "AccessDeniedException") || !strings.Contains(err.Error(), `ec2:osuser = "ec2-user"`) {
		t.Fatalf("push for a forbidden OS user: %v", err)
	}
	if strings.Contains(err.Error(), "devsecret") {
		t.Fatalf("secret in error: %v", err)
	}
}
