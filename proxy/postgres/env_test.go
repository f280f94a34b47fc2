package postgres

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/sandbox/pgfront"
	"github.com/rdsgate/rdsgate/session"
	"github.com/rdsgate/rdsgate/target"
	"github.com/rdsgate/rdsgate/tunnel"
	"github.com/rdsgate/rdsgate/tunnel/direct"
)

const (
	endpoint  = "orders.c0test.us-east-1.rds.amazonaws.com"
	region    = "us-east-1"
	testKeyID = "AKIDPROXYTEST"
	testKey   = "proxy-test-secret-key/0123456789abcdefghij"
)

// fakeClock is a clock tests move; shared by the token cache and the front.
type fakeClock struct{ off atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// env is a real PostgreSQL behind an RDS-like IAM front, and the proxy in
// front of that.
type env struct {
	backend   *testharness.Postgres
	ca        *testharness.CA
	frontAddr string
	front     *pgfront.Server
	frontLog  *lockedBuffer
	clock     *fakeClock
	tokens    *iamauth.Cache
	proxy     *proxy.Server
	records   *lockedBuffer
	recorder  *session.Recorder
	up        *proxy.Upstream
	engine    *Engine
}

type envOptions struct {
	frontTLS   func(ca *testharness.CA) *tls.Config // nil: a valid cert for endpoint
	clientCA   *testharness.CA                      // the proxy trusts this CA (default: the front's)
	serverName string                               // the proxy verifies this name (default endpoint)
	capture    bool
	directTLS  bool                              // the upstream leg uses PostgreSQL 17's direct TLS
	localTLS   *tls.Config                       // the proxy serves TLS on the local leg
	dialer     func(tunnel.Dialer) tunnel.Dialer // wraps the route (to watch the upstream bytes)
	logins     *proxy.RateLimiter                // limits upstream logins
	reuse      *ReuseConfig                      // reuse logins (ReuseLogins)
}

func startEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	pg := testharness.StartPostgres(t, testharness.PostgresOptions{})
	pg.Exec(t, `CREATE ROLE rds_iam;
CREATE ROLE app_user LOGIN; GRANT rds_iam TO app_user;
CREATE ROLE pw_user LOGIN PASSWORD 'pw-user-secret';
CREATE TABLE items (id int PRIMARY KEY, body text);
GRANT ALL ON items TO app_user;
GRANT CREATE ON SCHEMA public TO app_user;`)
	e := &env{backend: pg, clock: &fakeClock{}, frontLog: &lockedBuffer{}, records: &lockedBuffer{}}
	e.ca = testharness.NewCA(t, "front CA")
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.frontTLS != nil {
		// may be nil: a server without TLS
		tlsConf = o.frontTLS(e.ca)
	} else {
		_, _, cert := e.ca.Leaf(t, "", endpoint)
		tlsConf.Certificates = []tls.Certificate{cert}
	}
	auth := pgfront.AuthenticatorFunc(func(_ context.Context, l pgfront.Login) error {
		_, err := iamauth.Verify(l.Token, iamauth.Expect{Host: endpoint, Port: 5432, Region: region, User: l.User},
			func(id string) (iamauth.Secret, bool) {
				return iamauth.Secret{SecretAccessKey: testKey}, id == testKeyID
			}, e.clock.Now())
		return err
	})
	front, err := pgfront.New(pgfront.Config{Instance: "orders", Endpoint: endpoint, TLS: tlsConf, ForceSSL: tlsConf != nil,
		BackendSocketDir: pg.SocketDir, BackendAddr: pg.Addr(), BackendAdminPassword: pg.Password, Auth: auth,
		Log: slog.New(slog.NewTextHandler(e.frontLog, nil))})
	if err != nil {
		t.Fatal(err)
	}
	fl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.frontAddr, e.front = fl.Addr().String(), front
	fctx, fcancel := context.WithCancel(context.Background())
	fdone := make(chan struct{})
	go func() { front.Serve(fctx, fl); close(fdone) }()
	t.Cleanup(func() { fcancel(); <-fdone })

	clientCA := e.ca
	if o.clientCA != nil {
		clientCA = o.clientCA
	}
	name := endpoint
	if o.serverName != "" {
		name = o.serverName
	}
	e.tokens = iamauth.NewCache(credentials.NewStaticCredentialsProvider(testKeyID, testKey, ""), iamauth.CacheOptions{Now: e.clock.Now})
	var dialer tunnel.Dialer = &direct.Dialer{Address: e.frontAddr}
	if o.dialer != nil {
		dialer = o.dialer(dialer)
	}
	e.up = &proxy.Upstream{
		Target:      target.Target{Identifier: "orders", Name: "orders", Engine: "postgres", Host: name, Port: 5432, Region: region, ResourceID: "db-TEST"},
		Dialer:      dialer,
		TLS:         &tls.Config{ServerName: name, RootCAs: clientCA.Pool, MinVersion: tls.VersionTLS12},
		Credentials: &proxy.IAMCredentials{Cache: e.tokens, Host: name, Port: 5432, Region: region},
		DirectTLS:   o.directTLS,
		Logins:      o.logins,
	}
	e.recorder = session.NewRecorder(nil, session.NewWriterSink(e.records))
	ln, err := proxy.Listen(proxy.ListenConfig{Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	engine := New()
	e.engine = engine
	if o.reuse != nil {
		engine.ReuseLogins(*o.reuse)
		t.Cleanup(func() { engine.Close() }) // after the proxy's (cleanups run last first)
	}
	e.proxy = proxy.NewServer(ln, engine, e.up, proxy.Options{Recorder: e.recorder, CaptureStatements: o.capture, LocalTLS: o.localTLS,
		Principal: "arn:aws:iam::111122223333:user/tester", Route: "direct"})
	pdone := make(chan struct{})
	go func() { e.proxy.Serve(context.Background()); close(pdone) }()
	t.Cleanup(func() { e.proxy.Close(); <-pdone; e.recorder.Close(context.Background()) })
	return e
}

// dsn is a libpq/pgx DSN for the proxy: no password, no TLS.
func (e *env) dsn(user, db string) string {
	host, port, _ := net.SplitHostPort(e.proxy.Addr().String())
	return fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable connect_timeout=10", host, port, user, db)
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
func (l *lockedBuffer) String() string         { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
func (l *lockedBuffer) Contains(s string) bool { return strings.Contains(l.String(), s) }
