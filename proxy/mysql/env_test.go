package mysql

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	gomysql "github.com/go-sql-driver/mysql"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/sandbox/mysqlfront"
	"github.com/rdsgate/rdsgate/session"
	"github.com/rdsgate/rdsgate/target"
	"github.com/rdsgate/rdsgate/tunnel"
	"github.com/rdsgate/rdsgate/tunnel/direct"
)

const (
	endpoint   = "orders-mysql.c0test.us-east-1.rds.amazonaws.com"
	port       = 3306
	region     = "us-east-1"
	testKeyID  = "AKIDPROXYMYSQLTEST01"
	testKey    = "proxy-mysql-secret-key/0123456789abcdefghij"
	pwUser     = "pw_user"
	pwPassword = "pw-user-Secret'1"
)

var frontSecret = []byte("proxy-mysql-test-front-secret")

// fakeClock is a clock tests move; shared by the token cache and the
// front's token check.
type fakeClock struct{ off atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// backend is a real MariaDB with IAM users (app_user, other_user), a
// password user and a table, shared by the subtests of one test.
type backend struct {
	m    *testharness.MariaDB
	root *sql.DB
}

func startBackend(t *testing.T) *backend {
	t.Helper()
	m := testharness.StartMariaDB(t, testharness.MariaDBOptions{Conf: map[string]string{"max_allowed_packet": "64M", "local_infile": "ON"}})
	m.Exec(t, strings.Join([]string{
		"CREATE DATABASE appdb",
		"CREATE TABLE appdb.t (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100), b LONGBLOB)",
		"CREATE TABLE appdb.file_lines (line VARCHAR(200))",
		mysqlfront.IAMUserSQL(frontSecret, "app_user", "%"),
		"GRANT ALL ON appdb.* TO 'app_user'@'%'",
		mysqlfront.IAMUserSQL(frontSecret, "other_user", "%"),
		"GRANT ALL ON appdb.* TO 'other_user'@'%'",
		"CREATE USER '" + pwUser + "'@'%' IDENTIFIED BY '" + strings.ReplaceAll(pwPassword, "'", "''") + "'",
		"GRANT ALL ON appdb.* TO '" + pwUser + "'@'%'",
		"INSTALL SONAME 'auth_ed25519'",
		"CREATE USER 'ed_user'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('ed-Secret-1')",
	}, ";\n"))
	return &backend{m: m, root: m.DB(t, "")}
}

// env is a front (an RDS-like IAM front over the backend) and the proxy in
// front of that.
type env struct {
	b         *backend
	ca        *testharness.CA
	frontAddr string
	front     *mysqlfront.Server
	frontLog  *lockedBuffer
	clock     *fakeClock
	tokens    *iamauth.Cache
	up        *proxy.Upstream
	proxy     *proxy.Server
	proxyLog  *lockedBuffer
	records   *lockedBuffer
	recorder  *session.Recorder
	// refuse makes the front refuse that many IAM logins (valid tokens or
	// not); authCalls counts the tokens the front was given.
	refuse    atomic.Int32
	authCalls atomic.Int64
}

type envOptions struct {
	frontTLS    func(ca *testharness.CA) *tls.Config // nil: a valid cert for endpoint
	clientCA    *testharness.CA                      // the proxy trusts this CA (default: the front's)
	serverName  string                               // the proxy verifies this name (default endpoint)
	capture     bool
	localInfile bool
	creds       proxy.Credentials // default: IAM tokens
	maxConns    int
	dialAddr    string                            // the route dials this instead of the front
	localTLS    *tls.Config                       // the proxy serves TLS on the local leg
	dialer      func(tunnel.Dialer) tunnel.Dialer // wraps the route (to count dials)
	logins      *proxy.RateLimiter                // limits upstream logins
}

func startEnv(t *testing.T, b *backend, o envOptions) *env {
	t.Helper()
	e := &env{b: b, clock: &fakeClock{}, frontLog: &lockedBuffer{}, proxyLog: &lockedBuffer{}, records: &lockedBuffer{}}
	e.ca = testharness.NewCA(t, "front CA")
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.frontTLS != nil {
		tlsConf = o.frontTLS(e.ca) // may be nil: a server without TLS
	} else {
		_, _, cert := e.ca.Leaf(t, "", endpoint)
		tlsConf.Certificates = []tls.Certificate{cert}
	}
	auth := mysqlfront.AuthenticatorFunc(func(_ context.Context, l mysqlfront.Login) error {
		e.authCalls.Add(1)
		if e.refuse.Add(-1) >= 0 {
			return errors.New("refused by the test")
		}
		_, err := iamauth.Verify(l.Token, iamauth.Expect{Host: endpoint, Port: port, Region: region, User: l.User},
			func(id string) (iamauth.Secret, bool) {
				return iamauth.Secret{SecretAccessKey: testKey}, id == testKeyID
			}, e.clock.Now())
		return err
	})
	front, err := mysqlfront.New(mysqlfront.Config{Instance: "orders-mysql", Endpoint: endpoint, TLS: tlsConf,
		BackendAddr: b.m.Addr(), AdminDSN: b.m.DSN(""), Secret: frontSecret, Auth: auth,
		Log: slog.New(slog.NewTextHandler(e.frontLog, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	fl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.frontAddr, e.front = fl.Addr().String(), front
	fdone := make(chan struct{})
	go func() { front.Serve(context.Background(), fl); close(fdone) }()
	t.Cleanup(func() { front.Close(); <-fdone })

	clientCA := e.ca
	if o.clientCA != nil {
		clientCA = o.clientCA
	}
	name := endpoint
	if o.serverName != "" {
		name = o.serverName
	}
	e.tokens = iamauth.NewCache(credentials.NewStaticCredentialsProvider(testKeyID, testKey, ""), iamauth.CacheOptions{Now: e.clock.Now})
	creds := o.creds
	if creds == nil {
		creds = &proxy.IAMCredentials{Cache: e.tokens, Host: name, Port: port, Region: region}
	}
	dialAddr := e.frontAddr
	if o.dialAddr != "" {
		dialAddr = o.dialAddr
	}
	var dialer tunnel.Dialer = &direct.Dialer{Address: dialAddr}
	if o.dialer != nil {
		dialer = o.dialer(dialer)
	}
	e.up = &proxy.Upstream{
		Target:      target.Target{Identifier: "orders-mysql", Name: "orders-mysql", Engine: "mysql", Host: name, Port: port, Region: region, ResourceID: "db-TESTMYSQL"},
		Dialer:      dialer,
		Logins:      o.logins,
		TLS:         &tls.Config{ServerName: name, RootCAs: clientCA.Pool, MinVersion: tls.VersionTLS12},
		Credentials: creds,
	}
	e.recorder = session.NewRecorder(nil, session.NewWriterSink(e.records))
	ln, err := proxy.Listen(proxy.ListenConfig{Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	eng := New()
	eng.LocalInfile = o.localInfile
	e.proxy = proxy.NewServer(ln, eng, e.up, proxy.Options{Recorder: e.recorder, CaptureStatements: o.capture,
		MaxConnections: o.maxConns, LocalTLS: o.localTLS, HandshakeTimeout: 20 * time.Second,
		Principal: "arn:aws:iam::111122223333:user/tester", Route: "direct",
		Log: slog.New(slog.NewTextHandler(e.proxyLog, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	pdone := make(chan struct{})
	go func() { e.proxy.Serve(context.Background()); close(pdone) }()
	t.Cleanup(func() {
		e.proxy.Close()
		<-pdone
		e.recorder.Close(context.Background())
		if t.Failed() {
			t.Logf("proxy log:\n%s\nfront log:\n%s", e.proxyLog.String(), e.frontLog.String())
		}
	})
	return e
}

// config is a go-sql-driver config for the proxy: no password, no TLS.
func (e *env) config(user string) *gomysql.Config {
	c := gomysql.NewConfig()
	c.User = user
	c.Net = "tcp"
	c.Addr = e.proxy.Addr().String()
	c.DBName = "appdb"
	c.Timeout = 20 * time.Second
	return c
}

// open opens a pool through the proxy and checks that it logs in.
func (e *env) open(t *testing.T, c *gomysql.Config) *sql.DB {
	t.Helper()
	db, err := e.tryOpen(c)
	if err != nil {
		t.Fatalf("log in through the proxy as %s: %v", c.User, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tryOpen opens a pool and pings it, returning the login error.
func (e *env) tryOpen(c *gomysql.Config) (*sql.DB, error) {
	conn, err := gomysql.NewConnector(c)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func queryString(t *testing.T, db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, q string, args ...any) string {
	t.Helper()
	var s string
	if err := db.QueryRowContext(context.Background(), q, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

// passwordCredentials is a password source (not IAM) that returns what
// *pw holds when asked.
func passwordCredentials(pw *atomic.Pointer[string]) *proxy.PasswordCredentials {
	return proxy.NewPasswordCredentials(proxy.PasswordSource{Name: "the test's password", Fetch: func(context.Context) (string, string, error) {
		return "", *pw.Load(), nil
	}})
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
