package mysql

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/mysqlwire"
	"github.com/rdsgate/rdsgate/sandbox/mysqlfront"
	"github.com/rdsgate/rdsgate/session"
)

// TestEngine runs real clients through the proxy and an RDS-like IAM
// front to a real MariaDB 10.11. The subtests share the MariaDB (it takes
// seconds to start); each starts its own front and proxy.
func TestEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB")
	}
	b := startBackend(t)
	t.Run("GoDriver", func(t *testing.T) { testGoDriver(t, b) })
	t.Run("LoadDataLocal", func(t *testing.T) { testLoadDataLocal(t, b) })
	t.Run("MariaDBCLI", func(t *testing.T) { testMariaDBCLI(t, b) })
	t.Run("CtrlC", func(t *testing.T) { testCtrlC(t, b) })
	t.Run("ChangeUserRefused", func(t *testing.T) { testChangeUserRefused(t, b) })
	t.Run("LocalHandshake", func(t *testing.T) { testLocalHandshake(t, b) })
	t.Run("LocalTLS", func(t *testing.T) { testLocalTLS(t, b) })
	t.Run("TLSFailures", func(t *testing.T) { testTLSFailures(t, b) })
	t.Run("NotIAMUser", func(t *testing.T) { testNotIAMUser(t, b) })
	t.Run("PasswordSource", func(t *testing.T) { testPasswordSource(t, b) })
	t.Run("TokenRefresh", func(t *testing.T) { testTokenRefresh(t, b) })
	t.Run("RetryRefusedToken", func(t *testing.T) { testRetryRefusedToken(t, b) })
	t.Run("SessionRecords", func(t *testing.T) { testSessionRecords(t, b) })
	t.Run("TooManyConnections", func(t *testing.T) { testTooManyConnections(t, b) })
	t.Run("NoGoroutineLeak", func(t *testing.T) { testNoGoroutineLeak(t, b) })
	t.Run("VanishedClients", func(t *testing.T) { testVanishedClients(t, b) })
}

func testGoDriver(t *testing.T, b *backend) {
	e := startEnv(t, b, envOptions{})
	c := e.config("app_user")
	c.Collation = "utf8mb4_unicode_ci"
	db := e.open(t, c)
	if got := queryString(t, db, "SELECT CURRENT_USER()"); got != "app_user@%" {
		t.Errorf("CURRENT_USER() = %q, want app_user@%%", got)
	}
	if got := queryString(t, db, "SELECT @@collation_connection"); got != "utf8mb4_unicode_ci" {
		t.Errorf("collation_connection = %q, want utf8mb4_unicode_ci", got)
	}
	c2 := e.config("app_user")
	c2.Collation = "utf8mb4_bin"
	if got := queryString(t, e.open(t, c2), "SELECT @@collation_connection"); got != "utf8mb4_bin" {
		t.Errorf("collation_connection = %q, want utf8mb4_bin", got)
	}
	if got := queryString(t, db, "SELECT DATABASE()"); got != "appdb" {
		t.Errorf("DATABASE() = %q", got)
	}

	// Prepared statements (binary protocol; the driver negotiates MariaDB's
	// CACHE_METADATA, which must agree on both legs) with a multi-MB row.
	ins, err := db.Prepare("INSERT INTO t (note, b) VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	big := make([]byte, 6<<20)
	rand.Read(big)
	res, err := ins.Exec("big", big)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	sel, err := db.Prepare("SELECT note, b FROM t WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer sel.Close()
	for range 3 { // re-executed: metadata cached on both sides
		var note string
		var got []byte
		if err := sel.QueryRow(id).Scan(&note, &got); err != nil {
			t.Fatal(err)
		}
		if note != "big" || sha256.Sum256(got) != sha256.Sum256(big) {
			t.Fatalf("6 MiB row came back different (%d bytes)", len(got))
		}
	}
	// The text protocol with a row over 16 MiB (split into chunks both ways).
	var n int
	var sum string
	huge := strings.Repeat("z", mysqlwire.MaxChunk+1000)
	if _, err := db.Exec("INSERT INTO t (note, b) VALUES ('huge', '" + huge + "')"); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT LENGTH(b), SHA2(b, 256) FROM t WHERE note = 'huge'").Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256([]byte(huge)); n != len(huge) || sum != fmt.Sprintf("%x", want) {
		t.Errorf("17 MiB statement stored %d bytes (sha %s)", n, sum)
	}
	var back string
	if err := db.QueryRow("SELECT b FROM t WHERE note = 'huge'").Scan(&back); err != nil || back != huge {
		t.Errorf("17 MiB value read back: %d bytes, %v", len(back), err)
	}
	// The greeting the client saw carries the server's thread id.
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cid := queryString(t, conn, "SELECT CONNECTION_ID()")
	if !strings.Contains(e.proxyLog.String(), "thread_id="+cid) {
		t.Errorf("no session started with thread_id=%s in the proxy log", cid)
	}
}

func testLoadDataLocal(t *testing.T, b *backend) {
	file := filepath.Join(t.TempDir(), "lines.txt")
	var buf bytes.Buffer
	const lines = 100000 // ~5 MB: hundreds of packets, sequence ids wrap
	for i := range lines {
		fmt.Fprintf(&buf, "line %d %s\n", i, strings.Repeat("\x11", 40))
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func(e *env) error {
		c := e.config("app_user")
		c.AllowAllFiles = true
		db := e.open(t, c)
		_, err := db.Exec("LOAD DATA LOCAL INFILE '" + file + "' INTO TABLE file_lines")
		return err
	}
	count := func() int {
		var n int
		if err := b.root.QueryRow("SELECT COUNT(*) FROM appdb.file_lines").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	if err := load(startEnv(t, b, envOptions{})); err == nil || count() != before {
		t.Errorf("LOAD DATA LOCAL by default: err = %v, rows %d -> %d; want it refused", err, before, count())
	} else {
		t.Logf("refused as expected: %v", err)
	}
	if err := load(startEnv(t, b, envOptions{localInfile: true, capture: true})); err != nil || count() != before+lines {
		t.Errorf("LOAD DATA LOCAL with LocalInfile: err = %v, rows %d -> %d", err, before, count())
	}
}

// cli runs the mariadb client through the proxy with no password and no
// TLS; it returns the command, not started.
func cli(t *testing.T, e *env, user string, args ...string) *exec.Cmd {
	bin := testpeer.LookPath(t, "apt-get install mariadb-client", "mariadb", "/usr/bin/mariadb")
	host, p, _ := net.SplitHostPort(e.proxy.Addr().String())
	cmd := exec.Command(bin, append([]string{"--no-defaults", "--host=" + host, "--port=" + p, "--user=" + user,
		"--skip-ssl", "--batch", "--skip-column-names", "--connect-timeout=20"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	return cmd
}

func testMariaDBCLI(t *testing.T, b *backend) {
	e := startEnv(t, b, envOptions{})
	out, err := cli(t, e, "app_user", "appdb", "--execute=SELECT CURRENT_USER(); SELECT COUNT(*) FROM t WHERE 0").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "app_user@%\n0" {
		t.Fatalf("mariadb CLI: %v\n%s", err, out)
	}
	// Clients that start with another auth plugin than the greeting's (as
	// MySQL 8+ clients do with caching_sha2_password), with or without a
	// password: all get in.
	for _, extra := range [][]string{{"--password=whatever"}, {"--default-auth=caching_sha2_password"},
		{"--default-auth=caching_sha2_password", "--password=whatever"}, {"--default-auth=sha256_password"},
		{"--default-auth=client_ed25519", "--password=whatever"}} {
		out, err := cli(t, e, "app_user", append(extra, "--execute=SELECT CURRENT_USER()")...).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "app_user@%" {
			t.Errorf("mariadb CLI %v: %v\n%s", extra, err, out)
		}
	}
	if !strings.Contains(e.records.String()+e.proxyLog.String(), "app_user") {
		t.Error("no trace of the CLI session")
	}
}

// testCtrlC interrupts `mariadb -e "SELECT SLEEP(30)"` like Ctrl-C does:
// the client opens a second connection through the proxy and sends KILL
// QUERY with the thread id of its greeting. The query must end at once,
// and another session's query must go on.
func testCtrlC(t *testing.T, b *backend) {
	e := startEnv(t, b, envOptions{})
	other := e.open(t, e.config("app_user"))
	otherConn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer otherConn.Close()
	otherID := queryString(t, otherConn, "SELECT CONNECTION_ID()")
	otherDone := make(chan error, 1)
	go func() {
		var v int
		err := otherConn.QueryRowContext(context.Background(), "SELECT SLEEP(7)").Scan(&v)
		if err == nil && v != 0 {
			err = fmt.Errorf("SLEEP(7) returned %d: interrupted", v)
		}
		otherDone <- err
	}()

	cmd := cli(t, e, "app_user", "--execute=SELECT SLEEP(30) AS slept")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	running := func(q string) (ids []string) {
		rows, err := b.root.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'app_user' AND INFO LIKE ?", q+"%")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			rows.Scan(&id)
			ids = append(ids, id)
		}
		return ids
	}
	for i := 0; len(running("SELECT SLEEP(30)")) == 0; i++ {
		if i == 400 {
			cmd.Process.Kill()
			<-done
			t.Fatalf("the CLI's SLEEP never started; output:\n%s", out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the CLI did not end 10 s after Ctrl-C; output:\n%s", out.String())
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Ctrl-C took %v", el)
	}
	// The killed thread may still list its statement for a moment after
	// the CLI has printed the interruption and exited; a SLEEP nobody
	// killed would stay for 30 s.
	for i := 0; len(running("SELECT SLEEP(30)")) != 0; i++ {
		if i == 80 {
			t.Fatalf("the SLEEP(30) still runs 2 s after Ctrl-C (the CLI killed another id); output:\n%s", out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "1317") && !strings.Contains(out.String(), "interrupted") {
		t.Errorf("CLI output after Ctrl-C: %s", out.String())
	}
	t.Logf("mariadb CLI after Ctrl-C: %s", strings.TrimSpace(out.String()))
	if ids := running("SELECT SLEEP(7)"); len(ids) != 1 || ids[0] != otherID {
		t.Errorf("the other session's SLEEP: running as %v, want [%s]", ids, otherID)
	}
	select {
	case err := <-otherDone:
		if err != nil {
			t.Errorf("the other session: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("the other session's SLEEP(7) did not end")
	}
}

// rawLogin logs in through the proxy with this module's codec as a plain
// client with caps and returns the connection after the OK.
func rawLogin(t *testing.T, e *env, user string, caps mysqlwire.Capability) (net.Conn, *mysqlwire.Conn, *mysqlwire.Greeting) {
	t.Helper()
	c, err := net.DialTimeout("tcp", e.proxy.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	mc := mysqlwire.NewConn(c, 1<<20)
	p, err := mc.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	g, err := mysqlwire.DecodeGreeting(p)
	if err != nil {
		t.Fatal(err)
	}
	r := &mysqlwire.HandshakeResponse{Capabilities: caps, MaxPacketSize: 1 << 24, Collation: 45, User: user,
		AuthResponse: mysqlwire.NativePassword(g.Scramble, "anything"), AuthPlugin: mysqlwire.PluginNativePassword}
	q, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.WritePacket(q); err != nil {
		t.Fatal(err)
	}
	if p, err = mc.ReadPacket(); err != nil || !mysqlwire.IsOK(p) {
		t.Fatalf("login: %x %v", p, err)
	}
	return c, mc, g
}

// query sends COM_QUERY and returns the first column of the single row
// (text protocol, no DEPRECATE_EOF).
func rawQuery(t *testing.T, mc *mysqlwire.Conn, q string) string {
	t.Helper()
	mc.ResetSeq()
	if err := mc.WritePacket(append([]byte{comQuery}, q...)); err != nil {
		t.Fatal(err)
	}
	var row []byte
	for range 4 { // column count, column definition, EOF, row
		p, err := mc.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		if mysqlwire.IsErr(p) {
			e, _ := mysqlwire.DecodeErr(p, mysqlwire.ClientProtocol41)
			t.Fatalf("%s: %v", q, e)
		}
		row = p
	}
	if p, err := mc.ReadPacket(); err != nil || !mysqlwire.IsEOF(p) {
		t.Fatalf("%s: end of rows %x, %v", q, p, err)
	}
	v, _, ok := mysqlwire.ReadLenEncString(row)
	if !ok {
		t.Fatalf("%s: row %x", q, row)
	}
	return string(v)
}

func testChangeUserRefused(t *testing.T, b *backend) {
	e := startEnv(t, b, envOptions{})
	caps := mysqlwire.ClientMySQL | mysqlwire.ClientProtocol41 | mysqlwire.ClientSecureConnection |
		mysqlwire.ClientPluginAuth | mysqlwire.ClientLongFlag | mysqlwire.ClientTransactions
	_, mc, g := rawLogin(t, e, "app_user", caps)
	if g.Capabilities.Has(mysqlwire.ClientSSL) || g.Capabilities.Has(mysqlwire.ClientCompress) || g.Capabilities.Has(mysqlwire.ClientLocalFiles) {
		t.Errorf("greeting offers %v: want no SSL, COMPRESS or LOCAL_FILES", g.Capabilities)
	}
	if id := rawQuery(t, mc, "SELECT CONNECTION_ID()"); id != strconv.FormatUint(uint64(g.ConnectionID), 10) {
		t.Errorf("greeting thread id %d, CONNECTION_ID() %s", g.ConnectionID, id)
	}
	// COM_CHANGE_USER to root with root's real password: it must not
	// reach the server.
	cu := []byte{comChangeUser}
	cu = append(append(cu, "root"...), 0)
	auth := mysqlwire.NativePassword(g.Scramble, b.m.RootPassword)
	cu = append(append(cu, byte(len(auth))), auth...)
	cu = append(append(cu, "appdb"...), 0)
	cu = append(cu, 45, 0)
	cu = append(append(cu, mysqlwire.PluginNativePassword...), 0)
	mc.ResetSeq()
	if err := mc.WritePacket(cu); err != nil {
		t.Fatal(err)
	}
	p, err := mc.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	ep, err := mysqlwire.DecodeErr(p, mysqlwire.ClientProtocol41)
	if err != nil || ep.Code != 1227 || !strings.Contains(ep.Message, "COM_CHANGE_USER is not allowed") {
		t.Fatalf("answer to COM_CHANGE_USER: %v, %v", ep, err)
	}
	// The session goes on, as the same user.
	if u := rawQuery(t, mc, "SELECT CURRENT_USER()"); u != "app_user@%" {
		t.Errorf("after COM_CHANGE_USER: CURRENT_USER() = %q", u)
	}
	if !strings.Contains(e.proxyLog.String(), "refused COM_CHANGE_USER") {
		t.Error("the refusal is not logged")
	}
}

// testTLSFailures: a server that cannot be verified (or reached) fails the
// connection with a message naming the cause, before any token is signed.
func testTLSFailures(t *testing.T, b *backend) {
	other := testharness.NewCA(t, "some other CA")
	for _, tc := range []struct {
		desc string
		o    envOptions
		want string
	}{
		{"unknown authority", envOptions{clientCA: other}, "unknown authority"},
		{"certificate for another name", envOptions{serverName: "orders-mysql.c0test.eu-west-1.rds.amazonaws.com"}, "not valid for \"orders-mysql.c0test.eu-west-1.rds.amazonaws.com\""},
		{"expired certificate", envOptions{frontTLS: func(ca *testharness.CA) *tls.Config {
			return &tls.Config{Certificates: []tls.Certificate{expiredLeaf(t, ca, endpoint)}}
		}}, "expired"},
		{"server without TLS", envOptions{frontTLS: func(*testharness.CA) *tls.Config { return nil }}, "does not offer TLS"},
		{"no route", envOptions{dialAddr: closedPort(t)}, "open route to " + endpoint + ":3306"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			e := startEnv(t, b, tc.o)
			_, err := e.tryOpen(e.config("app_user"))
			var me *gomysql.MySQLError
			if !errors.As(err, &me) || !strings.Contains(me.Message, tc.want) {
				t.Errorf("error %v, want a MySQL error mentioning %q", err, tc.want)
			}
			t.Logf("client sees: %v", err)
			if st := e.tokens.Stats(); st.Builds != 0 || e.authCalls.Load() != 0 {
				t.Errorf("a token was signed (%d) or sent (%d) though the server was not verified", st.Builds, e.authCalls.Load())
			}
		})
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
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

func testNotIAMUser(t *testing.T, b *backend) {
	e := startEnv(t, b, envOptions{})
	for user, why := range map[string]string{
		pwUser:    "refused the login without asking for an IAM token",
		"nobody":  "refused the login without asking for an IAM token",
		"ed_user": "asked for the client_ed25519 auth plugin, not mysql_clear_password",
	} {
		_, err := e.tryOpen(e.config(user))
		var me *gomysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1045 || !strings.Contains(me.Message, fmt.Sprintf("%q is not an IAM user", user)) ||
			!strings.Contains(me.Message, why) ||
			!strings.Contains(me.Message, "IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'") || !strings.Contains(me.Message, "rdsgate grant") {
			t.Errorf("%s: error %v", user, err)
		}
		t.Logf("client sees: %v", err)
	}
	if e.authCalls.Load() != 0 {
		t.Error("a token was sent for a user that is not an IAM user")
	}
}

func testPasswordSource(t *testing.T, b *backend) {
	var pw atomic.Pointer[string]
	stale := "not-the-password"
	pw.Store(&stale)
	creds := passwordCredentials(&pw)
	e := startEnv(t, b, envOptions{creds: creds})

	// A wrong password: refused once (reading it again gives the same).
	_, err := e.tryOpen(e.config(pwUser))
	var me *gomysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1045 || !strings.Contains(me.Message, "with the password from the test's password") {
		t.Errorf("wrong password: %v", err)
	}
	// The secret is rotated: the refused login reads it again and retries.
	right := pwPassword
	pw.Store(&right)
	db := e.open(t, e.config(pwUser))
	if got := queryString(t, db, "SELECT CURRENT_USER()"); got != pwUser+"@%" {
		t.Errorf("CURRENT_USER() = %q", got)
	}
	if !strings.Contains(e.proxyLog.String(), "the password source has a new password, retrying once") {
		t.Error("the retry with the rotated password is not logged")
	}
	if strings.Contains(e.proxyLog.String()+e.records.String(), pwPassword) {
		t.Error("the password reached a log or record")
	}
}

func testTokenRefresh(t *testing.T, b *backend) {
	e := startEnv(t, b, envOptions{})
	old := e.open(t, e.config("app_user"))
	old.SetMaxOpenConns(1)
	queryString(t, old, "SELECT 1")
	e.clock.Advance(16 * time.Minute)
	fresh := e.open(t, e.config("app_user"))
	for _, db := range []*sql.DB{old, fresh} {
		if got := queryString(t, db, "SELECT CURRENT_USER()"); got != "app_user@%" {
			t.Errorf("after 16 minutes: %q", got)
		}
	}
	if st := e.tokens.Stats(); st.Builds != 2 {
		t.Errorf("token builds = %d, want 2 (one per 10-minute window)", st.Builds)
	}
}

func testRetryRefusedToken(t *testing.T, b *backend) {
	e := startEnv(t, b, envOptions{})
	e.refuse.Store(1)
	start := time.Now()
	db := e.open(t, e.config("app_user"))
	if got := queryString(t, db, "SELECT CURRENT_USER()"); got != "app_user@%" {
		t.Errorf("CURRENT_USER() = %q", got)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("retried after %v, want at least a second (a new token)", el)
	}
	if st := e.tokens.Stats(); st.Builds != 2 || e.authCalls.Load() != 2 {
		t.Errorf("builds %d, tokens sent %d; want 2 and 2", st.Builds, e.authCalls.Load())
	}
	if !strings.Contains(e.proxyLog.String(), "retrying once with a fresh token") {
		t.Error("the retry is not logged")
	}

	// Refused twice: the client gets the server's 1045 with a hint.
	e.refuse.Store(2)
	_, err := e.tryOpen(e.config("other_user"))
	var me *gomysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1045 || !strings.Contains(me.Message, "Access denied for user 'other_user'") ||
		!strings.Contains(me.Message, "rds-db:connect on arn:aws:rds-db:us-east-1:<account>:dbuser:db-TESTMYSQL/other_user") {
		t.Errorf("refused twice: %v", err)
	}
	t.Logf("client sees: %v", err)
	if got := e.authCalls.Load(); got != 4 {
		t.Errorf("tokens sent = %d, want 4 (one retry per connection)", got)
	}
}

func testSessionRecords(t *testing.T, b *backend) {
	e := startEnv(t, b, envOptions{capture: true})
	c := e.config("app_user")
	c.ConnectionAttributes = "program_name:records-test"
	db := e.open(t, c)
	db.Exec("SELECT 'hello from the test'")
	var v int
	if err := db.QueryRow("SELECT ? + 1", 41).Scan(&v); err != nil || v != 42 {
		t.Fatalf("prepared: %d, %v", v, err)
	}
	cmd := cli(t, e, "app_user", "--execute=SELECT 'from the cli'")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mariadb: %v: %s", err, out)
	}
	db.Close()
	waitFor(t, "sessions closed", func() bool { return e.proxy.Stats().Open == 0 })
	e.recorder.Close(context.Background())

	rec := e.records.String()
	starts, ends := map[string]session.Event{}, map[string]session.Event{}
	var stmts []string
	sc := bufio.NewScanner(strings.NewReader(rec))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev session.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("record line %q: %v", sc.Text(), err)
		}
		switch ev.Type {
		case session.TypeStart:
			starts[ev.ID] = ev
		case session.TypeEnd:
			ends[ev.ID] = ev
		case session.TypeStatement:
			stmts = append(stmts, ev.Statement)
		}
	}
	if len(starts) != 2 || len(ends) != 2 {
		t.Fatalf("%d starts, %d ends, want 2 each:\n%s", len(starts), len(ends), rec)
	}
	apps := map[string]bool{}
	for id, end := range ends {
		if _, ok := starts[id]; !ok {
			t.Errorf("session %s ended without a start", id)
		}
		if end.DBUser != "app_user" || end.Engine != "mysql" || end.Target != "orders-mysql" || end.Route != "direct" ||
			end.Principal != "arn:aws:iam::111122223333:user/tester" || end.BytesIn == 0 || end.BytesOut == 0 ||
			end.EndReason == "" || end.End.IsZero() || end.Error != "" {
			t.Errorf("end record %+v", end.Record)
		}
		apps[end.Application] = true
	}
	if !apps["records-test"] || !apps["mysql"] && !apps["mariadb"] {
		t.Errorf("applications %v, want records-test and the CLI's program_name", apps)
	}
	all := strings.Join(stmts, "\n")
	for _, want := range []string{"SELECT 'hello from the test'", "SELECT ? + 1", "SELECT 'from the cli'"} {
		if !strings.Contains(all, want) {
			t.Errorf("statements lack %q: %q", want, stmts)
		}
	}
	if strings.Contains(all, "41") {
		t.Error("a prepared statement's parameter was recorded")
	}

	tok, err := e.tokens.Token(context.Background(), iamauth.Endpoint{Host: endpoint, Port: port, Region: region, User: "app_user"})
	if err != nil {
		t.Fatal(err)
	}
	sig := tok[strings.LastIndex(tok, "=")+1:]
	for name, text := range map[string]string{"session records": rec, "proxy log": e.proxyLog.String(), "front log": e.frontLog.String()} {
		for _, secret := range []string{tok, sig, testKey, mysqlfront.DerivedPassword(frontSecret, "app_user")} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s contain a secret", name)
			}
		}
	}
}

func testTooManyConnections(t *testing.T, b *backend) {
	e := startEnv(t, b, envOptions{maxConns: 1})
	db := e.open(t, e.config("app_user"))
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	queryString(t, db, "SELECT 1")
	_, err := e.tryOpen(e.config("app_user"))
	var me *gomysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1040 || !strings.Contains(me.Message, "max_connections=1") {
		t.Errorf("second connection: %v", err)
	}
}

func testNoGoroutineLeak(t *testing.T, b *backend) {
	e := startEnv(t, b, envOptions{})
	warm := e.open(t, e.config("app_user"))
	queryString(t, warm, "SELECT 1")
	warm.Close()
	waitFor(t, "warm-up session closed", func() bool { return e.proxy.Stats().Open == 0 })
	base := runtime.NumGoroutine()
	db := e.open(t, e.config("app_user"))
	db.SetMaxOpenConns(100)
	db.SetMaxIdleConns(100)
	ctx := context.Background()
	var conns []*sql.Conn
	for range 100 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "100 sessions open", func() bool { return e.proxy.Stats().Open == 100 })
	for _, c := range conns {
		c.Close()
	}
	db.Close()
	waitFor(t, "sessions closed", func() bool { return e.proxy.Stats().Open == 0 })
	waitFor(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= base+5 })
}

// testLocalHandshake drives the local leg with this module's codec: a
// caching_sha2_password scramble gets the fast path, an SSLRequest a clear
// refusal, garbage an ERR; clients that leave before logging in leave no
// record; the proxy serves on after all of them.
func testLocalHandshake(t *testing.T, b *backend) {
	e := startEnv(t, b, envOptions{})
	caps := mysqlwire.ClientMySQL | mysqlwire.ClientProtocol41 | mysqlwire.ClientSecureConnection |
		mysqlwire.ClientPluginAuth | mysqlwire.ClientLongFlag | mysqlwire.ClientTransactions
	dial := func(t *testing.T) (*mysqlwire.Conn, *mysqlwire.Greeting) {
		c, err := net.DialTimeout("tcp", e.proxy.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(30 * time.Second))
		mc := mysqlwire.NewConn(c, 1<<20)
		p, err := mc.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		g, err := mysqlwire.DecodeGreeting(p)
		if err != nil {
			t.Fatal(err)
		}
		if g.AuthPlugin != mysqlwire.PluginNativePassword || len(g.Scramble) != mysqlwire.ScrambleLen {
			t.Fatalf("greeting plugin %q, scramble %q", g.AuthPlugin, g.Scramble)
		}
		return mc, g
	}
	wantErr := func(mc *mysqlwire.Conn, code uint16, text string) {
		t.Helper()
		p, err := mc.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		ep, err := mysqlwire.DecodeErr(p, mysqlwire.ClientProtocol41)
		if err != nil || ep.Code != code || !strings.Contains(ep.Message, text) {
			t.Errorf("got %v, %v; want ERR %d with %q", ep, err, code, text)
		}
	}

	t.Run("caching_sha2_password scramble", func(t *testing.T) {
		mc, g := dial(t)
		r := &mysqlwire.HandshakeResponse{Capabilities: caps, MaxPacketSize: 1 << 24, Collation: 45, User: "app_user",
			AuthPlugin: mysqlwire.PluginCachingSHA2, AuthResponse: cachingSHA2Password(g.Scramble, "anything")}
		q, _ := r.Encode()
		mc.WritePacket(q)
		if p, err := mc.ReadPacket(); err != nil || !bytes.Equal(p, []byte{1, fastAuthSuccess}) {
			t.Fatalf("want fast auth success, got %x, %v", p, err)
		}
		if p, err := mc.ReadPacket(); err != nil || !mysqlwire.IsOK(p) {
			t.Fatalf("want OK, got %x, %v", p, err)
		}
		if u := rawQuery(t, mc, "SELECT CURRENT_USER()"); u != "app_user@%" {
			t.Errorf("CURRENT_USER() = %q", u)
		}
	})
	t.Run("SSLRequest", func(t *testing.T) {
		mc, _ := dial(t)
		mc.WritePacket((&mysqlwire.SSLRequest{Capabilities: caps, MaxPacketSize: 1 << 24, Collation: 45}).Encode())
		wantErr(mc, mysqlwire.ErHandshake, "--skip-ssl")
	})
	t.Run("garbage", func(t *testing.T) {
		mc, _ := dial(t)
		mc.WritePacket([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		wantErr(mc, mysqlwire.ErHandshake, "Bad handshake")
	})
	t.Run("leaves after the greeting", func(t *testing.T) {
		c, err := net.Dial("tcp", e.proxy.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		mysqlwire.ReadPacket(c, 1<<20)
		c.Close()
	})
	waitFor(t, "sessions closed", func() bool { return e.proxy.Stats().Open == 0 })
	if got := queryString(t, e.open(t, e.config("app_user")), "SELECT CURRENT_USER()"); got != "app_user@%" {
		t.Errorf("after the bad clients: %q", got)
	}
	e.recorder.Close(context.Background())
	if n := strings.Count(e.records.String(), `"type":"session.start"`); n != 2 {
		t.Errorf("%d session starts recorded, want 2:\n%s", n, e.records.String())
	}
}
