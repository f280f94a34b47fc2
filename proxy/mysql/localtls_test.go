package mysql

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"strings"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/proxy"
)

// testLocalTLS: with a local certificate the proxy offers CLIENT_SSL, and
// the mariadb client (--ssl with the server's certificate verified) and
// go-sql-driver log in and work inside TLS.
func testLocalTLS(t *testing.T, b *backend) {
	ca := testharness.NewCA(t, "local CA")
	certFile, keyFile, _ := ca.Leaf(t, "", "localhost", "127.0.0.1")
	conf, err := proxy.LocalTLSConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	e := startEnv(t, b, envOptions{localTLS: conf})

	out, err := cli(t, e, "app_user", "appdb", "--ssl", "--ssl-ca="+ca.CertFile, "--ssl-verify-server-cert",
		"--execute=SELECT CURRENT_USER(); \\s").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "app_user@%\n") || !strings.Contains(string(out), "Cipher in use is TLS") {
		t.Errorf("mariadb --ssl --ssl-verify-server-cert: %v\n%s", err, out)
	}
	// Still plain for a client that does not ask.
	out, err = cli(t, e, "app_user", "appdb", "--execute=\\s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SSL:\t\t\tNot in use") {
		t.Errorf("mariadb --skip-ssl: %v\n%s", err, out)
	}

	if err := gomysql.RegisterTLSConfig("rdsgate-local", &tls.Config{ServerName: "localhost", RootCAs: ca.Pool}); err != nil {
		t.Fatal(err)
	}
	c := e.config("app_user")
	c.TLSConfig = "rdsgate-local"
	db := e.open(t, c)
	blob := make([]byte, 5<<20)
	_, _ = rand.Read(blob)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "INSERT INTO t (note, b) VALUES ('local tls', ?)", blob); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := db.QueryRowContext(ctx, "SELECT b FROM t WHERE note = 'local tls'").Scan(&got); err != nil || !bytes.Equal(got, blob) {
		t.Errorf("5 MiB blob over local TLS: %d bytes, %v", len(got), err)
	}
	if strings.Contains(e.frontLog.String(), "tls=false") {
		t.Error("an upstream login without TLS")
	}
}
