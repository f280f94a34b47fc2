package ssh

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/testharness"
)

func TestEchoThroughSSHD(t *testing.T) {
	t.Parallel()
	s, key := sshdWithKey(t, testharness.SSHDOptions{})
	echo := testharness.EchoServer(t)
	d := newDialer(t, baseOptions(t, s, key))

	c, err := d.DialContext(testCtx(t), "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, 100_000); err != nil {
		t.Fatal(err)
	}
	if c.RemoteAddr().String() != echo {
		t.Errorf("RemoteAddr = %v", c.RemoteAddr())
	}
	// A read deadline times out and leaves the connection usable.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	if err := roundTrip(c, 10); err != nil {
		t.Fatalf("after a read timeout: %v", err)
	}

	if _, err := d.DialContext(testCtx(t), "udp", echo); err == nil {
		t.Error("udp dial succeeded")
	}
	// A closed port: the bastion says it could not connect, naming it.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	_, err = d.DialContext(testCtx(t), "tcp", dead)
	if err == nil || !strings.Contains(err.Error(), "could not connect to "+dead) {
		t.Errorf("dial to a closed port: %v", err)
	}
}

// TestTLSThroughTunnelVerifiesEndpoint shows that TLS through the tunnel is
// verified against the database endpoint name (sent as SNI), never against
// the bastion: the dialer only changes where the bastion connects.
func TestTLSThroughTunnelVerifiesEndpoint(t *testing.T) {
	t.Parallel()
	s, key := sshdWithKey(t, testharness.SSHDOptions{})
	const endpoint = "demo-pg.c0test1234.us-east-1.rds.amazonaws.com"
	ca := testharness.NewCA(t, "rdsgate test RDS CA")
	_, _, cert := ca.Leaf(t, "", endpoint)
	var mu sync.Mutex
	var sni []string
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			mu.Lock()
			sni = append(sni, h.ServerName)
			mu.Unlock()
			return nil, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	opts := baseOptions(t, s, key)
	opts.Addresses = map[string]string{endpoint + ":5432": ln.Addr().String()}
	d := newDialer(t, opts)

	raw, err := d.DialContext(testCtx(t), "tcp", endpoint+":5432")
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(raw, &tls.Config{ServerName: endpoint, RootCAs: ca.Pool, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(testCtx(t)); err != nil {
		t.Fatalf("verify-full against %s through the tunnel: %v", endpoint, err)
	}
	if err := roundTrip(tc, 50_000); err != nil {
		t.Fatal(err)
	}
	tc.Close()

	// Verifying against the bastion's name fails: the certificate is the
	// endpoint's, and the tunnel does not change that.
	raw, err = d.DialContext(testCtx(t), "tcp", endpoint+":5432")
	if err != nil {
		t.Fatal(err)
	}
	bad := tls.Client(raw, &tls.Config{ServerName: s.Host, RootCAs: ca.Pool})
	if err := bad.HandshakeContext(testCtx(t)); err == nil {
		t.Fatal("TLS verified against the bastion address")
	}
	bad.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(sni) == 0 || sni[0] != endpoint {
		t.Fatalf("SNI seen by the server = %q, want %q first", sni, endpoint)
	}
}

func TestConcurrentChannelsAndReconnect(t *testing.T) {
	t.Parallel()
	s, key := sshdWithKey(t, testharness.SSHDOptions{})
	echo := testharness.EchoServer(t)
	cd := &countingDial{}
	opts := baseOptions(t, s, key)
	opts.NetDial = cd.dial
	d := newDialer(t, opts)

	const n = 50
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			c, err := d.DialContext(testCtx(t), "tcp", echo)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			if err := roundTrip(c, 64<<10+i); err != nil {
				errs <- fmt.Errorf("conn %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := cd.n.Load(); got != 1 {
		t.Fatalf("%d SSH connections for %d channels, want 1", got, n)
	}

	s.Restart(t)
	// Open connections end with a clear error.
	_, err := conns[0].Read(make([]byte, 1))
	if !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("read on a connection whose SSH connection died: %v, want ErrConnectionLost", err)
	}
	if !strings.Contains(err.Error(), "new connections reconnect") {
		t.Errorf("error does not say what happens next: %v", err)
	}
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	// New ones reconnect.
	c, err := d.DialContext(testCtx(t), "tcp", echo)
	if err != nil {
		t.Fatalf("dial after sshd restart: %v", err)
	}
	defer c.Close()
	if err := roundTrip(c, 1000); err != nil {
		t.Fatal(err)
	}
	if got := cd.n.Load(); got != 2 {
		t.Errorf("%d SSH connections after a restart, want 2", got)
	}
}

func TestKeepaliveDetectsDeadPath(t *testing.T) {
	t.Parallel()
	s, key := sshdWithKey(t, testharness.SSHDOptions{})
	echo := testharness.EchoServer(t)
	cd := &countingDial{}
	opts := baseOptions(t, s, key)
	opts.NetDial = cd.dial
	opts.KeepaliveInterval = 100 * time.Millisecond
	opts.KeepaliveCountMax = 3
	d := newDialer(t, opts)
	c, err := d.DialContext(testCtx(t), "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(350 * time.Millisecond) // keepalives answered meanwhile
	if err := roundTrip(c, 10); err != nil {
		t.Fatalf("keepalives killed a live connection: %v", err)
	}

	cd.frozen.Store(true) // the path goes silent: no RST, no FIN
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	if !errors.Is(err, ErrConnectionLost) || !strings.Contains(err.Error(), "keepalive") {
		t.Fatalf("read on a silent path: %v, want ErrConnectionLost naming keepalives", err)
	}
	cd.frozen.Store(false)
	c2, err := d.DialContext(testCtx(t), "tcp", echo)
	if err != nil {
		t.Fatalf("dial after the dead path: %v", err)
	}
	defer c2.Close()
	if err := roundTrip(c2, 10); err != nil {
		t.Fatal(err)
	}
}

func TestProxyJumpChain(t *testing.T) {
	t.Parallel()
	needSSHD(t)
	key, pub := testharness.GenerateSSHKey(t)
	jump := testharness.StartSSHD(t, testharness.SSHDOptions{AuthorizedKeys: []string{pub}})
	// The target only listens on loopback too, but is reached through jump:
	// its sshd log shows the connection coming from the jump host's sshd.
	target := testharness.StartSSHD(t, testharness.SSHDOptions{AuthorizedKeys: []string{pub}})
	echo := testharness.EchoServer(t)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(jump.KnownHostsLine()+"\n"+target.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("chain", func(t *testing.T) {
		opts := baseOptions(t, target, key)
		opts.Chain = jump.User + "@" + jump.Addr() + "," + target.User + "@" + target.Addr()
		opts.KnownHostsFiles = []string{kh}
		d := newDialer(t, opts)
		if h := d.Hops(); len(h) != 2 || h[1].Port != target.Port {
			t.Fatalf("hops %v", h)
		}
		c, err := d.DialContext(testCtx(t), "tcp", echo)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := roundTrip(c, 20_000); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ssh_config", func(t *testing.T) {
		home := t.TempDir()
		cfg := fmt.Sprintf(`# existing setup
Host db-bastion
    HostName 127.0.0.1
    Port %d
    User %s
    ProxyJump jumpbox
    IdentityFile %s

Host jumpbox
    HostName 127.0.0.1
    Port %d
    User %s
    IdentityFile %s
`, target.Port, target.User, key, jump.Port, jump.User, key)
		if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		opts := baseOptions(t, target)
		opts.Chain = "db-bastion"
		opts.HomeDir = home
		opts.SSHConfigFile = ""
		opts.KnownHostsFiles = []string{kh}
		d := newDialer(t, opts)
		h := d.Hops()
		if len(h) != 2 || h[0].Port != jump.Port || h[1].Port != target.Port || h[1].Alias != "db-bastion" {
			t.Fatalf("hops from ssh_config: %+v", h)
		}
		c, err := d.DialContext(testCtx(t), "tcp", echo)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := roundTrip(c, 1000); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCloseEndsConnections(t *testing.T) {
	t.Parallel()
	s, key := sshdWithKey(t, testharness.SSHDOptions{})
	echo := testharness.EchoServer(t)
	opts := baseOptions(t, s, key)
	opts.Lazy = true
	d, err := New(testCtx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.DialContext(testCtx(t), "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after Close: %v", err)
	}
	if _, err := d.DialContext(testCtx(t), "tcp", echo); !errors.Is(err, net.ErrClosed) {
		t.Errorf("dial after Close: %v", err)
	}
}

// BenchmarkTunnelThroughput measures MB/s through the tunnel to a loopback
// sink (compare with `ssh -N -L` on the same sshd).
func BenchmarkTunnelThroughput(b *testing.B) {
	s, key := sshdWithKey(b, testharness.SSHDOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				fmt.Fprintf(c, "%d\n", n)
			}()
		}
	}()
	opts := baseOptions(b, s, key)
	d := newDialer(b, opts)
	c, err := d.DialContext(testCtx(b), "tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		b.Fatal(err)
	}
	ack, err := io.ReadAll(c)
	if err != nil || len(ack) == 0 {
		b.Fatalf("sink ack %q, %v", ack, err)
	}
	b.StopTimer()
}
