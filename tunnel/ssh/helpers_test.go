package ssh

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
)

const sshdHow = "apt-get install openssh-server openssh-client"

// needSSHD skips (or fails with RDSGATE_REQUIRE_PEERS=1) without sshd.
func needSSHD(t testing.TB) {
	t.Helper()
	testpeer.LookPath(t, sshdHow, "/usr/sbin/sshd", "sshd")
	testpeer.LookPath(t, sshdHow, "ssh-keygen")
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testLogger logs into a buffer shown if the test fails.
func testLogger(t testing.TB) (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dialer log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// sshdWithKey starts an sshd authorizing a fresh identity file.
func sshdWithKey(t testing.TB, opts testharness.SSHDOptions) (*testharness.SSHD, string) {
	t.Helper()
	needSSHD(t)
	key, pub := testharness.GenerateSSHKey(t)
	opts.AuthorizedKeys = append(opts.AuthorizedKeys, pub)
	return testharness.StartSSHD(t, opts), key
}

// baseOptions are options that use nothing of the real user's: no agent,
// no ssh_config, an empty home, the sshd's known_hosts.
func baseOptions(t testing.TB, s *testharness.SSHD, identities ...string) Options {
	log, _ := testLogger(t)
	return Options{
		Chain:           s.User + "@" + s.Addr(),
		Identities:      identities,
		NoAgent:         true,
		KnownHostsFiles: []string{s.KnownHostsFile},
		SSHConfigFile:   "none",
		HomeDir:         t.TempDir(),
		Logger:          log,
	}
}

func newDialer(t testing.TB, opts Options) *Dialer {
	t.Helper()
	d, err := New(testCtx(t), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// roundTrip writes n random bytes to c and reads them back, checking them.
func roundTrip(c net.Conn, n int) error {
	want := make([]byte, n)
	rand.Read(want)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(want)
		errc <- err
	}()
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return errMismatch
	}
	return nil
}

var errMismatch = errorString("echoed data differ")

type errorString string

func (e errorString) Error() string { return string(e) }

// countingDial counts connections to the first hop and can black-hole
// what is written (to simulate a dead network path).
type countingDial struct {
	n      atomic.Int32
	frozen atomic.Bool
}

func (c *countingDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.n.Add(1)
	return &freezable{Conn: conn, frozen: &c.frozen}, nil
}

type freezable struct {
	net.Conn
	frozen *atomic.Bool
}

func (f *freezable) Write(p []byte) (int, error) {
	if f.frozen.Load() {
		return len(p), nil // dropped on the floor
	}
	return f.Conn.Write(p)
}

// newEd25519 makes an in-memory client key and its authorized_keys line.
func newEd25519(t testing.TB) (ed25519.PrivateKey, ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return priv, s, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

func hostPublicKey(t testing.TB, s *testharness.SSHD) ssh.PublicKey {
	t.Helper()
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s.HostKeyPub))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func runShell(t testing.TB, cmd string) {
	t.Helper()
	out, err := exec.Command("sh", "-c", cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
}
