package mysqlfront

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/mysqlwire"
)

// TestFront runs real clients through the front to a real MariaDB. The
// subtests share one backend and front (starting MariaDB takes a second).
func TestFront(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB")
	}
	f := newFixture(t)
	t.Run("GoDriverIAM", func(t *testing.T) { testGoDriverIAM(t, f) })
	t.Run("MariaDBCLI", func(t *testing.T) { testMariaDBCLI(t, f) })
	t.Run("Refusals", func(t *testing.T) { testRefusals(t, f) })
	t.Run("PasswordUser", func(t *testing.T) { testPasswordUser(t, f) })
	t.Run("KillQuery", func(t *testing.T) { testKillQuery(t, f) })
	t.Run("GreetingID", func(t *testing.T) { testGreetingID(t, f) })
	t.Run("CLICtrlC", func(t *testing.T) { testCLICtrlC(t, f) })
	t.Run("Rewrite", func(t *testing.T) { testRewrite(t, f) })
	t.Run("Garbage", func(t *testing.T) { testGarbage(t, f) })
	t.Run("NoLeaks", func(t *testing.T) { testNoLeaks(t, f) })
	f.checkLogSecrets(t, "app_user", "bob", "a'b")
}

func testGoDriverIAM(t *testing.T, f *fixture) {
	tok := f.token(t, iamauth.Endpoint{User: "app_user"}, "", time.Now())
	db := open(t, f.dsn("app_user", tok, func(c *mysql.Config) { c.Collation = "utf8mb4_unicode_ci" }))
	if got := queryString(t, db, "SELECT CURRENT_USER()"); got != "app_user@%" {
		t.Errorf("CURRENT_USER() = %q, want app_user@%%", got)
	}
	// The session is TLS end to end on the client leg.
	var name, cipher string
	if err := db.QueryRow("SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil {
		t.Fatal(err)
	}
	// (The backend leg is plain: the backend reports no cipher.)
	if cipher != "" {
		t.Errorf("backend leg unexpectedly TLS: %q", cipher)
	}
	// The client's collation reaches the backend (the greeting's default is
	// latin1_swedish_ci, the driver's utf8mb4_general_ci).
	if got := queryString(t, db, "SELECT @@collation_connection"); got != "utf8mb4_unicode_ci" {
		t.Errorf("collation_connection = %q, want utf8mb4_unicode_ci", got)
	}
	db2 := open(t, f.dsn("app_user", tok, func(c *mysql.Config) { c.Collation = "utf8mb4_bin" }))
	if got := queryString(t, db2, "SELECT @@collation_connection"); got != "utf8mb4_bin" {
		t.Errorf("collation_connection = %q, want utf8mb4_bin", got)
	}

	// Prepared statements (binary protocol; MariaDB's CACHE_METADATA
	// extended capability is negotiated by this driver, so both legs must
	// agree on it).
	stmt, err := db.Prepare("INSERT INTO t (note, b) VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	big := make([]byte, 5<<20)
	rand.Read(big)
	res, err := stmt.Exec("big", big)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	sel, err := db.Prepare("SELECT note, b FROM t WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer sel.Close()
	for i := 0; i < 3; i++ { // re-executed: metadata cached on both sides
		var note string
		var got []byte
		if err := sel.QueryRow(id).Scan(&note, &got); err != nil {
			t.Fatal(err)
		}
		if note != "big" || sha256.Sum256(got) != sha256.Sum256(big) {
			t.Fatalf("multi-MB row came back different (%d bytes)", len(got))
		}
	}
	// A COM_QUERY over 16 MiB (split into two packets on the wire) passes
	// the relay's inspection intact.
	huge := strings.Repeat("x", mysqlwire.MaxChunk+1000)
	if _, err := db.Exec("INSERT INTO t (note, b) VALUES ('huge', '" + huge + "')"); err != nil {
		t.Fatal(err)
	}
	var n int
	var sum string
	if err := db.QueryRow("SELECT LENGTH(b), SHA2(b, 256) FROM t WHERE note = 'huge'").Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256([]byte(huge)); n != len(huge) || sum != fmt.Sprintf("%x", want) {
		t.Errorf("17 MiB statement stored %d bytes (sha %s)", n, sum)
	}

	// The certificate names the endpoint: a client expecting another name
	// refuses it.
	other := "mysqlfront-wrongname-" + strconv.FormatInt(tlsSeq.Add(1), 10)
	mysql.RegisterTLSConfig(other, &tls.Config{ServerName: "other.c0sandbox.us-east-1.rds.amazonaws.com", RootCAs: f.ca.Pool})
	defer mysql.DeregisterTLSConfig(other)
	err = loginErr(t, f.dsn("app_user", tok, func(c *mysql.Config) { c.TLSConfig = other }))
	var herr x509.HostnameError
	if err == nil || !errors.As(err, &herr) {
		t.Errorf("login with ServerName for another host: err = %v, want a certificate name error", err)
	}
}

func testMariaDBCLI(t *testing.T, f *fixture) {
	cli := testpeer.LookPath(t, "apt-get install mariadb-client", "mariadb", "/usr/bin/mariadb")
	testpeer.LookPath(t, "apt-get install util-linux", "unshare")
	aws := testpeer.AWSCLIv2(t)
	cmd := exec.Command(aws, "rds", "generate-db-auth-token", "--hostname", testEndpoint,
		"--port", strconv.Itoa(testPort), "--username", "app_user", "--region", testRegion)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(),
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ACCESS_KEY_ID=" + testAKID, "AWS_SECRET_ACCESS_KEY=" + testSKey}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws rds generate-db-auth-token: %v", err)
	}
	tok := strings.TrimSpace(string(out))
	f.remember(tok)
	_, port, _ := net.SplitHostPort(f.addr)

	// The MariaDB 10.11 client checks the certificate against --host, and
	// the endpoint does not resolve: give the client a private /etc/hosts
	// in its own mount namespace, so --ssl-verify-server-cert checks the
	// real name while the bytes go to 127.0.0.1.
	hosts := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n127.0.0.1 "+testEndpoint+"\n"), 0o644)
	// run returns the client's stdout, and its stderr in the error.
	verify := func(caFile string) []string {
		return []string{"--ssl", "--ssl-ca=" + caFile, "--ssl-verify-server-cert"}
	}
	run := func(extra ...string) (string, string, error) {
		args := append([]string{"--host=" + testEndpoint, "--port=" + port, "--user=app_user",
			"--batch", "--skip-column-names", "--connect-timeout=10"}, extra...)
		args = append(args, "--execute=SELECT CURRENT_USER()")
		script := `mount --bind "$HOSTS" /etc/hosts && exec "$@"`
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", cli}, args...)...)
		// The token goes in MYSQL_PWD, not on the command line.
		c.Env = []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "HOSTS=" + hosts, "MYSQL_PWD=" + tok, "HOME=" + t.TempDir()}
		var stderr bytes.Buffer
		c.Stderr = &stderr
		out, err := c.Output()
		return strings.TrimSpace(string(out)), strings.TrimSpace(stderr.String()), err
	}
	if os.Geteuid() != 0 {
		testpeer.Missing(t, "root (for a private mount namespace with /etc/hosts naming the endpoint)", "run the tests as root, as CI does")
	}
	out2, stderr, err := run(verify(f.ca.CertFile)...)
	if err != nil || out2 != "app_user@%" {
		t.Fatalf("mariadb CLI: %v\nstdout: %s\nstderr: %s", err, out2, stderr)
	}
	// --enable-cleartext-plugin (MySQL's client flag) is accepted by the
	// 10.11 client with "WARNING: option '--enable-cleartext-plugin' is
	// obsolete." (on stdout): Connector/C sends mysql_clear_password when
	// asked to, no flag needed.
	out2, stderr, err = run(append(verify(f.ca.CertFile), "--enable-cleartext-plugin")...)
	if err != nil || !strings.HasSuffix(out2, "\napp_user@%") {
		t.Fatalf("mariadb CLI --enable-cleartext-plugin: %v\nstdout: %s\nstderr: %s", err, out2, stderr)
	}
	// Verification is real: another CA is refused before any login.
	otherCA := testharness.NewCA(t, "another CA")
	if out2, stderr, err = run(verify(otherCA.CertFile)...); err == nil || !strings.Contains(stderr, "ERROR 2026") {
		t.Fatalf("mariadb CLI trusting another CA: err = %v, stdout %q, stderr %q; want ERROR 2026 (TLS error)", err, out2, stderr)
	}
	// And without TLS the IAM user is refused like on RDS.
	if out2, stderr, err = run("--skip-ssl"); err == nil || !strings.Contains(stderr, "ERROR 1045 (28000): Access denied for user 'app_user'@'127.0.0.1' (using password: YES)") {
		t.Fatalf("mariadb CLI --skip-ssl: err = %v, stdout %q, stderr %q; want ERROR 1045", err, out2, stderr)
	}
}

func testRefusals(t *testing.T, f *fixture) {
	now := time.Now()
	for _, c := range []struct {
		name   string
		tok    string
		reason iamauth.Reason
	}{
		{"expired", f.token(t, iamauth.Endpoint{User: "app_user"}, "", now.Add(-20*time.Minute)), iamauth.ReasonExpired},
		{"other user", f.token(t, iamauth.Endpoint{User: "pw_user"}, "", now), iamauth.ReasonWrongUser},
		{"other host", f.token(t, iamauth.Endpoint{User: "app_user", Host: "demo-pg.c0sandbox.us-east-1.rds.amazonaws.com"}, "", now), iamauth.ReasonWrongHost},
		{"other port", f.token(t, iamauth.Endpoint{User: "app_user", Port: 3307}, "", now), iamauth.ReasonWrongPort},
		{"other region", f.token(t, iamauth.Endpoint{User: "app_user", Region: "eu-west-1"}, "", now), iamauth.ReasonWrongRegion},
		{"tampered signature", tamper(f.token(t, iamauth.Endpoint{User: "app_user"}, "", now)), iamauth.ReasonSignatureMismatch},
		{"unknown key", f.token(t, iamauth.Endpoint{User: "app_user"}, otherAKID, now), iamauth.ReasonUnknownAccessKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantAccessDenied(t, loginErr(t, f.dsn("app_user", c.tok)), "app_user")
			f.waitLog(t, "login refused", "user=app_user", "IAM authentication failed", string(c.reason))
		})
	}
	t.Run("plain TCP", func(t *testing.T) {
		tok := f.token(t, iamauth.Endpoint{User: "app_user"}, "", now)
		wantAccessDenied(t, loginErr(t, f.dsn("app_user", tok, withoutTLS)), "app_user")
		f.waitLog(t, "login refused", "user=app_user", "tls=false", "IAM user without TLS")
	})
	t.Run("password instead of token", func(t *testing.T) {
		wantAccessDenied(t, loginErr(t, f.dsn("app_user", DerivedPassword(testSecret, "app_user"))), "app_user")
		f.waitLog(t, "login refused", "user=app_user", string(iamauth.ReasonMalformed))
	})
}

func tamper(tok string) string {
	b := []byte(tok)
	last := &b[len(b)-1]
	if *last == '0' {
		*last = '1'
	} else {
		*last = '0'
	}
	return string(b)
}

func testPasswordUser(t *testing.T, f *fixture) {
	for _, tlsOn := range []bool{true, false} {
		var opts []dsnOpt
		if !tlsOn {
			opts = append(opts, withoutTLS)
		}
		db := open(t, f.dsn(pwUser, pwPassword, opts...))
		if got := queryString(t, db, "SELECT CURRENT_USER()"); got != pwUser+"@%" {
			t.Errorf("tls=%v: CURRENT_USER() = %q", tlsOn, got)
		}
	}
	wantAccessDenied(t, loginErr(t, f.dsn(pwUser, "wrong")), pwUser)
	f.waitLog(t, "login refused", "user="+pwUser, "backend refused the password login")
	wantAccessDenied(t, loginErr(t, f.dsn("nobody", "x")), "nobody")
	// The backend's own errors other than 1045 reach the client as they are.
	err := loginErr(t, f.dsn(pwUser, pwPassword, func(c *mysql.Config) { c.DBName = "nosuchdb" }))
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1044 && me.Number != 1049 {
		t.Errorf("unknown database: err = %v, want 1044/1049", err)
	}
}

func testKillQuery(t *testing.T, f *fixture) {
	tok := f.token(t, iamauth.Endpoint{User: "app_user"}, "", time.Now())
	a := open(t, f.dsn("app_user", tok))
	ctx := context.Background()
	conn, err := a.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var id int64
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	type result struct {
		v   int64
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		var r result
		r.err = conn.QueryRowContext(ctx, "SELECT SLEEP(30)").Scan(&r.v)
		done <- r
	}()
	// Wait until the backend runs it (root, directly).
	root := f.m.DB(t, "")
	for i := 0; ; i++ {
		var n int
		if err := root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ? AND INFO LIKE 'SELECT SLEEP%'", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if i == 200 {
			t.Fatalf("SELECT SLEEP(30) of connection %d never showed up in the backend", id)
		}
		time.Sleep(25 * time.Millisecond)
	}
	// Client B, another user with CONNECTION ADMIN, kills through the front
	// by the id A's session reports.
	f.m.Exec(t, "GRANT CONNECTION ADMIN ON *.* TO '"+pwUser+"'@'%'")
	defer f.m.Exec(t, "REVOKE CONNECTION ADMIN ON *.* FROM '"+pwUser+"'@'%'")
	b := open(t, f.dsn(pwUser, pwPassword))
	if _, err := b.Exec("KILL QUERY " + strconv.FormatInt(id, 10)); err != nil {
		t.Fatalf("KILL QUERY %d: %v", id, err)
	}
	select {
	case r := <-done:
		if el := time.Since(start); el > 10*time.Second {
			t.Fatalf("SLEEP ended after %v", el)
		}
		// MariaDB ends a killed SLEEP with 1 (interrupted) or error 1317.
		var me *mysql.MySQLError
		if r.err == nil && r.v != 1 || r.err != nil && !(errors.As(r.err, &me) && me.Number == 1317) {
			t.Fatalf("killed SLEEP gave %d, %v", r.v, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("KILL QUERY %d did not end A's SLEEP within 5 s: the ids do not match", id)
	}
	var id2 int64
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id2); err != nil || id2 != id {
		t.Fatalf("A after the kill: id %d, %v; want %d and a usable connection", id2, err, id)
	}
}

func testRewrite(t *testing.T, f *fixture) {
	before := f.srv.Stats().Rewrites
	root := open(t, f.dsn("root", f.m.RootPassword, func(c *mysql.Config) { c.DBName = "" }))
	for _, q := range []string{
		"CREATE USER 'bob'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL",
		"GRANT SELECT ON appdb.* TO 'bob'@'%'",
		"create user 'a''b'@'%' identified with 'AWSAuthenticationPlugin' as 'RDS' require ssl",
		"GRANT SELECT ON appdb.* TO 'a''b'@'%'",
		// Not a user statement: must pass unchanged.
		"INSERT INTO appdb.t (note) VALUES ('CREATE USER x IDENTIFIED WITH AWSAuthenticationPlugin AS ''RDS''')",
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if got := f.srv.Stats().Rewrites - before; got != 2 {
		t.Errorf("rewrites = %d, want 2", got)
	}
	if got := queryString(t, root, "SELECT note FROM appdb.t WHERE note LIKE 'CREATE USER x%'"); got != "CREATE USER x IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'" {
		t.Errorf("a literal was rewritten: %q", got)
	}
	// catalog says how mysql.user shows u: "plugin authentication_string Password".
	catalog := func(u string) string {
		t.Helper()
		return queryString(t, root, "SELECT CONCAT_WS(' ', plugin, authentication_string, Password) FROM mysql.user WHERE User = ?", u)
	}
	const asRDS = "AWSAuthenticationPlugin RDS " // as RDS MySQL shows an IAM user
	for _, u := range []string{"bob", "a'b"} {
		if got := queryString(t, root, "SELECT JSON_VALUE(Priv, '$.authentication_string') FROM mysql.global_priv WHERE User = ?", u); got != nativeHashOfDerived(testSecret, u) {
			t.Errorf("%s: authentication_string %q is not the derived hash", u, got)
		}
		if got := catalog(u); got != asRDS {
			t.Errorf("%s: mysql.user shows %q, want %q", u, got, asRDS)
		}
		tok := f.token(t, iamauth.Endpoint{User: u}, "", time.Now())
		db := open(t, f.dsn(u, tok))
		if got := queryString(t, db, "SELECT CURRENT_USER()"); got != u+"@%" {
			t.Errorf("CURRENT_USER() = %q, want %s@%%", got, u)
		}
		if _, err := db.Exec("INSERT INTO t (note) VALUES ('no')"); err == nil {
			t.Errorf("%s (SELECT only) could insert", u)
		}
		wantAccessDenied(t, loginErr(t, f.dsn(u, tok, withoutTLS)), u)
	}
	// ALTER USER back to a password user, then to IAM again.
	if _, err := root.Exec("ALTER USER bob IDENTIFIED BY 'bobpw'"); err != nil {
		t.Fatal(err)
	}
	open(t, f.dsn("bob", "bobpw"))
	h := mysqlwire.NativePasswordHash("bobpw")
	if got, want := catalog("bob"), "mysql_native_password "+h+" "+h; got != want {
		t.Errorf("bob with a password: mysql.user shows %q, want %q", got, want)
	}
	if _, err := root.Exec("ALTER USER `bob`@`%` IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'"); err != nil {
		t.Fatal(err)
	}
	open(t, f.dsn("bob", f.token(t, iamauth.Endpoint{User: "bob"}, "", time.Now())))
	// The IAM users seeded before the front started, and a password user.
	for u, want := range map[string]string{"bob": asRDS, "app_user": asRDS, pwUser: "mysql_native_password " + mysqlwire.NativePasswordHash(pwPassword) + " " + mysqlwire.NativePasswordHash(pwPassword)} {
		if got := catalog(u); got != want {
			t.Errorf("%s: mysql.user shows %q, want %q", u, got, want)
		}
	}
}

// testGarbage sends malformed and oversized input; the front must close
// the connection (never hang, panic or leak), and keep serving.
func testGarbage(t *testing.T, f *fixture) {
	failedBefore := f.srv.Stats().Failed
	dialGreeted := func(t *testing.T) net.Conn {
		c, err := net.DialTimeout("tcp", f.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		p, _, err := mysqlwire.ReadPacket(c, mysqlwire.DefaultHandshakeMax)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mysqlwire.DecodeGreeting(p); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// expectClosed reads until EOF; an ERR packet before it is fine.
	expectClosed := func(t *testing.T, c net.Conn) {
		t.Helper()
		defer c.Close()
		n, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("front did not close the connection (read %d bytes)", n)
		}
	}
	ssl := (&mysqlwire.SSLRequest{Capabilities: mysqlwire.ClientProtocol41 | mysqlwire.ClientSecureConnection | mysqlwire.ClientPluginAuth}).Encode()
	cases := map[string][]byte{
		"16 MiB header":           {0xFF, 0xFF, 0xFF, 1},
		"70 KiB response":         append([]byte{0x00, 0x18, 0x01, 1}, bytes.Repeat([]byte{'A'}, 70<<10)...),
		"random bytes":            randomBytes(300),
		"wrong sequence":          {1, 0, 0, 7, 0},
		"short response":          {5, 0, 0, 1, 1, 2, 3, 4, 5},
		"SSLRequest then garbage": append(mustFrame(1, ssl), []byte("GET / HTTP/1.1\r\n\r\n")...),
		"pre-4.1 response":        mustFrame(1, append(make([]byte, 32), "root\x00"...)),
		"HTTP request":            []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			c := dialGreeted(t)
			c.Write(data)
			expectClosed(t, c)
		})
	}
	t.Run("silent client", func(t *testing.T) {
		c := dialGreeted(t) // the fixture's handshake timeout is 3 s
		start := time.Now()
		expectClosed(t, c)
		if el := time.Since(start); el > 6*time.Second {
			t.Errorf("closed after %v", el)
		}
	})
	t.Run("hang up mid-handshake", func(t *testing.T) {
		c := dialGreeted(t)
		c.Write([]byte{50, 0, 0, 1, 0x0F})
		c.Close()
	})
	// Still serving.
	open(t, f.dsn(pwUser, pwPassword))
	if got := f.srv.Stats().Failed - failedBefore; got < int64(len(cases)) {
		t.Errorf("Failed grew by %d, want at least %d", got, len(cases))
	}
}

func testNoLeaks(t *testing.T, f *fixture) {
	waitIdle := func() {
		for i := 0; ; i++ {
			if f.srv.Stats().Active == 0 && sessionGoroutines() == 0 {
				return
			}
			if i == 500 {
				t.Fatalf("after the sessions: Active = %d, %d session goroutines", f.srv.Stats().Active, sessionGoroutines())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitIdle()
	fds := openFDs()
	tok := f.token(t, iamauth.Endpoint{User: "app_user"}, "", time.Now())
	for i := 0; i < 50; i++ {
		switch i % 5 {
		case 0, 1: // IAM login and a query
			db := open(t, f.dsn("app_user", tok))
			queryString(t, db, "SELECT CURRENT_USER()")
			db.Close()
		case 2: // password login
			db := open(t, f.dsn(pwUser, pwPassword, withoutTLS))
			queryString(t, db, "SELECT 1")
			db.Close()
		case 3: // refused
			wantAccessDenied(t, loginErr(t, f.dsn("app_user", tamper(tok))), "app_user")
		case 4: // garbage after the greeting
			c, err := net.Dial("tcp", f.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.Write(randomBytes(64))
			c.Close()
		}
	}
	waitIdle()
	if now := openFDs(); fds >= 0 && now > fds+2 {
		t.Errorf("open fds %d -> %d: %s", fds, now, fdList())
	}
}

// openFDs counts this process's open sockets. (Pipes come and go with
// the runtime's splice pipe pool, which io.Copy between TCP connections
// uses, and are not counted.)
func openFDs() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	n := 0
	for _, e := range es {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

func fdList() string {
	es, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range es {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+"="+l)
	}
	return strings.Join(out, " ")
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func mustFrame(seq byte, p []byte) []byte {
	b, _ := mysqlwire.AppendPacket(nil, seq, p)
	return b
}
