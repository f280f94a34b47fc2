package mysqlfront

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	auth := AuthenticatorFunc(func(context.Context, Login) error { return nil })
	good := Config{BackendAddr: "127.0.0.1:1", AdminDSN: "root:pw@tcp(127.0.0.1:1)/", Secret: testSecret, Auth: auth}
	for name, mod := range map[string]func(c *Config){
		"no backend": func(c *Config) { c.BackendAddr = "" },
		"bad DSN":    func(c *Config) { c.AdminDSN = "::not a dsn" },
		"short key":  func(c *Config) { c.Secret = []byte("short") },
		"no auth":    func(c *Config) { c.Auth = nil },
	} {
		c := good
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted the config", name)
		}
	}
	s, err := New(good)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func newTestServer(t *testing.T, backend string) *Server {
	t.Helper()
	s, err := New(Config{BackendAddr: backend, AdminDSN: "root:pw@tcp(" + backend + ")/", Secret: testSecret,
		Auth: AuthenticatorFunc(func(context.Context, Login) error { return nil }), HandshakeTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// With the backend down, a client's connection is closed and counted.
func TestBackendDown(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	s := newTestServer(t, deadAddr)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(context.Background(), ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := io.Copy(io.Discard, c); err != nil || n != 0 {
		t.Errorf("backend down: read %d bytes, %v; want a clean close", n, err)
	}
	if st := s.Stats(); st.Accepted != 1 || st.Failed != 1 {
		t.Errorf("stats %+v, want 1 accepted, 1 failed", st)
	}
}

// Cancelling Serve's context stops it and closes its sessions at once
// (here one waiting for a silent backend's greeting), and Serve after
// Close refuses.
func TestServeCancel(t *testing.T) {
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	held := make(chan net.Conn, 1)
	go func() {
		if c, err := backend.Accept(); err == nil {
			held <- c // never greets
		}
	}()
	s := newTestServer(t, backend.Addr().String())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case b := <-held:
		defer b.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the front never dialed the backend")
	}
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Serve = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, c)
	if el := time.Since(start); el > time.Second {
		t.Errorf("session closed %v after cancel (the handshake timeout is 3 s)", el)
	}
	for i := 0; s.Stats().Active != 0; i++ {
		if i == 500 {
			t.Fatalf("%d sessions still active", s.Stats().Active)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := s.Serve(context.Background(), ln2); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v, want ErrServerClosed", err)
	}
}
