package postgres

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/pgwire"
	"github.com/rdsgate/rdsgate/proxy"
)

// localCert is a certificate for the proxy's local leg, from a CA the
// clients are given.
func localCert(t *testing.T) (*testharness.CA, *tls.Config) {
	t.Helper()
	ca := testharness.NewCA(t, "local CA")
	certFile, keyFile, _ := ca.Leaf(t, "", "localhost", "127.0.0.1")
	conf, err := proxy.LocalTLSConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return ca, conf
}

// TestLocalTLS: with a local certificate, psql connects with
// sslmode=require and verify-full (SSLRequest), pgx with PostgreSQL 17's
// direct TLS; the session is TLS on both legs.
func TestLocalTLS(t *testing.T) {
	ca, conf := localCert(t)
	e := startEnv(t, envOptions{localTLS: conf})
	host, port, _ := net.SplitHostPort(e.proxy.Addr().String())
	psql := testpeer.LookPath(t, "apt-get install postgresql-client", "psql", "/usr/lib/postgresql/15/bin/psql")
	for _, params := range []string{
		"host=127.0.0.1 sslmode=require",
		"host=127.0.0.1 sslmode=verify-full sslrootcert=" + ca.CertFile,
		"host=localhost hostaddr=127.0.0.1 sslmode=verify-full sslrootcert=" + ca.CertFile,
	} {
		dsn := fmt.Sprintf("%s port=%s user=app_user dbname=postgres connect_timeout=10", params, port)
		cmd := exec.Command(psql, dsn, "-XAtc", "select current_user")
		cmd.Env = []string{"PGPASSWORD=", "PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "app_user" {
			t.Errorf("psql %s: %v: %s", params, err, out)
		}
	}

	ctx := context.Background()
	for _, neg := range []string{"postgres", "direct"} {
		dsn := fmt.Sprintf("host=%s port=%s user=app_user dbname=postgres sslmode=verify-full sslrootcert=%s sslnegotiation=%s connect_timeout=10",
			host, port, ca.CertFile, neg)
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("pgx sslnegotiation=%s: %v", neg, err)
			continue
		}
		if _, ok := c.PgConn().Conn().(*tls.Conn); !ok {
			t.Errorf("pgx sslnegotiation=%s: not TLS", neg)
		}
		var n int
		if err := c.QueryRow(ctx, "select count(*) from generate_series(1, 100000)").Scan(&n); err != nil || n != 100000 {
			t.Errorf("query over local TLS: %d, %v", n, err)
		}
		// A cancel reaches the server (pgx sends it on a new connection).
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		start := time.Now()
		_, err = c.Exec(cctx, "select pg_sleep(30)")
		cancel()
		if err == nil || time.Since(start) > 5*time.Second {
			t.Errorf("cancel over local TLS (sslnegotiation=%s): %v after %v", neg, err, time.Since(start))
		}
		c.Close(ctx)
	}
	waitFor(t, func() bool { return strings.Count(e.frontLog.String(), "cancel request forwarded") == 2 })
}

// TestLocalTLSRefusals: direct TLS without ALPN "postgresql" is refused (as
// PostgreSQL 17 does), a second SSLRequest inside TLS is a protocol
// violation, and without a local certificate TLS is declined.
func TestLocalTLSRefusals(t *testing.T) {
	ca, conf := localCert(t)
	e := startEnv(t, envOptions{localTLS: conf})
	addr := e.proxy.Addr().String()

	t.Run("direct TLS without ALPN", func(t *testing.T) {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", RootCAs: ca.Pool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b := make([]byte, 512)
		n, _ := c.Read(b)
		if !strings.Contains(string(b[:n]), `without ALPN protocol "postgresql"`) {
			t.Errorf("got %q, want an ErrorResponse about ALPN", b[:n])
		}
	})
	t.Run("second SSLRequest", func(t *testing.T) {
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		ssl, _ := (&pgwire.SSLRequest{}).AppendTo(nil)
		if _, err := raw.Write(ssl); err != nil {
			t.Fatal(err)
		}
		var s [1]byte
		if _, err := raw.Read(s[:]); err != nil || s[0] != 'S' {
			t.Fatalf("answer %q, %v", s, err)
		}
		c := tls.Client(raw, &tls.Config{ServerName: "localhost", RootCAs: ca.Pool})
		if _, err := c.Write(ssl); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 512)
		n, _ := c.Read(b)
		if !strings.Contains(string(b[:n]), "SSLRequest after encryption was already negotiated") {
			t.Errorf("got %q", b[:n])
		}
	})
	t.Run("declined without a certificate", func(t *testing.T) {
		plain := startEnv(t, envOptions{})
		_, port, _ := net.SplitHostPort(plain.proxy.Addr().String())
		_, err := pgx.Connect(context.Background(), "host=127.0.0.1 port="+port+" user=app_user dbname=postgres sslmode=require connect_timeout=10")
		if err == nil || !strings.Contains(err.Error(), "server refused TLS connection") {
			t.Errorf("sslmode=require without a local certificate: %v", err)
		}
	})
}
