package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/session"
	"github.com/rdsgate/rdsgate/target"
	"github.com/rdsgate/rdsgate/tunnel"
	"github.com/rdsgate/rdsgate/tunnel/direct"
)

// rawEngine relays bytes with no protocol: enough to test the server's
// lifecycle, limits and relay.
type rawEngine struct{}

func (rawEngine) Name() string { return "raw" }
func (rawEngine) Serve(ctx context.Context, s *Session) (string, error) {
	up, err := s.Upstream.Dialer.DialContext(ctx, "tcp", s.Upstream.Target.Address())
	if err != nil {
		return "", err
	}
	s.Record.DBUser = "raw"
	return Relay(Leg{R: s.Client, Conn: s.Client}, Leg{R: up, Conn: up}, s.Counter, nil, s.IdleTimeout, s.Done), nil
}
func (rawEngine) Refuse(c net.Conn, msg string) {
	c.Write([]byte(msg))
	c.Close()
}

func startProxy(t *testing.T, upAddr string, opts Options) *Server {
	t.Helper()
	return startProxyVia(t, &direct.Dialer{Address: upAddr}, opts)
}

// startProxyVia is startProxy over route d.
func startProxyVia(t *testing.T, d tunnel.Dialer, opts Options) *Server {
	t.Helper()
	ln, err := Listen(ListenConfig{Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	up := &Upstream{Target: target.Target{Identifier: "echo", Host: "echo.invalid", Port: 1}, Dialer: d}
	s := NewServer(ln, rawEngine{}, up, opts)
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func TestListenRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0x"} {
		_, err := Listen(ListenConfig{Address: addr})
		if err == nil {
			t.Errorf("Listen(%q) succeeded without AllowNonLoopback", addr)
		}
	}
	_, err := Listen(ListenConfig{Address: "0.0.0.0:0"})
	if !errors.Is(err, ErrNonLoopback) || !strings.Contains(err.Error(), "anyone who reaches it uses the database as you") {
		t.Errorf("error should name the risk: %v", err)
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", ":0"} {
		ln, err := Listen(ListenConfig{Address: addr})
		if err != nil {
			t.Errorf("Listen(%q): %v", addr, err)
			continue
		}
		if !ln.Addr().(*net.TCPAddr).IP.IsLoopback() {
			t.Errorf("Listen(%q) bound %v", addr, ln.Addr())
		}
		ln.Close()
	}
}

func TestUnixSocketIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sock")
	path := filepath.Join(dir, ".s.PGSQL.5432")
	ln, err := Listen(ListenConfig{Network: "unix", Address: path})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", st.Mode().Perm())
	}
	dst, _ := os.Stat(dir)
	if dst.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode %v, want 0700", dst.Mode().Perm())
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ok" {
		t.Errorf("same-user client refused: %q %v", buf, err)
	}
	c.Close()
	ln.Close()
	// A stale socket file from a crashed run is replaced.
	ln2, err := Listen(ListenConfig{Network: "unix", Address: path})
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln2.Close()
}

func TestRelayIntactAndCounted(t *testing.T) {
	s := startProxy(t, testharness.EchoServer(t), Options{})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 8<<20)
	rand.Read(payload)
	go func() { c.Write(payload) }()
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(payload) {
		t.Fatal("relayed bytes differ")
	}
	c.Close()
	waitFor(t, func() bool { return s.Stats().Open == 0 })
	if st := s.Stats(); st.Total != 1 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestMaxConnections(t *testing.T) {
	s := startProxy(t, testharness.EchoServer(t), Options{MaxConnections: 2})
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("x"))
		io.ReadFull(c, make([]byte, 1))
		held = append(held, c)
	}
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(c)
	if !bytes.Contains(msg, []byte("too many connections")) {
		t.Errorf("third client got %q", msg)
	}
	for _, c := range held {
		c.Close()
	}
	waitFor(t, func() bool { return s.Stats().Open == 0 })
	if s.Stats().Refused != 1 {
		t.Errorf("refused = %d", s.Stats().Refused)
	}
}

func TestShutdownDrainsThenCloses(t *testing.T) {
	s := startProxy(t, testharness.EchoServer(t), Options{})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("x"))
	io.ReadFull(c, make([]byte, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	s.Shutdown(ctx)
	if time.Since(start) < 150*time.Millisecond {
		t.Error("Shutdown did not wait for the open session to drain")
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("session still open after the drain timeout")
	}
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

func TestIdleTimeout(t *testing.T) {
	s := startProxy(t, testharness.EchoServer(t), Options{IdleTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("idle session not closed by the proxy: %v", err)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		s := startProxy(t, testharness.EchoServer(t), Options{})
		var conns []net.Conn
		for i := 0; i < 500; i++ {
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Write([]byte("p"))
			io.ReadFull(c, make([]byte, 1))
		}
		waitFor(t, func() bool { return s.Stats().Open == 500 })
		for _, c := range conns {
			c.Close()
		}
		waitFor(t, func() bool { return s.Stats().Open == 0 })
	}()
	waitFor(t, func() bool { return runtime.NumGoroutine() <= base+10 })
}

func TestRecordsEveryNamedSession(t *testing.T) {
	var buf safeBuffer
	rec := session.NewRecorder(nil, session.NewWriterSink(&buf))
	s := startProxy(t, testharness.EchoServer(t), Options{Recorder: rec, Principal: "arn:aws:iam::1:user/jane", Route: "direct"})
	for i := 0; i < 3; i++ {
		c, _ := net.Dial("tcp", s.Addr().String())
		c.Write([]byte("abc"))
		io.ReadFull(c, make([]byte, 3))
		c.Close()
	}
	waitFor(t, func() bool { return s.Stats().Open == 0 && s.Stats().Total == 3 })
	rec.Close(context.Background())
	if n := strings.Count(buf.String(), `"type":"session.end"`); n != 3 {
		t.Errorf("%d end records, want 3:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), `"aws_principal":"arn:aws:iam::1:user/jane"`) || !strings.Contains(buf.String(), `"bytes_in":3`) {
		t.Errorf("record lacks principal or bytes:\n%s", buf.String())
	}
}

// sessionsDialer is a route that holds sessions (as the ssm route does).
type sessionsDialer struct {
	direct.Dialer
	peak int
}

func (d *sessionsDialer) PeakSessions() int { return d.peak }

// A route that counts its sessions has the count in end records; one that
// holds none leaves the field out.
func TestRecordsRouteSessions(t *testing.T) {
	echo := testharness.EchoServer(t)
	tests := []struct {
		desc   string
		dialer tunnel.Dialer
		want   string // in the end record ("" for none)
	}{
		{"direct", &direct.Dialer{Address: echo}, ""},
		{"with sessions", &sessionsDialer{Dialer: direct.Dialer{Address: echo}, peak: 3}, `"route_sessions":3`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var buf safeBuffer
			rec := session.NewRecorder(nil, session.NewWriterSink(&buf))
			s := startProxyVia(t, tc.dialer, Options{Recorder: rec, Route: tc.desc})
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("abc"))
			io.ReadFull(c, make([]byte, 3))
			c.Close()
			waitFor(t, func() bool { return s.Stats().Open == 0 && s.Stats().Total == 1 })
			rec.Close(context.Background())
			out := buf.String()
			if !strings.Contains(out, `"type":"session.end"`) {
				t.Fatalf("no end record:\n%s", out)
			}
			if tc.want == "" && strings.Contains(out, "route_sessions") || tc.want != "" && !strings.Contains(out, tc.want) {
				t.Errorf("records:\n%s\nwant %q in the end record (none: no route_sessions)", out, tc.want)
			}
		})
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *safeBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRateLimiter(t *testing.T) {
	var waited time.Duration
	l := NewRateLimiter(100, 5)
	l.OnWait = func(d time.Duration) { waited = d }
	start := time.Now()
	for i := 0; i < 25; i++ {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// 5 free, 20 more at 100/s: about 200 ms.
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("25 logins at 100/s with burst 5 took only %v", el)
	}
	if waited == 0 {
		t.Error("waiting was not reported")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l2 := NewRateLimiter(1, 1)
	l2.Wait(ctx)
	if err := l2.Wait(ctx); err == nil {
		t.Error("Wait ignored a cancelled context")
	}
}

// A wait that ends with its context (a client that left) gives its slot
// back: the logins after it do not wait for the logins that never happened.
func TestRateLimiterCancelGivesBack(t *testing.T) {
	l := NewRateLimiter(1, 1)
	if err := l.Wait(context.Background()); err != nil { // the burst
		t.Fatal(err)
	}
	for range 10 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := l.Wait(ctx); err == nil {
			t.Fatal("Wait ignored a cancelled context")
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// With every cancelled slot given back, the next login waits about a
	// second (one token at 1/s), not eleven.
	if l.tokens < -0.5 {
		t.Errorf("after 10 cancelled waits the bucket is %.1f tokens in debt, want about 0", -l.tokens)
	}
}

// A login that did not happen gives its slot back: a second Wait at one
// login per second does not wait.
func TestRateLimiterReturn(t *testing.T) {
	l := NewRateLimiter(1, 1)
	for i := range 3 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		l.mu.Lock()
		tokens := l.tokens
		l.mu.Unlock()
		if tokens < -0.01 {
			t.Fatalf("wait %d went into debt (%.2f tokens): the slot returned before was lost", i, tokens)
		}
		l.Return()
	}
	l.Return() // never above the burst
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tokens > 1 {
		t.Errorf("%.1f tokens, above the burst of 1", l.tokens)
	}
}
