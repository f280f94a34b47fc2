package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/pgwire"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/tunnel"
)

// firstByteDialer records the first byte the proxy sends on each upstream
// connection: 0x16 (a TLS record) for direct TLS, 0x00 (the SSLRequest's
// length) otherwise.
type firstByteDialer struct {
	tunnel.Dialer
	mu    sync.Mutex
	first []byte
}

func (d *firstByteDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.Dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &firstByteConn{Conn: c, d: d}, nil
}

func (d *firstByteDialer) bytes() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]byte(nil), d.first...)
}

type firstByteConn struct {
	net.Conn
	d    *firstByteDialer
	once sync.Once
}

func (c *firstByteConn) Write(p []byte) (int, error) {
	if len(p) > 0 {
		c.once.Do(func() { c.d.mu.Lock(); c.d.first = append(c.d.first, p[0]); c.d.mu.Unlock() })
	}
	return c.Conn.Write(p)
}

// TestDirectTLSUpstream: with DirectTLS the proxy opens TLS at once (no
// SSLRequest) with ALPN "postgresql" to the sandbox's front, which, like
// PostgreSQL 17, requires that ALPN for direct TLS; logins and cancels
// work.
func TestDirectTLSUpstream(t *testing.T) {
	var rec *firstByteDialer
	e := startEnv(t, envOptions{directTLS: true, dialer: func(d tunnel.Dialer) tunnel.Dialer {
		rec = &firstByteDialer{Dialer: d}
		return rec
	}})
	c := connect(t, e, "app_user", "postgres")
	var user string
	if err := c.QueryRow(context.Background(), "select current_user").Scan(&user); err != nil || user != "app_user" {
		t.Fatalf("current_user = %q, %v", user, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Exec(ctx, "select pg_sleep(30)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgwire.CodeQueryCanceled {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want a cancelled query, got %v", err)
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("cancel over direct TLS took %v", el)
	}
	waitFor(t, func() bool { return e.frontLog.Contains("cancel request forwarded") })
	first := rec.bytes()
	if len(first) < 2 {
		t.Fatalf("upstream connections: %d, want a login and a cancel", len(first))
	}
	for i, b := range first {
		if b != 0x16 {
			t.Errorf("upstream connection %d started with 0x%02x, want a TLS record (0x16), no SSLRequest", i, b)
		}
	}
}

// TestDirectTLSRefusals: a server that is not PostgreSQL 17+ with direct
// TLS is refused with a message that says so: PostgreSQL 15 (which reads
// the ClientHello as a startup packet and hangs up) and a TLS server that
// does not select ALPN "postgresql". A bad certificate stays a certificate
// error.
func TestDirectTLSRefusals(t *testing.T) {
	ps := startPasswordServer(t)
	t.Run("PostgreSQL 15", func(t *testing.T) {
		p := ps.proxy(t, staticPassword(ptr(scramPassword), nil), nil, func(u *proxy.Upstream) { u.DirectTLS = true })
		_, err := pgx.Connect(context.Background(), p.dsn("scram_user"))
		if err == nil || !strings.Contains(err.Error(), "PostgreSQL before 17 does not accept direct TLS") {
			t.Errorf("direct TLS to PostgreSQL 15: %v", err)
		}
	})
	addr := tlsServerWithoutALPN(t, ps.ca, endpoint)
	t.Run("no ALPN", func(t *testing.T) {
		p := ps.proxy(t, staticPassword(ptr(scramPassword), nil), nil, func(u *proxy.Upstream) {
			u.DirectTLS = true
			u.Dialer = &fixedDialer{addr: addr}
		})
		_, err := pgx.Connect(context.Background(), p.dsn("scram_user"))
		if err == nil || !strings.Contains(err.Error(), `did not select ALPN protocol "postgresql"`) {
			t.Errorf("direct TLS to a server without ALPN: %v", err)
		}
	})
	t.Run("wrong certificate", func(t *testing.T) {
		other := testharness.NewCA(t, "other CA")
		p := ps.proxy(t, staticPassword(ptr(scramPassword), nil), nil, func(u *proxy.Upstream) {
			u.DirectTLS = true
			u.Dialer = &fixedDialer{addr: addr}
			u.TLS = &tls.Config{ServerName: endpoint, RootCAs: other.Pool, MinVersion: tls.VersionTLS12}
		})
		_, err := pgx.Connect(context.Background(), p.dsn("scram_user"))
		if err == nil || strings.Contains(err.Error(), "before 17") || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("direct TLS with an unknown CA: %v", err)
		}
	})
}

// tlsServerWithoutALPN serves TLS with a certificate for name and no ALPN,
// then holds each connection until the client leaves.
func tlsServerWithoutALPN(t *testing.T, ca *testharness.CA, name string) string {
	t.Helper()
	_, _, cert := ca.Leaf(t, "", name)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
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
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				var b [1]byte
				_, _ = c.Read(b[:])
			}()
		}
	}()
	return ln.Addr().String()
}

type fixedDialer struct{ addr string }

func (d *fixedDialer) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	var nd net.Dialer
	return nd.DialContext(ctx, network, d.addr)
}

func (d *fixedDialer) Close() error { return nil }
