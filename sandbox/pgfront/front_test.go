package pgfront

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/pgwire"
)

const (
	endpoint   = "demo-pg.c0sandbox.us-east-1.rds.amazonaws.com"
	tokenPort  = 5432
	region     = "us-east-1"
	testAKID   = "AKIASANDBOXPGFRONT01"
	testSecret = "pgfront/test/secret+key/0123456789abcdefghij"
	pwUser     = "pw_user"
	pwPassword = "pw-Secret-4711"
)

// logBuffer collects the front's log lines; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the log lines containing every one of subs.
func (l *logBuffer) lines(subs ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok && line != "" {
			out = append(out, line)
		}
	}
	return out
}

// fixture is one backend and one front in front of it.
type fixture struct {
	pg      *testharness.Postgres
	ca      *testharness.CA
	tlsConf *tls.Config
	front   *Server
	addr    string // the front's 127.0.0.1:port
	port    int
	logs    *logBuffer

	mu     sync.Mutex
	tokens []string // every token handed out, to scan the logs for
}

func lookup(id string) (iamauth.Secret, bool) {
	if id != testAKID {
		return iamauth.Secret{}, false
	}
	return iamauth.Secret{SecretAccessKey: testSecret}, true
}

// verifier plays RDS's PAM module with iamauth.Verify.
var verifier = AuthenticatorFunc(func(_ context.Context, l Login) error {
	_, err := iamauth.Verify(l.Token, iamauth.Expect{Host: endpoint, Port: tokenPort, Region: region, User: l.User}, lookup, time.Now())
	return err
})

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pg := testharness.StartPostgres(t, testharness.PostgresOptions{})
	pg.Exec(t, `CREATE ROLE rds_iam;
CREATE USER app_user; GRANT rds_iam TO app_user;
CREATE USER other_iam; GRANT rds_iam TO other_iam;
CREATE USER `+pwUser+` PASSWORD '`+pwPassword+`';`)
	ca := testharness.NewCA(t, "rdsgate sandbox test CA")
	_, _, cert := ca.Leaf(t, "", endpoint)
	f := &fixture{pg: pg, ca: ca, logs: &logBuffer{},
		tlsConf: &tls.Config{Certificates: []tls.Certificate{cert}}}
	f.front, f.addr = f.start(t, Config{TLS: f.tlsConf, ForceSSL: true})
	_, p, _ := net.SplitHostPort(f.addr)
	f.port, _ = strconv.Atoi(p)
	return f
}

// start runs a front with cfg completed by the fixture's defaults.
func (f *fixture) start(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	cfg.Instance, cfg.Endpoint = "demo-pg", endpoint
	cfg.BackendSocketDir, cfg.BackendAddr, cfg.BackendAdminPassword = f.pg.SocketDir, f.pg.Addr(), f.pg.Password
	if cfg.Auth == nil {
		cfg.Auth = verifier
	}
	cfg.Log = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve after Close = %v, want ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return within 10 s of Close")
		}
	})
	return s, ln.Addr().String()
}

// token signs an IAM token for user with the test key (or the given
// endpoint fields), remembered for the log scan.
func (f *fixture) token(t *testing.T, e iamauth.Endpoint, akid, secret string, at time.Time) string {
	t.Helper()
	tok, err := iamauth.Build(context.Background(), e, credentials.NewStaticCredentialsProvider(akid, secret, ""), at)
	if err != nil {
		t.Fatal(err)
	}
	f.remember(tok)
	return tok
}

func (f *fixture) remember(tok string) {
	f.mu.Lock()
	f.tokens = append(f.tokens, tok)
	f.mu.Unlock()
}

func goodEndpoint(user string) iamauth.Endpoint {
	return iamauth.Endpoint{Host: endpoint, Port: tokenPort, Region: region, User: user}
}

// pgxConfig is a pgx config through the front with verify-full TLS (or
// none), dialing 127.0.0.1 while verifying the endpoint name.
func (f *fixture) pgxConfig(t *testing.T, addr, user, password string, withTLS bool) *pgx.ConnConfig {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%s user=%s dbname=postgres sslmode=disable connect_timeout=10", host, port, user))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = password
	cfg.Fallbacks = nil
	if withTLS {
		cfg.TLSConfig = &tls.Config{ServerName: endpoint, RootCAs: f.ca.Pool, MinVersion: tls.VersionTLS12}
	}
	return cfg
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, cfg *pgx.ConnConfig) *pgx.Conn {
	t.Helper()
	c, err := pgx.ConnectConfig(ctxT(t, 20*time.Second), cfg)
	if err != nil {
		t.Fatalf("connect as %s: %v", cfg.User, err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func currentUser(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	var u string
	if err := c.QueryRow(ctxT(t, 10*time.Second), "select current_user").Scan(&u); err != nil {
		t.Fatalf("select current_user: %v", err)
	}
	return u
}

// wantPgError checks that err is a server error with code and message.
func wantPgError(t *testing.T, err error, code, message string) {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want a server error %s %q", err, err, code, message)
	}
	if pe.Severity != "FATAL" || pe.Code != code || pe.Message != message {
		t.Fatalf("server error %s %s %q, want FATAL %s %q", pe.Severity, pe.Code, pe.Message, code, message)
	}
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFront(t *testing.T) {
	f := newFixture(t)

	t.Run("PsqlWithAWSCLIToken", f.testPsqlWithAWSCLIToken)
	t.Run("PgxIAMLogin", f.testPgxIAMLogin)
	t.Run("DirectTLS", f.testDirectTLS)
	t.Run("IAMRefusals", f.testIAMRefusals)
	t.Run("PlainRefused", f.testPlainRefused)
	t.Run("PasswordUser", f.testPasswordUser)
	t.Run("ProtocolGrease", f.testProtocolGrease)
	t.Run("Cancel", f.testCancel)
	t.Run("Garbage", f.testGarbage)
	t.Run("HandshakeTimeout", f.testHandshakeTimeout)
	t.Run("NoGoroutineLeak", f.testNoGoroutineLeak)
	t.Run("ServeContextAndClose", f.testServeContextAndClose)
	t.Run("LogsCarryNoSecrets", f.testLogsCarryNoSecrets)
}

// psql with verify-full and a token from the real AWS CLI logs in as the
// IAM user, dialing 127.0.0.1 while checking the endpoint's name.
func (f *fixture) testPsqlWithAWSCLIToken(t *testing.T) {
	psql := testpeer.LookPath(t, "apt-get install postgresql-client", "/usr/lib/postgresql/15/bin/psql", "psql")
	aws := testpeer.AWSCLIv2(t)
	home := t.TempDir()
	ctx := ctxT(t, 60*time.Second)
	cmd := exec.CommandContext(ctx, aws, "rds", "generate-db-auth-token",
		"--hostname", endpoint, "--port", strconv.Itoa(tokenPort), "--username", "app_user", "--region", region)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TZ=UTC", "LC_ALL=C.UTF-8",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ACCESS_KEY_ID=" + testAKID, "AWS_SECRET_ACCESS_KEY=" + testSecret}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws rds generate-db-auth-token: %v\n%s", err, stderr.String())
	}
	tok := strings.TrimSpace(string(out))
	f.remember(tok)

	before := f.front.Stats().IAMLoginsOK
	dsn := fmt.Sprintf("sslmode=verify-full sslrootcert=%s host=%s hostaddr=127.0.0.1 port=%d user=app_user dbname=postgres connect_timeout=10",
		f.ca.CertFile, endpoint, f.port)
	q := exec.CommandContext(ctx, psql, dsn, "-X", "-At", "-v", "ON_ERROR_STOP=1",
		"-c", "select current_user", "-c", "select ssl from pg_stat_ssl where pid = pg_backend_pid()")
	q.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "PGPASSWORD=" + tok, "PGPASSFILE=/dev/null",
		"PGSERVICEFILE=/dev/null", "PGSYSCONFDIR=" + home, "LC_ALL=C.UTF-8"}
	got, err := q.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, got)
	}
	// The backend session is on the trust socket (no SSL there); the
	// client's leg is TLS, which verify-full proved.
	if lines := strings.Fields(string(got)); len(lines) < 1 || lines[0] != "app_user" {
		t.Fatalf("psql printed %q, want app_user", got)
	}
	if f.front.Stats().IAMLoginsOK != before+1 {
		t.Errorf("IAMLoginsOK = %d, want %d", f.front.Stats().IAMLoginsOK, before+1)
	}

	// psql without a password: libpq hangs up at the password request and
	// reports that it needs one (as against RDS).
	q = exec.CommandContext(ctx, psql, dsn, "-X", "-w", "-At", "-c", "select 1")
	q.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "PGPASSFILE=/dev/null", "LC_ALL=C.UTF-8"}
	got, err = q.CombinedOutput()
	if err == nil || !strings.Contains(string(got), "no password supplied") {
		t.Errorf("psql without a password: %v\n%s\nwant \"no password supplied\"", err, got)
	}
}

// pgx with a token from iamauth.Build: prepared statements and
// multi-megabyte rows in both directions cross the splice intact.
func (f *fixture) testPgxIAMLogin(t *testing.T) {
	c := connect(t, f.pgxConfig(t, f.addr, "app_user", f.token(t, goodEndpoint("app_user"), testAKID, testSecret, time.Now()), true))
	if u := currentUser(t, c); u != "app_user" {
		t.Fatalf("current_user = %q", u)
	}
	if !c.PgConn().Conn().(*tls.Conn).ConnectionState().HandshakeComplete {
		t.Fatal("client leg is not TLS")
	}
	ctx := ctxT(t, 60*time.Second)
	if _, err := c.Prepare(ctx, "sq", "select $1::int * $2::int"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		var n int
		if err := c.QueryRow(ctx, "sq", i, 7).Scan(&n); err != nil || n != i*7 {
			t.Fatalf("prepared statement: %d, %v", n, err)
		}
	}
	// 8 MiB from the server.
	var big string
	if err := c.QueryRow(ctx, "select repeat('x', 8*1024*1024) || 'end'").Scan(&big); err != nil {
		t.Fatal(err)
	}
	if len(big) != 8<<20+3 || !strings.HasSuffix(big, "xend") {
		t.Fatalf("big row of %d bytes", len(big))
	}
	// 5 MiB to the server, as a parameter of the extended protocol.
	payload := strings.Repeat("0123456789abcdef", 5<<16)
	sum := md5.Sum([]byte(payload))
	var got string
	if err := c.QueryRow(ctx, "select md5($1::text)", payload).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != hex.EncodeToString(sum[:]) {
		t.Fatalf("md5 through the front = %s, want %x", got, sum)
	}
	if len(f.logs.lines("IAM login accepted", "user=app_user")) == 0 {
		t.Errorf("no log line for the accepted IAM login:\n%s", f.logs)
	}
}

// PostgreSQL 17's direct TLS: accepted with ALPN "postgresql", refused
// without.
func (f *fixture) testDirectTLS(t *testing.T) {
	cfg := f.pgxConfig(t, f.addr, "app_user", f.token(t, goodEndpoint("app_user"), testAKID, testSecret, time.Now()), true)
	cfg.SSLNegotiation = "direct"
	cfg.TLSConfig.NextProtos = []string{"postgresql"}
	c := connect(t, cfg)
	if u := currentUser(t, c); u != "app_user" {
		t.Fatalf("current_user = %q", u)
	}

	raw, err := net.DialTimeout("tcp", f.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(raw, &tls.Config{ServerName: endpoint, RootCAs: f.ca.Pool}) // no ALPN
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	sm, _ := pgwire.EncodeStartup(&pgwire.StartupMessage{ProtocolVersion: pgwire.ProtocolVersion30, Params: []pgwire.Param{{Name: "user", Value: "app_user"}}})
	_, _ = tc.Write(sm)
	if b, err := io.ReadAll(tc); len(b) != 0 || isTimeout(err) {
		t.Fatalf("direct TLS without ALPN: got %q, %v; want the connection closed", b, err)
	}
	waitFor(t, 5*time.Second, "the ALPN refusal in the log", func() bool {
		return len(f.logs.lines(`without ALPN protocol`)) > 0
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Every refused IAM login reads like RDS to the client and names the
// precise reason in the log.
func (f *fixture) testIAMRefusals(t *testing.T) {
	now := time.Now()
	good := f.token(t, goodEndpoint("app_user"), testAKID, testSecret, now)
	tampered := good[:len(good)-1] + map[bool]string{true: "0", false: "1"}[good[len(good)-1] != '0']
	f.remember(tampered)
	other := goodEndpoint("app_user")
	other.Host = "other-db.c0sandbox.us-east-1.rds.amazonaws.com"
	otherPort := goodEndpoint("app_user")
	otherPort.Port = 5433
	otherRegion := goodEndpoint("app_user")
	otherRegion.Region = "eu-west-1"
	tests := []struct {
		name, token, reason string
	}{
		{"expired", f.token(t, goodEndpoint("app_user"), testAKID, testSecret, now.Add(-20*time.Minute)), string(iamauth.ReasonExpired)},
		{"another user", f.token(t, goodEndpoint("other_iam"), testAKID, testSecret, now), string(iamauth.ReasonWrongUser)},
		{"another host", f.token(t, other, testAKID, testSecret, now), string(iamauth.ReasonWrongHost)},
		{"another port", f.token(t, otherPort, testAKID, testSecret, now), string(iamauth.ReasonWrongPort)},
		{"another region", f.token(t, otherRegion, testAKID, testSecret, now), string(iamauth.ReasonWrongRegion)},
		{"tampered signature", tampered, string(iamauth.ReasonSignatureMismatch)},
		{"unknown key", f.token(t, goodEndpoint("app_user"), "AKIAUNKNOWNKEY000000", testSecret, now), string(iamauth.ReasonUnknownAccessKey)},
		{"wrong secret", f.token(t, goodEndpoint("app_user"), testAKID, "not-the-secret", now), string(iamauth.ReasonSignatureMismatch)},
		{"not a token", "hunter2-not-a-token", string(iamauth.ReasonMalformed)},
	}
	f.remember("hunter2-not-a-token")
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			before := f.front.Stats().IAMLoginsRefused
			n := len(f.logs.lines("IAM login refused", "user=app_user", tc.reason))
			_, err := pgx.ConnectConfig(ctxT(t, 20*time.Second), f.pgxConfig(t, f.addr, "app_user", tc.token, true))
			wantPgError(t, err, "28000", `PAM authentication failed for user "app_user"`)
			if got := f.front.Stats().IAMLoginsRefused; got != before+1 {
				t.Errorf("IAMLoginsRefused = %d, want %d", got, before+1)
			}
			if got := f.logs.lines("IAM login refused", "user=app_user", "database=postgres", "client=127.0.0.1:", tc.reason); len(got) != n+1 {
				t.Errorf("want one new log line naming %q, got %d:\n%s", tc.reason, len(got)-n, f.logs)
			}
		})
	}
	// The right token still works after all that.
	c := connect(t, f.pgxConfig(t, f.addr, "app_user", good, true))
	if u := currentUser(t, c); u != "app_user" {
		t.Fatalf("current_user = %q", u)
	}
}

// rds.force_ssl=1: a plain session is refused like RDS refuses it, for
// IAM and password users alike.
func (f *fixture) testPlainRefused(t *testing.T) {
	for _, user := range []string{"app_user", pwUser} {
		_, err := pgx.ConnectConfig(ctxT(t, 20*time.Second), f.pgxConfig(t, f.addr, user, "whatever", false))
		wantPgError(t, err, "28000", fmt.Sprintf(`no pg_hba.conf entry for host "127.0.0.1", user %q, database "postgres", no encryption`, user))
		if len(f.logs.lines("login refused", "user="+user, "force_ssl")) == 0 {
			t.Errorf("no log line for the refused plain session of %s:\n%s", user, f.logs)
		}
	}
	// Without force_ssl the password user gets in in plain text, but an
	// IAM user never sends a token in the clear.
	_, addr := f.start(t, Config{TLS: f.tlsConf, ForceSSL: false})
	c := connect(t, f.pgxConfig(t, addr, pwUser, pwPassword, false))
	if u := currentUser(t, c); u != pwUser {
		t.Fatalf("current_user = %q", u)
	}
	_, err := pgx.ConnectConfig(ctxT(t, 20*time.Second), f.pgxConfig(t, addr, "app_user", "x", false))
	wantPgError(t, err, "28000", `pg_hba.conf rejects connection for host "127.0.0.1", user "app_user", database "postgres", no encryption`)
	// A front without TLS answers SSLRequest with 'N'.
	_, addr = f.start(t, Config{TLS: nil, ForceSSL: false})
	cfg := f.pgxConfig(t, addr, pwUser, pwPassword, true)
	_, err = pgx.ConnectConfig(ctxT(t, 20*time.Second), cfg)
	if err == nil || !strings.Contains(err.Error(), "server refused TLS") {
		t.Errorf("TLS to a front without TLS: %v, want \"server refused TLS\"", err)
	}
}

// A password user authenticates with the backend itself (SCRAM) through
// the front; a wrong password is refused by the backend.
func (f *fixture) testPasswordUser(t *testing.T) {
	before := f.front.Stats().PasswordLogins
	c := connect(t, f.pgxConfig(t, f.addr, pwUser, pwPassword, true))
	if u := currentUser(t, c); u != pwUser {
		t.Fatalf("current_user = %q", u)
	}
	var ssl bool
	if err := c.QueryRow(ctxT(t, 10*time.Second), "select ssl from pg_stat_ssl where pid = pg_backend_pid()").Scan(&ssl); err != nil || ssl {
		t.Fatalf("backend leg ssl = %v, %v (the front relays in plain text to its backend)", ssl, err)
	}
	_, err := pgx.ConnectConfig(ctxT(t, 20*time.Second), f.pgxConfig(t, f.addr, pwUser, "wrong-password", true))
	wantPgError(t, err, "28P01", `password authentication failed for user "pw_user"`)
	// A token for a user that is not IAM-enabled is just a wrong password.
	tok := f.token(t, goodEndpoint(pwUser), testAKID, testSecret, time.Now())
	_, err = pgx.ConnectConfig(ctxT(t, 20*time.Second), f.pgxConfig(t, f.addr, pwUser, tok, true))
	wantPgError(t, err, "28P01", `password authentication failed for user "pw_user"`)
	if got := f.front.Stats().PasswordLogins; got != before+3 {
		t.Errorf("PasswordLogins = %d, want %d", got, before+3)
	}
	if len(f.logs.lines("login refused by the backend", "user=pw_user", "password authentication failed")) == 0 {
		t.Errorf("no log line for the backend's refusal:\n%s", f.logs)
	}
}

// rawTLS opens a connection, negotiates TLS with an SSLRequest and returns
// it.
func (f *fixture) rawTLS(t *testing.T) *tls.Conn {
	t.Helper()
	raw, err := net.DialTimeout("tcp", f.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	_ = raw.SetDeadline(time.Now().Add(20 * time.Second))
	ssl, _ := pgwire.EncodeStartup(&pgwire.SSLRequest{})
	if _, err := raw.Write(ssl); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := io.ReadFull(raw, b[:]); err != nil || b[0] != 'S' {
		t.Fatalf("SSLRequest answer %q, %v", b[0], err)
	}
	tc := tls.Client(raw, &tls.Config{ServerName: endpoint, RootCAs: f.ca.Pool})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return tc
}

// libpq's protocol grease (3.9999 with a _pq_ option): the client gets the
// backend's NegotiateProtocolVersion before the password request, and the
// session works.
func (f *fixture) testProtocolGrease(t *testing.T) {
	grease := &pgwire.StartupMessage{ProtocolVersion: 3<<16 | 9999, Params: []pgwire.Param{
		{Name: "user", Value: "app_user"}, {Name: "database", Value: "postgres"},
		{Name: "_pq_.test_grease", Value: "1"}, {Name: "application_name", Value: "grease"}}}
	pkt, err := pgwire.EncodeStartup(grease)
	if err != nil {
		t.Fatal(err)
	}
	var fe *pgproto3.Frontend
	recv := func() pgproto3.BackendMessage {
		t.Helper()
		m, err := fe.Receive()
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		return m
	}
	// Twice: the second login uses the front's cached negotiation probe.
	for range 2 {
		tc := f.rawTLS(t)
		if _, err := tc.Write(pkt); err != nil {
			t.Fatal(err)
		}
		fe = pgproto3.NewFrontend(tc, tc)
		npv, ok := recv().(*pgproto3.NegotiateProtocolVersion)
		if !ok || npv.NewestMinorProtocol != pgwire.ProtocolVersion30 || len(npv.UnrecognizedOptions) != 1 || npv.UnrecognizedOptions[0] != "_pq_.test_grease" {
			t.Fatalf("first message %#v, want NegotiateProtocolVersion(3.0, [_pq_.test_grease])", npv)
		}
		if m := recv(); fmt.Sprintf("%T", m) != "*pgproto3.AuthenticationCleartextPassword" {
			t.Fatalf("second message %T, want AuthenticationCleartextPassword", m)
		}
		fe.Send(&pgproto3.PasswordMessage{Password: f.token(t, goodEndpoint("app_user"), testAKID, testSecret, time.Now())})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		var sawOK, sawKey bool
		params := map[string]string{}
		for done := false; !done; {
			switch m := recv().(type) {
			case *pgproto3.AuthenticationOk:
				sawOK = true
			case *pgproto3.ParameterStatus:
				params[m.Name] = m.Value
			case *pgproto3.BackendKeyData:
				sawKey = true
			case *pgproto3.ReadyForQuery:
				done = true
			case *pgproto3.NegotiateProtocolVersion:
				t.Fatal("NegotiateProtocolVersion relayed twice")
			default:
				t.Fatalf("unexpected %T before ReadyForQuery", m)
			}
		}
		if !sawOK || !sawKey || params["application_name"] != "grease" || !strings.HasPrefix(params["server_version"], "15") {
			t.Fatalf("login: ok=%v key=%v params=%v", sawOK, sawKey, params)
		}
		fe.Send(&pgproto3.Query{String: "select current_user"})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		var user string
		for done := false; !done; {
			switch m := recv().(type) {
			case *pgproto3.DataRow:
				user = string(m.Values[0])
			case *pgproto3.ReadyForQuery:
				done = true
			case *pgproto3.ErrorResponse:
				t.Fatalf("query: %s", m.Message)
			}
		}
		if user != "app_user" {
			t.Fatalf("current_user = %q", user)
		}
		fe.Send(&pgproto3.Terminate{})
		_ = fe.Flush()
	}

	// A password user's grease goes straight through to the backend: the
	// negotiation, then its SCRAM request.
	tc := f.rawTLS(t)
	grease.Params[0].Value = pwUser
	pkt, _ = pgwire.EncodeStartup(grease)
	if _, err := tc.Write(pkt); err != nil {
		t.Fatal(err)
	}
	fe = pgproto3.NewFrontend(tc, tc)
	if m, ok := recv().(*pgproto3.NegotiateProtocolVersion); !ok || m.UnrecognizedOptions[0] != "_pq_.test_grease" {
		t.Fatalf("first message %#v, want NegotiateProtocolVersion", m)
	}
	if m, ok := recv().(*pgproto3.AuthenticationSASL); !ok || !strings.Contains(strings.Join(m.AuthMechanisms, ","), "SCRAM-SHA-256") {
		t.Fatalf("second message %#v, want AuthenticationSASL", m)
	}
}

// A pg_sleep(30) through the front is cancelled by pgx's CancelRequest
// (over TLS, as pgx does for TLS sessions) and by a plain one.
func (f *fixture) testCancel(t *testing.T) {
	for _, viaTLS := range []bool{true, false} {
		t.Run(map[bool]string{true: "pgx_tls", false: "plain_cancel_packet"}[viaTLS], func(t *testing.T) {
			c := connect(t, f.pgxConfig(t, f.addr, "app_user", f.token(t, goodEndpoint("app_user"), testAKID, testSecret, time.Now()), true))
			before := f.front.Stats().Cancels
			errc := make(chan error, 1)
			start := time.Now()
			go func() {
				_, err := c.Exec(context.Background(), "select pg_sleep(30)")
				errc <- err
			}()
			time.Sleep(300 * time.Millisecond) // let the query start
			if viaTLS {
				if err := c.PgConn().CancelRequest(ctxT(t, 10*time.Second)); err != nil {
					t.Fatalf("CancelRequest: %v", err)
				}
			} else {
				raw, err := net.DialTimeout("tcp", f.addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				pkt, _ := pgwire.EncodeStartup(&pgwire.CancelRequest{ProcessID: c.PgConn().PID(), SecretKey: c.PgConn().SecretKey()})
				_, _ = raw.Write(pkt)
				_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
				if b, err := io.ReadAll(raw); len(b) != 0 || isTimeout(err) {
					t.Fatalf("cancel connection: got %q, %v; want a silent close", b, err)
				}
				raw.Close()
			}
			select {
			case err := <-errc:
				var pe *pgconn.PgError
				if !errors.As(err, &pe) || pe.Code != pgwire.CodeQueryCanceled {
					t.Fatalf("pg_sleep ended with %v, want 57014", err)
				}
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("cancel took %s", d)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("pg_sleep(30) not cancelled within 10 s")
			}
			if got := f.front.Stats().Cancels; got != before+1 {
				t.Errorf("Cancels = %d, want %d", got, before+1)
			}
			if u := currentUser(t, c); u != "app_user" { // the session survives
				t.Fatalf("current_user = %q", u)
			}
		})
	}
}

// Broken and hostile clients get a clean close (with an error where
// PostgreSQL sends one), never a hang or a crash; the front keeps serving.
func (f *fixture) testGarbage(t *testing.T) {
	ssl, _ := pgwire.EncodeStartup(&pgwire.SSLRequest{})
	startup := func(user string, version uint32) []byte {
		b, _ := pgwire.EncodeStartup(&pgwire.StartupMessage{ProtocolVersion: version, Params: []pgwire.Param{{Name: "user", Value: user}}})
		return b
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr string // substring of the client-visible error, "" for a silent close
	}{
		{"random bytes", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ""},
		{"length 2^31-1", []byte{0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0}, ""},
		{"length 4", []byte{0, 0, 0, 4}, ""},
		{"protocol 2.0", []byte{0, 0, 0, 23, 0, 2, 0, 0, 'u', 's', 'e', 'r', 0, 'a', 'p', 'p', '_', 'u', 's', 'e', 'r', 0, 0}, "unsupported frontend protocol"},
		{"no user", []byte{0, 0, 0, 9, 0, 3, 0, 0, 0}, "invalid startup packet layout"},
		{"ssl with pipelined startup", append(append([]byte(nil), ssl...), startup("app_user", pgwire.ProtocolVersion30)...), ""},
		{"half a packet", []byte{0, 0, 0, 40, 0, 3, 0, 0, 'u'}, ""},
		{"unknown request code", []byte{0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x31}, "unsupported frontend protocol"},
	}
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			raw, err := net.DialTimeout("tcp", f.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			_, _ = raw.Write(tc.in)
			if tc.name == "half a packet" {
				raw.(*net.TCPConn).CloseWrite()
			}
			_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(raw)
			if isTimeout(err) {
				t.Fatal("front did not close the connection")
			}
			if tc.wantErr == "" {
				if len(b) != 0 {
					t.Fatalf("front answered %q, want a silent close", b)
				}
				return
			}
			if len(b) == 0 || b[0] != 'E' || !bytes.Contains(b, []byte(tc.wantErr)) {
				t.Fatalf("front answered %q, want an ErrorResponse with %q", b, tc.wantErr)
			}
		})
	}
	// After TLS, a hostile password message length and a wrong message type.
	for _, tc := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"huge password", []byte{'p', 0x7f, 0xff, 0xff, 0xff}, "invalid password packet size"},
		{"query instead of password", pgwire.AppendMessage(nil, 'Q', []byte("select 1\x00")), "expected password response"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			tlsc := f.rawTLS(t)
			_, _ = tlsc.Write(startup("app_user", pgwire.ProtocolVersion30))
			var auth [9]byte
			if _, err := io.ReadFull(tlsc, auth[:]); err != nil || auth[0] != 'R' {
				t.Fatalf("want the password request, got %q %v", auth, err)
			}
			_, _ = tlsc.Write(tc.msg)
			b, err := io.ReadAll(tlsc)
			if isTimeout(err) || !bytes.Contains(b, []byte(tc.want)) {
				t.Fatalf("got %q, %v; want an error with %q and a close", b, err, tc.want)
			}
		})
	}
	// Still serving.
	c := connect(t, f.pgxConfig(t, f.addr, pwUser, pwPassword, true))
	if u := currentUser(t, c); u != pwUser {
		t.Fatalf("current_user = %q", u)
	}
}

// A client that connects and says nothing is dropped at the handshake
// deadline, as is one that stalls at the password request.
func (f *fixture) testHandshakeTimeout(t *testing.T) {
	s, addr := f.start(t, Config{TLS: f.tlsConf, ForceSSL: true, HandshakeTimeout: 300 * time.Millisecond})
	for _, stage := range []string{"silent", "at password"} {
		raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		start := time.Now()
		var rd io.Reader = raw
		if stage == "at password" {
			ssl, _ := pgwire.EncodeStartup(&pgwire.SSLRequest{})
			_, _ = raw.Write(ssl)
			var b [1]byte
			if _, err := io.ReadFull(raw, b[:]); err != nil {
				t.Fatal(err)
			}
			tc := tls.Client(raw, &tls.Config{ServerName: endpoint, RootCAs: f.ca.Pool})
			sm, _ := pgwire.EncodeStartup(&pgwire.StartupMessage{ProtocolVersion: pgwire.ProtocolVersion30, Params: []pgwire.Param{{Name: "user", Value: "app_user"}}})
			if _, err := tc.Write(sm); err != nil {
				t.Fatal(err)
			}
			rd = tc
		}
		_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadAll(rd)
		if isTimeout(err) {
			t.Fatalf("%s: not dropped within 10 s", stage)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: dropped after %s, want about 300 ms", stage, d)
		}
	}
	waitFor(t, 5*time.Second, "no active sessions", func() bool { return s.Stats().Active == 0 })
}

// 50 sessions open at once and closed again leave no goroutines behind.
func (f *fixture) testNoGoroutineLeak(t *testing.T) {
	const n = 50
	// Warm up: the admin connection and the TLS machinery exist from here on.
	warm := connect(t, f.pgxConfig(t, f.addr, "app_user", f.token(t, goodEndpoint("app_user"), testAKID, testSecret, time.Now()), true))
	_ = warm.Close(context.Background())
	waitFor(t, 10*time.Second, "no active sessions", func() bool { return f.front.Stats().Active == 0 })
	baseline := numGoroutine()

	conns := make([]*pgx.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		user, pw := "app_user", f.token(t, goodEndpoint("app_user"), testAKID, testSecret, time.Now())
		if i%5 == 0 {
			user, pw = pwUser, pwPassword
		}
		cfg := f.pgxConfig(t, f.addr, user, pw, true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pgx.ConnectConfig(context.Background(), cfg)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("connect: %v", err)
	}
	if a := f.front.Stats().Active; a != n {
		t.Errorf("Active = %d with %d sessions open", a, n)
	}
	if numGoroutine() < baseline+2*n {
		t.Errorf("%d goroutines with %d sessions open (baseline %d): the test does not see sessions", numGoroutine(), n, baseline)
	}
	for i, c := range conns {
		if c == nil {
			continue
		}
		if i%2 == 0 {
			_ = c.Close(context.Background()) // Terminate, then close
		} else {
			_ = c.PgConn().Conn().Close() // abrupt
		}
	}
	waitFor(t, 15*time.Second, fmt.Sprintf("goroutines back to the baseline %d", baseline), func() bool {
		return numGoroutine() <= baseline+2 && f.front.Stats().Active == 0
	})
}

func numGoroutine() int {
	return runtimeNumGoroutine()
}

// Serve returns when its context ends and takes its sessions down.
func (f *fixture) testServeContextAndClose(t *testing.T) {
	s, err := New(Config{Instance: "ctx", TLS: f.tlsConf, BackendSocketDir: f.pg.SocketDir, BackendAddr: f.pg.Addr(),
		BackendAdminPassword: f.pg.Password, Auth: verifier})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	c := connect(t, f.pgxConfig(t, ln.Addr().String(), pwUser, pwPassword, true))
	if u := currentUser(t, c); u != pwUser {
		t.Fatalf("current_user = %q", u)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v after its context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10 s of its context ending")
	}
	if err := c.Ping(ctxT(t, 5*time.Second)); err == nil {
		t.Error("session still alive after Serve returned")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("listener still accepting after Serve returned")
	}
	_ = s.Close()
	if err := s.Serve(context.Background(), ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v", err)
	}
	if _, err := New(Config{BackendSocketDir: "/x", BackendAddr: "127.0.0.1:1"}); err == nil {
		t.Error("New without an Authenticator succeeded")
	}
	if _, err := New(Config{Auth: verifier, BackendSocketDir: "/x", BackendAddr: "nope"}); err == nil {
		t.Error("New with a bad BackendAddr succeeded")
	}
	if _, err := New(Config{Auth: verifier, BackendSocketDir: "/x", BackendAddr: "127.0.0.1:1", ForceSSL: true}); err == nil {
		t.Error("New with ForceSSL and no TLS succeeded")
	}
}

// No token or password appears in the front's log.
func (f *fixture) testLogsCarryNoSecrets(t *testing.T) {
	logs := f.logs.String()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.tokens) < 10 {
		t.Fatalf("only %d tokens recorded; the subtests did not run", len(f.tokens))
	}
	for _, tok := range f.tokens {
		if strings.Contains(logs, tok) {
			t.Errorf("a token appears in the log")
		}
		if i := strings.Index(tok, "X-Amz-Signature="); i >= 0 && strings.Contains(logs, tok[i+len("X-Amz-Signature="):]) {
			t.Errorf("a token's signature appears in the log")
		}
	}
	for _, pw := range []string{pwPassword, "wrong-password", testSecret} {
		if strings.Contains(logs, pw) {
			t.Errorf("secret %q appears in the log", pw)
		}
	}
	if strings.Contains(logs, f.pg.Password) {
		t.Error("the backend superuser's password appears in the log")
	}
}
