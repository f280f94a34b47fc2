package mysqlfront

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/go-sql-driver/mysql"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/internal/testharness"
)

const (
	testEndpoint = "demo-mysql.c0sandbox.us-east-1.rds.amazonaws.com"
	testPort     = 3306
	testRegion   = "us-east-1"
	testAKID     = "AKIDSANDBOXTEST00001"
	testSKey     = "sandboxSecretKey/EXAMPLE+0123456789abcdef"
	otherAKID    = "AKIDUNKNOWNKEY000001"
	pwUser       = "pw_user"
	pwPassword   = "pw-Secret'1"
)

// fixture is a MariaDB backend with an IAM user (app_user), a password
// user (pw_user) and a table, and a front with a certificate for
// testEndpoint.
type fixture struct {
	m      *testharness.MariaDB
	ca     *testharness.CA
	srv    *Server
	addr   string // the front's 127.0.0.1:port
	logs   *syncBuffer
	tlsKey string // go-sql-driver TLS config name (verify-full for testEndpoint)

	tokensMu sync.Mutex
	tokens   []string // every token handed to a client, to check the log never has one
}

var tlsSeq atomic.Int64

func newFixture(t *testing.T) *fixture {
	t.Helper()
	m := testharness.StartMariaDB(t, testharness.MariaDBOptions{Conf: map[string]string{"max_allowed_packet": "64M"}})
	m.Exec(t, strings.Join([]string{
		"CREATE DATABASE appdb",
		"CREATE TABLE appdb.t (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100), b LONGBLOB)",
		IAMUserSQL(testSecret, "app_user", "%"),
		"GRANT ALL ON appdb.* TO 'app_user'@'%'",
		"CREATE USER '" + pwUser + "'@'%' IDENTIFIED BY " + quoteString(pwPassword),
		"GRANT ALL ON appdb.* TO '" + pwUser + "'@'%'",
	}, ";\n"))

	ca := testharness.NewCA(t, "rdsgate sandbox test CA")
	_, _, cert := ca.Leaf(t, "", testEndpoint)
	f := &fixture{m: m, ca: ca, logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	lookup := func(id string) (iamauth.Secret, bool) {
		if id == testAKID {
			return iamauth.Secret{SecretAccessKey: testSKey}, true
		}
		return iamauth.Secret{}, false
	}
	srv, err := New(Config{
		Instance:    "demo-mysql",
		Endpoint:    testEndpoint,
		TLS:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		BackendAddr: m.Addr(),
		AdminDSN:    m.DSN(""),
		Secret:      testSecret,
		Auth: AuthenticatorFunc(func(ctx context.Context, l Login) error {
			_, err := iamauth.Verify(l.Token, iamauth.Expect{Host: testEndpoint, Port: testPort, Region: testRegion, User: l.User}, lookup, time.Now())
			return err
		}),
		Log:              log,
		HandshakeTimeout: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	// As the sandbox does; twice, to show it is idempotent.
	for range 2 {
		if err := srv.EmulateIAMCatalog(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-served:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
		if t.Failed() {
			t.Logf("front log:\n%s", f.logs.String())
		}
	})

	f.tlsKey = "mysqlfront-test-" + strconv.FormatInt(tlsSeq.Add(1), 10)
	if err := mysql.RegisterTLSConfig(f.tlsKey, &tls.Config{ServerName: testEndpoint, RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mysql.DeregisterTLSConfig(f.tlsKey) })
	return f
}

// token signs an IAM token with iamauth.Build for user at the endpoint,
// or for the given overrides.
func (f *fixture) token(t *testing.T, e iamauth.Endpoint, akid string, now time.Time) string {
	t.Helper()
	if e.Host == "" {
		e.Host = testEndpoint
	}
	if e.Port == 0 {
		e.Port = testPort
	}
	if e.Region == "" {
		e.Region = testRegion
	}
	if akid == "" {
		akid = testAKID
	}
	tok, err := iamauth.Build(context.Background(), e, credentials.NewStaticCredentialsProvider(akid, testSKey, ""), now)
	if err != nil {
		t.Fatal(err)
	}
	f.remember(tok)
	return tok
}

func (f *fixture) remember(tok string) {
	f.tokensMu.Lock()
	f.tokens = append(f.tokens, tok)
	f.tokensMu.Unlock()
}

// checkLogSecrets fails if the log holds any token handed out (or its
// signature), a password or the derived password of a test user.
func (f *fixture) checkLogSecrets(t *testing.T, users ...string) {
	t.Helper()
	logs := f.logs.String()
	f.tokensMu.Lock()
	defer f.tokensMu.Unlock()
	for _, tok := range f.tokens {
		sig := tok[strings.LastIndex(tok, "=")+1:]
		if strings.Contains(logs, tok) || strings.Contains(logs, sig) {
			t.Errorf("the log contains a token")
		}
	}
	for _, u := range users {
		if strings.Contains(logs, DerivedPassword(testSecret, u)) {
			t.Errorf("the log contains %s's derived password", u)
		}
	}
	if strings.Contains(logs, pwPassword) || strings.Contains(logs, f.m.RootPassword) {
		t.Error("the log contains a password")
	}
}

type dsnOpt func(c *mysql.Config)

func (f *fixture) dsn(user, password string, opts ...dsnOpt) string {
	c := mysql.NewConfig()
	c.User = user
	c.Passwd = password
	c.Net = "tcp"
	c.Addr = f.addr
	c.DBName = "appdb"
	c.TLSConfig = f.tlsKey
	c.AllowCleartextPasswords = true
	c.Timeout = 10 * time.Second
	for _, o := range opts {
		o(c)
	}
	return c.FormatDSN()
}

func withoutTLS(c *mysql.Config) { c.TLSConfig = "" }

// open opens a handle with one connection that must log in.
func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("login through the front: %v", err)
	}
	return db
}

// loginErr tries a login and returns the server's error.
func loginErr(t *testing.T, dsn string) error {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

func queryString(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	var s string
	if err := db.QueryRow(q, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

// wantAccessDenied checks err is RDS's 1045 for user from 127.0.0.1.
func wantAccessDenied(t *testing.T, err error, user string) {
	t.Helper()
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want a MySQL error 1045", err)
	}
	want := fmt.Sprintf("Access denied for user '%s'@'127.0.0.1' (using password: YES)", user)
	if me.Number != 1045 || string(me.SQLState[:]) != "28000" || me.Message != want {
		t.Fatalf("err = %d (%s) %q, want 1045 (28000) %q", me.Number, me.SQLState[:], me.Message, want)
	}
}

// waitLog waits (bounded) for the log to contain all of parts on one line.
func (f *fixture) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range strings.Split(f.logs.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q", parts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sessionGoroutines counts goroutines running this package's session code.
func sessionGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return bytes.Count(buf, []byte("mysqlfront.(*session)"))
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

var _ io.Writer = (*syncBuffer)(nil)
