package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/session"
	"github.com/rdsgate/rdsgate/target"
	"github.com/rdsgate/rdsgate/tunnel/direct"
)

// Passwords of the password-source tests' users; unicodePassword is stored
// by the server after its own SASLprep (NFKC, non-ASCII space to space).
const (
	scramPassword   = "scram-pw-7f3a9c"
	md5Password     = "md5-pw-41d2e8"
	clearPassword   = "clear-pw-9b1c07"
	unicodePassword = "ｐａｓｓ\u00a0wörd-\u00ad-ﬁ"
)

// passwordServer is a real PostgreSQL 15 that serves TLS with a
// certificate for the endpoint name and asks each user for a different
// kind of password (pg_hba.conf), as a database without IAM authentication
// does.
type passwordServer struct {
	pg *testharness.Postgres
	ca *testharness.CA
}

func startPasswordServer(t *testing.T) *passwordServer {
	t.Helper()
	ca := testharness.NewCA(t, "password CA")
	certFile, keyFile, _ := ca.Leaf(t, "", endpoint)
	pg := testharness.StartPostgres(t, testharness.PostgresOptions{
		TLS: &testharness.ServerTLS{CertFile: certFile, KeyFile: keyFile},
		HBA: []string{
			"hostnossl all all 127.0.0.1/32 reject",
			"hostssl all scram_user,unicode_user 127.0.0.1/32 scram-sha-256",
			"hostssl all md5_user 127.0.0.1/32 md5",
			"hostssl all clear_user 127.0.0.1/32 password",
		},
		Conf: map[string]string{"log_connections": "on"},
	})
	pg.Exec(t, fmt.Sprintf(`CREATE ROLE scram_user LOGIN PASSWORD '%s';
CREATE ROLE unicode_user LOGIN PASSWORD '%s';
CREATE ROLE clear_user LOGIN PASSWORD '%s';
SET password_encryption = 'md5';
CREATE ROLE md5_user LOGIN PASSWORD '%s';`, scramPassword, unicodePassword, clearPassword, md5Password))
	return &passwordServer{pg: pg, ca: ca}
}

// passwordProxy is a proxy in front of a passwordServer.
type passwordProxy struct {
	srv     *proxy.Server
	log     *lockedBuffer
	records *lockedBuffer
	engine  *Engine
}

// proxy starts a proxy in front of ps; edit, if any, changes the upstream.
func (ps *passwordServer) proxy(t *testing.T, creds proxy.Credentials, localTLS *tls.Config, edit ...func(*proxy.Upstream)) *passwordProxy {
	t.Helper()
	p := &passwordProxy{log: &lockedBuffer{}, records: &lockedBuffer{}, engine: New()}
	up := &proxy.Upstream{
		Target:      target.Target{Identifier: "legacy", Name: "legacy", Engine: "postgres", Host: endpoint, Port: ps.pg.Port, Region: region},
		Dialer:      &direct.Dialer{Address: ps.pg.Addr()},
		TLS:         &tls.Config{ServerName: endpoint, RootCAs: ps.ca.Pool, MinVersion: tls.VersionTLS12},
		Credentials: creds,
	}
	for _, f := range edit {
		f(up)
	}
	rec := session.NewRecorder(nil, session.NewWriterSink(p.records))
	ln, err := proxy.Listen(proxy.ListenConfig{Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	p.srv = proxy.NewServer(ln, p.engine, up, proxy.Options{Recorder: rec, LocalTLS: localTLS, Route: "direct",
		Log: slog.New(slog.NewTextHandler(p.log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	done := make(chan struct{})
	go func() { p.srv.Serve(context.Background()); close(done) }()
	t.Cleanup(func() { p.srv.Close(); <-done; rec.Close(context.Background()) })
	return p
}

func (p *passwordProxy) dsn(user string) string {
	host, port, _ := net.SplitHostPort(p.srv.Addr().String())
	return fmt.Sprintf("host=%s port=%s user=%s dbname=postgres sslmode=disable connect_timeout=10", host, port, user)
}

// staticPassword is a password source holding *pw, counting its reads.
func staticPassword(pw *atomic.Pointer[string], reads *atomic.Int32) *proxy.PasswordCredentials {
	return proxy.NewPasswordCredentials(proxy.PasswordSource{Name: "the test's source", Fetch: func(context.Context) (string, string, error) {
		if reads != nil {
			reads.Add(1)
		}
		return "", *pw.Load(), nil
	}})
}

func ptr(s string) *atomic.Pointer[string] {
	var p atomic.Pointer[string]
	p.Store(&s)
	return &p
}

// TestPasswordSourceMethods logs in through the proxy with psql (no
// password on the client) as users the server asks for a SCRAM-SHA-256,
// an MD5 and a cleartext password over TLS, and checks in the server's log
// that each method was the one used.
func TestPasswordSourceMethods(t *testing.T) {
	ps := startPasswordServer(t)
	psql := testpeer.LookPath(t, "apt-get install postgresql-client", "psql", "/usr/lib/postgresql/15/bin/psql")
	for _, tc := range []struct{ user, password, method string }{
		{"scram_user", scramPassword, "scram-sha-256"},
		{"md5_user", md5Password, "md5"},
		{"clear_user", clearPassword, "password"},
		{"unicode_user", unicodePassword, "scram-sha-256"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			p := ps.proxy(t, staticPassword(ptr(tc.password), nil), nil)
			cmd := exec.Command(psql, p.dsn(tc.user), "-XAtc", "select current_user || ' ' || ssl from pg_stat_ssl where pid = pg_backend_pid()")
			cmd.Env = []string{"PGPASSWORD=", "PATH=/usr/bin:/bin"}
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != tc.user+" true" {
				t.Fatalf("psql as %s: %v: %s\nproxy log:\n%s", tc.user, err, out, p.log)
			}
			want := fmt.Sprintf(`connection authenticated: identity="%s" method=%s`, tc.user, tc.method)
			if b, _ := os.ReadFile(ps.pg.LogFile); !strings.Contains(string(b), want) {
				t.Errorf("server log lacks %q", want)
			}
			if strings.Contains(p.log.String()+p.records.String(), tc.password) {
				t.Errorf("the password reached the proxy's log or records:\n%s\n%s", p.log, p.records)
			}
		})
	}
}

// TestPasswordSourceRefused: a wrong password reaches the client as the
// server's refusal with a hint naming the source (never the password); a
// rotated secret is read again and the login retried once.
func TestPasswordSourceRefused(t *testing.T) {
	ps := startPasswordServer(t)
	pw := ptr("not-the-password")
	var reads atomic.Int32
	p := ps.proxy(t, staticPassword(pw, &reads), nil)
	ctx := context.Background()

	_, err := pgx.Connect(ctx, p.dsn("scram_user"))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" || !strings.Contains(pgErr.Message, `password authentication failed for user "scram_user"`) ||
		!strings.Contains(pgErr.Hint, "with the password from the test's source") {
		t.Fatalf("wrong password: %v (hint %q)", err, hintOf(pgErr))
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("the source was read %d times, want 2 (once more after the refusal)", n)
	}
	if strings.Contains(p.log.String(), "retrying") {
		t.Error("retried with the same password")
	}

	// The secret is rotated: the cached password is refused, the new one
	// read, and the login retried once.
	pw.Store(ptr(scramPassword).Load())
	c, err := pgx.Connect(ctx, p.dsn("scram_user"))
	if err != nil {
		t.Fatalf("after rotation: %v\n%s", err, p.log)
	}
	c.Close(ctx)
	if !strings.Contains(p.log.String(), "the password source has a new password, retrying once") {
		t.Errorf("the retry is not logged:\n%s", p.log)
	}
	for _, secret := range []string{"not-the-password", scramPassword} {
		if strings.Contains(p.log.String()+p.records.String(), secret) {
			t.Errorf("a password reached the proxy's log or records")
		}
	}
}

func hintOf(e *pgconn.PgError) string {
	if e == nil {
		return ""
	}
	return e.Hint
}

// TestPasswordSourceUserMismatch: a secret that names its user serves that
// user only.
func TestPasswordSourceUserMismatch(t *testing.T) {
	ps := startPasswordServer(t)
	creds := proxy.NewPasswordCredentials(proxy.PasswordSource{Name: "secret arn:aws:secretsmanager:us-east-1:111122223333:secret:legacy",
		Fetch: func(context.Context) (string, string, error) { return "scram_user", scramPassword, nil }})
	p := ps.proxy(t, creds, nil)
	ctx := context.Background()
	_, err := pgx.Connect(ctx, p.dsn("md5_user"))
	if err == nil || !strings.Contains(err.Error(), `is database user "scram_user"'s, not "md5_user"'s`) {
		t.Errorf("another user with the secret: %v", err)
	}
	c, err := pgx.Connect(ctx, p.dsn("scram_user"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
}

// TestSCRAMKeyIsDerivedOnce: PBKDF2 runs once per password and salt, not
// once per login.
func TestSCRAMKeyIsDerivedOnce(t *testing.T) {
	ps := startPasswordServer(t)
	p := ps.proxy(t, staticPassword(ptr(scramPassword), nil), nil)
	ctx := context.Background()
	for range 3 {
		c, err := pgx.Connect(ctx, p.dsn("scram_user"))
		if err != nil {
			t.Fatal(err)
		}
		c.Close(ctx)
	}
	p.engine.mu.Lock()
	n := len(p.engine.keys)
	p.engine.mu.Unlock()
	if n != 1 {
		t.Errorf("%d derived keys cached, want 1", n)
	}
}

// TestIAMTokenNeverGoesToSCRAM: with IAM credentials, a server asking for
// SCRAM gets no answer, and the client learns the user is not IAM-enabled.
func TestIAMTokenNeverGoesToSCRAM(t *testing.T) {
	ps := startPasswordServer(t)
	creds := &countingIAM{}
	p := ps.proxy(t, creds, nil)
	_, err := pgx.Connect(context.Background(), p.dsn("scram_user"))
	if err == nil || !strings.Contains(err.Error(), `"scram_user" is not IAM-enabled`) || !strings.Contains(err.Error(), "SCRAM") {
		t.Errorf("IAM credentials against a SCRAM user: %v", err)
	}
	if creds.calls.Load() != 0 {
		t.Error("a token was asked for a SCRAM request")
	}
}

type countingIAM struct{ calls atomic.Int32 }

func (c *countingIAM) Password(context.Context, string) (string, error) {
	c.calls.Add(1)
	return "token", nil
}
func (c *countingIAM) Refresh(context.Context, string) (bool, error) { return true, nil }
func (c *countingIAM) IAM() bool                                     { return true }
