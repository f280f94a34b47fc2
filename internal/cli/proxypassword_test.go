package cli

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/sandbox"
)

// masterCredentials returns the sandbox PostgreSQL instance's master user,
// password and managed secret ARN.
func masterCredentials(t *testing.T, sb *sandbox.Sandbox) (user, password, arn string) {
	t.Helper()
	inst, ok := sb.Instance(sandbox.InstancePG)
	if !ok {
		t.Fatal("no PostgreSQL instance in the sandbox")
	}
	for _, s := range sb.World.Secrets {
		if s.ARN == inst.MasterSecretARN {
			var v struct{ Username, Password string }
			if err := json.Unmarshal([]byte(s.SecretString), &v); err != nil {
				t.Fatal(err)
			}
			return v.Username, v.Password, s.ARN
		}
	}
	t.Fatalf("no secret %s", inst.MasterSecretARN)
	return "", "", ""
}

// proxyPort finds the port a proxy command printed.
func proxyPort(t *testing.T, out *safeBuf) string {
	t.Helper()
	waitOutput(t, out, "GUI tools")
	m := regexp.MustCompile(`on 127\.0\.0\.1:(\d+) -> `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no address in:\n%s", out.String())
	}
	return m[1]
}

// TestProxyPasswordSecret: `rdsgate proxy --password-secret` logs in with
// the RDS managed master secret (read through the sandbox's Secrets
// Manager) instead of an IAM token; the front relays that to PostgreSQL's
// SCRAM. The same command serves local TLS (--local-cert) and uses direct
// TLS upstream (--ssl-negotiation direct), which the sandbox's front
// accepts as PostgreSQL 17 does.
func TestProxyPasswordSecret(t *testing.T) {
	sb := useSandbox(t, []string{"postgres"})
	master, password, arn := masterCredentials(t, sb)
	ca := testharness.NewCA(t, "local CA")
	certFile, keyFile, _ := ca.Leaf(t, "", "localhost", "127.0.0.1")
	logFile := filepath.Join(t.TempDir(), "sessions.jsonl")
	out := startCommand(t, "proxy", "demo-pg=0", "--password-secret", arn, "--local-cert", certFile, "--local-key", keyFile,
		"--ssl-negotiation", "direct", "--session-log", logFile, "--log-statements", "-v")
	port := proxyPort(t, out)
	for _, want := range []string{"with the password from Secrets Manager secret " + arn, "user=" + master, "sslmode=require"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("connection info lacks %q:\n%s", want, out.String())
		}
	}
	ctx := context.Background()
	dsn := "host=127.0.0.1 port=" + port + " user=" + master + " dbname=demo sslmode=verify-full sslrootcert=" + ca.CertFile
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("%s: %v", dsn, err)
	}
	var who string
	if err := c.QueryRow(ctx, "select current_user").Scan(&who); err != nil || who != master {
		t.Errorf("current_user = %q, %v", who, err)
	}
	if _, ok := c.PgConn().Conn().(*tls.Conn); !ok {
		t.Error("the local leg is not TLS")
	}
	c.Close(ctx)

	// The secret is the master user's: another user is told so.
	_, err = pgx.Connect(ctx, "host=127.0.0.1 port="+port+" user=app_user dbname=demo sslmode=require")
	if err == nil || !strings.Contains(err.Error(), `is database user "`+master+`"'s, not "app_user"'s`) {
		t.Errorf("app_user with the master secret: %v", err)
	}
	waitFor(t, func() bool {
		b, _ := os.ReadFile(logFile)
		return strings.Count(string(b), `"type":"session.end"`) == 2
	})
	b, _ := os.ReadFile(logFile)
	if strings.Contains(string(b)+out.String(), password) {
		t.Error("the password reached the session log or the output")
	}
}

// TestProxyPasswordFromConfig: a target declared with auth: password and
// password_env in the config file logs in with that password; a target
// with auth: password and no source is refused at startup.
func TestProxyPasswordFromConfig(t *testing.T) {
	sb := useSandbox(t, []string{"postgres"})
	master, password, _ := masterCredentials(t, sb)
	base, err := os.ReadFile(filepath.Join(sb.Dir, "rdsgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "rdsgate.yaml")
	text := string(base) + "  legacy-pg:\n    identifier: " + sandbox.InstancePG + "\n    user: " + master +
		"\n    auth: password\n    password_env: LEGACY_PG_PW\n    route:\n      via: ssm\n      bastion: " + sandbox.BastionID +
		"\n  nosource-pg:\n    identifier: " + sandbox.InstancePG + "\n    auth: password\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RDSGATE_CONFIG", cfg)
	t.Setenv("LEGACY_PG_PW", password)

	code, _, errOut := run(t, "proxy", "nosource-pg=0")
	if code != 2 || !strings.Contains(errOut, "nosource-pg: auth: password needs a password source") {
		t.Errorf("auth: password without a source: exit %d\n%s", code, errOut)
	}

	out := startCommand(t, "proxy", "legacy-pg=0", "-q")
	port := proxyPort(t, out)
	if !strings.Contains(out.String(), "with the password from environment variable LEGACY_PG_PW") {
		t.Errorf("connection info:\n%s", out.String())
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, "host=127.0.0.1 port="+port+" user="+master+" dbname=demo sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "select count(*) from orders").Scan(&n); err != nil || n != 3 {
		t.Errorf("orders: %d, %v", n, err)
	}
}

// TestProxyPasswordSecretMySQL: the same for MariaDB, whose front relays a
// password login to the server's mysql_native_password.
func TestProxyPasswordSecretMySQL(t *testing.T) {
	if !dbserver.MariaDBAvailable() {
		testpeer.Missing(t, "mariadb-server", "apt-get install mariadb-server")
	}
	sb := useSandbox(t, []string{"mysql"})
	inst, _ := sb.Instance(sandbox.InstanceMySQL)
	out := startCommand(t, "proxy", "demo-mysql=0", "--password-secret", inst.MasterSecretARN, "-q")
	port := proxyPort(t, out)
	c := mysql.NewConfig()
	c.User, c.Net, c.Addr, c.DBName = inst.MasterUser, "tcp", "127.0.0.1:"+port, "demo"
	conn, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var who string
	if err := db.QueryRow("SELECT CURRENT_USER()").Scan(&who); err != nil || !strings.HasPrefix(who, inst.MasterUser+"@") {
		t.Errorf("CURRENT_USER() = %q, %v\n%s", who, err, out.String())
	}
}
