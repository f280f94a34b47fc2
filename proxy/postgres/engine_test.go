package postgres

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/pgwire"
)

func connect(t *testing.T, e *env, user, db string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, e.dsn(user, db))
	if err != nil {
		t.Fatalf("connect through the proxy as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestPsqlNeedsNoPassword(t *testing.T) {
	e := startEnv(t, envOptions{})
	psql := testpeer.LookPath(t, "apt-get install postgresql-client", "psql", "/usr/lib/postgresql/15/bin/psql")
	for _, mode := range []string{"disable", "prefer"} {
		cmd := exec.Command(psql, strings.Replace(e.dsn("app_user", "postgres"), "sslmode=disable", "sslmode="+mode, 1),
			"-XAtc", "select current_user")
		cmd.Env = []string{"PGPASSWORD=", "PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "app_user" {
			t.Errorf("psql sslmode=%s: %v: %s", mode, err, out)
		}
	}
}

func TestPgxFeatures(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	c := connect(t, e, "app_user", "postgres")

	t.Run("prepared statements", func(t *testing.T) {
		if _, err := c.Prepare(ctx, "ins", "insert into items values ($1, $2)"); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 50; i++ {
			if _, err := c.Exec(ctx, "ins", i, fmt.Sprintf("item %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := c.QueryRow(ctx, "select count(*) from items where id <= $1", 50).Scan(&n); err != nil || n != 50 {
			t.Errorf("count = %d, %v", n, err)
		}
	})
	t.Run("COPY in and out", func(t *testing.T) {
		rows := make([][]any, 10000)
		for i := range rows {
			rows[i] = []any{1000 + i, strings.Repeat("c", i%100)}
		}
		n, err := c.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"id", "body"}, pgx.CopyFromRows(rows))
		if err != nil || n != 10000 {
			t.Fatalf("CopyFrom = %d, %v", n, err)
		}
		var out strings.Builder
		tag, err := c.PgConn().CopyTo(ctx, &out, "COPY (select id, body from items where id >= 1000 order by id) TO STDOUT")
		if err != nil || tag.RowsAffected() != 10000 {
			t.Fatalf("CopyTo = %v, %v", tag, err)
		}
		if !strings.HasPrefix(out.String(), "1000\t\n1001\tc\n") {
			t.Errorf("COPY out starts %q", out.String()[:20])
		}
	})
	t.Run("multi-megabyte row", func(t *testing.T) {
		big := strings.Repeat("0123456789abcdef", 6<<16) // 6 MiB
		var got string
		if err := c.QueryRow(ctx, "select $1::text", big).Scan(&got); err != nil || sha256.Sum256([]byte(got)) != sha256.Sum256([]byte(big)) {
			t.Errorf("6 MiB round trip: len %d, %v", len(got), err)
		}
	})
	t.Run("LISTEN/NOTIFY", func(t *testing.T) {
		l := connect(t, e, "app_user", "postgres")
		if _, err := l.Exec(ctx, "listen jobs"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, "select pg_notify('jobs', 'payload-42')"); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		n, err := l.WaitForNotification(wctx)
		if err != nil || n.Payload != "payload-42" {
			t.Errorf("notification %+v, %v", n, err)
		}
	})
}

func TestGigabyteCopyIntact(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB transfer")
	}
	e := startEnv(t, envOptions{})
	c := connect(t, e, "app_user", "postgres")
	// 1 GiB: 1 Mi lines of 1023 characters and a newline.
	const lines, width = 1 << 20, 1023
	h := sha256.New()
	start := time.Now()
	tag, err := c.PgConn().CopyTo(context.Background(), h, fmt.Sprintf("COPY (select repeat('x', %d) from generate_series(1, %d)) TO STDOUT", width, lines))
	if err != nil || tag.RowsAffected() != lines {
		t.Fatalf("COPY: %v, %v", tag, err)
	}
	want := sha256.New()
	line := []byte(strings.Repeat("x", width) + "\n")
	for range lines {
		want.Write(line)
	}
	if string(h.Sum(nil)) != string(want.Sum(nil)) {
		t.Fatal("1 GiB COPY arrived altered")
	}
	t.Logf("1 GiB COPY through the proxy in %v", time.Since(start))
}

func TestCancelStopsQuery(t *testing.T) {
	e := startEnv(t, envOptions{})
	c := connect(t, e, "app_user", "postgres")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Exec(ctx, "select pg_sleep(30)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgwire.CodeQueryCanceled {
		// pgx may report the context error when the cancel wins the race; the
		// server must still have stopped the query.
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want a cancelled query, got %v", err)
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("cancel took %v", el)
	}
	// The proxy-issued cancel key must not be the server's.
	var pid uint32
	c2 := connect(t, e, "app_user", "postgres")
	if err := c2.QueryRow(context.Background(), "select pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if c2.PgConn().PID() == pid {
		t.Error("client got the server's own backend pid: cancel keys are not mapped")
	}
}

func TestProtocolGreasePassesThrough(t *testing.T) {
	e := startEnv(t, envOptions{})
	conn, err := net.Dial("tcp", e.proxy.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	m := &pgwire.StartupMessage{ProtocolVersion: 3<<16 | 9999, Params: []pgwire.Param{
		{Name: "user", Value: "app_user"}, {Name: "database", Value: "postgres"}, {Name: "_pq_.test_grease", Value: "1"}}}
	pkt, _ := m.AppendTo(nil)
	conn.Write(pkt)
	r := bufio.NewReader(conn)
	var sawNegotiate, sawReady bool
	for !sawReady {
		typ, body, err := pgwire.ReadMessage(r, 1<<20)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		switch typ {
		case pgwire.MsgNegotiateProtocolVersion:
			minor, opts, _ := pgwire.ParseNegotiateProtocolVersion(body)
			// PostgreSQL sends its full newest version (3.0) here.
			sawNegotiate = minor&0xffff == 0 && len(opts) == 1 && opts[0] == "_pq_.test_grease"
		case pgwire.MsgErrorResponse:
			e, _ := pgwire.ParseErrorResponse(body)
			t.Fatalf("error: %v", e)
		case pgwire.MsgReadyForQuery:
			sawReady = true
		}
	}
	if !sawNegotiate {
		t.Error("NegotiateProtocolVersion was not relayed")
	}
	q := pgwire.AppendMessage(nil, 'Q', []byte("select 41+1\x00"))
	conn.Write(q)
	for {
		typ, body, err := pgwire.ReadMessage(r, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if typ == 'D' {
			if !strings.Contains(string(body), "42") {
				t.Errorf("row %q", body)
			}
		}
		if typ == pgwire.MsgReadyForQuery {
			break
		}
	}
}

func TestTLSFailuresNameTheCause(t *testing.T) {
	other := testharness.NewCA(t, "some other CA")
	tests := []struct {
		desc string
		o    envOptions
		want string
	}{
		{"unknown authority", envOptions{clientCA: other}, "unknown"},
		{"certificate for another name", envOptions{serverName: "orders.c0test.eu-west-1.rds.amazonaws.com"}, "orders.c0test.us-east-1.rds.amazonaws.com"},
		{"expired certificate", envOptions{frontTLS: func(ca *testharness.CA) *tls.Config {
			cert := expiredLeaf(t, ca, endpoint)
			return &tls.Config{Certificates: []tls.Certificate{cert}}
		}}, "expired"},
		{"server without TLS", envOptions{frontTLS: func(*testharness.CA) *tls.Config { return nil }}, "refused TLS"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			e := startEnv(t, tc.o)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := pgx.Connect(ctx, e.dsn("app_user", "postgres"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestUserNotIAMEnabled(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := pgx.Connect(ctx, e.dsn("pw_user", "postgres"))
	if err == nil || !strings.Contains(err.Error(), `"pw_user" is not IAM-enabled`) || !strings.Contains(err.Error(), "SCRAM") {
		t.Errorf("error = %v", err)
	}
}

func TestTokenRefreshKeepsOldAndNewSessions(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	old := connect(t, e, "app_user", "postgres")
	e.clock.Advance(16 * time.Minute)
	fresh := connect(t, e, "app_user", "postgres")
	for _, c := range []*pgx.Conn{old, fresh} {
		var one int
		if err := c.QueryRow(ctx, "select 1").Scan(&one); err != nil {
			t.Errorf("query after 16 minutes: %v", err)
		}
	}
	if st := e.tokens.Stats(); st.Builds != 2 {
		t.Errorf("token builds = %d, want 2 (one per 10-minute window)", st.Builds)
	}
}

func TestSessionRecordsHoldNoSecrets(t *testing.T) {
	e := startEnv(t, envOptions{capture: true})
	c := connect(t, e, "app_user", "postgres")
	ctx := context.Background()
	c.Exec(ctx, "select 'hello from the test'")
	c.Exec(ctx, "select $1::int", 7)
	c.Close(ctx)
	waitFor(t, func() bool { return e.proxy.Stats().Open == 0 })
	e.recorder.Close(ctx)
	rec := e.records.String()
	for _, want := range []string{`"type":"session.start"`, `"type":"session.end"`, `"db_user":"app_user"`,
		`"aws_principal":"arn:aws:iam::111122223333:user/tester"`, `select 'hello from the test'`, `select $1::int`} {
		if !strings.Contains(rec, want) {
			t.Errorf("records lack %s:\n%s", want, rec)
		}
	}
	tok, err := e.tokens.Token(ctx, iamauth.Endpoint{Host: endpoint, Port: 5432, Region: region, User: "app_user"})
	if err != nil {
		t.Fatal(err)
	}
	sig := tok[strings.LastIndex(tok, "=")+1:]
	for name, text := range map[string]string{"session records": rec, "front log": e.frontLog.String()} {
		for _, secret := range []string{tok, sig, testKey} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain a secret", name)
			}
		}
	}
}

// expiredLeaf issues a certificate for name that expired yesterday.
func expiredLeaf(t *testing.T, ca *testharness.CA, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
