package testharness_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/testharness"
)

const rdsName = "db.c0test.us-east-1.rds.amazonaws.com"

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pgVerifyFull connects like rdsgate will: the TLS name is the RDS name,
// the bytes go to 127.0.0.1.
func pgVerifyFull(ctx context.Context, pg *testharness.Postgres, ca *testharness.CA, name string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=postgres sslmode=verify-full sslrootcert=%s connect_timeout=10",
		name, pg.Port, pg.Superuser, pg.Password, ca.CertFile))
	if err != nil {
		return nil, err
	}
	cfg.LookupFunc = func(ctx context.Context, host string) ([]string, error) { return []string{"127.0.0.1"}, nil }
	return pgx.ConnectConfig(ctx, cfg)
}

func TestPostgresTLS(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	ca := testharness.NewCA(t, "rdsgate test CA")
	certFile, keyFile, _ := ca.Leaf(t, "postgres", rdsName)
	start := time.Now()
	pg := testharness.StartPostgres(t, testharness.PostgresOptions{
		TLS: &testharness.ServerTLS{CertFile: certFile, KeyFile: keyFile, CAFile: ca.CertFile},
	})
	t.Logf("postgres with TLS started in %v", time.Since(start))

	c, err := pgVerifyFull(ctx, pg, ca, rdsName)
	if err != nil {
		t.Fatalf("verify-full connect: %v", err)
	}
	var one int
	var ssl bool
	if err := c.QueryRow(ctx, "SELECT 1, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&one, &ssl); err != nil {
		t.Fatal(err)
	}
	if one != 1 || !ssl {
		t.Fatalf("got %d, ssl=%v; want 1, ssl=true", one, ssl)
	}
	c.Close(ctx)

	// The name is really checked.
	if c, err := pgVerifyFull(ctx, pg, ca, "other.c0test.us-east-1.rds.amazonaws.com"); err == nil {
		c.Close(ctx)
		t.Fatal("verify-full with a name not in the certificate succeeded")
	}

	// DSN (sslmode=require) works too.
	c2, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatalf("DSN connect: %v", err)
	}
	if !c2.PgConn().Conn().(*tls.Conn).ConnectionState().HandshakeComplete {
		t.Fatal("DSN connection is not TLS")
	}
	c2.Close(ctx)

	// Stop: connection refused. Restart: back, same port.
	pg.Stop(t)
	if _, err := net.DialTimeout("tcp", pg.Addr(), 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after Stop: %v, want connection refused", err)
	}
	start = time.Now()
	pg.Restart(t)
	t.Logf("postgres restarted in %v", time.Since(start))
	c, err = pgVerifyFull(ctx, pg, ca, rdsName)
	if err != nil {
		t.Fatalf("connect after Restart: %v", err)
	}
	c.Close(ctx)
}

func TestPostgresPlain(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	start := time.Now()
	pg := testharness.StartPostgres(t, testharness.PostgresOptions{
		HBA:  []string{"host all blocked 127.0.0.1/32 reject"},
		Conf: map[string]string{"log_connections": "on", "application_name": "it's quoted"},
	})
	t.Logf("postgres started in %v", time.Since(start))
	if pg.Host != "127.0.0.1" || pg.Superuser != "postgres" || pg.Password == "" || pg.Port == 0 {
		t.Fatalf("bad fields: %+v", pg)
	}

	pg.Exec(t, "CREATE ROLE blocked LOGIN PASSWORD 'pw'; CREATE ROLE app LOGIN PASSWORD 'pw'; CREATE TABLE t (x int); INSERT INTO t VALUES (42)")

	c, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatalf("DSN connect: %v", err)
	}
	defer c.Close(ctx)
	var x int
	var logConn string
	if err := c.QueryRow(ctx, "SELECT x, current_setting('log_connections') FROM t").Scan(&x, &logConn); err != nil {
		t.Fatal(err)
	}
	if x != 42 || logConn != "on" {
		t.Fatalf("got %d %q", x, logConn)
	}

	// Default hba: scram over TCP for ordinary roles; extra lines come first.
	app := fmt.Sprintf("postgres://app:pw@%s/postgres?sslmode=disable", pg.Addr())
	if c, err := pgx.Connect(ctx, app); err != nil {
		t.Fatalf("app login: %v", err)
	} else {
		c.Close(ctx)
	}
	if c, err := pgx.Connect(ctx, strings.Replace(app, "app:pw", "app:wrong", 1)); err == nil {
		c.Close(ctx)
		t.Fatal("wrong password accepted")
	}
	if c, err := pgx.Connect(ctx, strings.Replace(app, "app:", "blocked:", 1)); err == nil {
		c.Close(ctx)
		t.Fatal("HBA reject line ignored")
	}
	// No TLS configured: sslmode=require must fail.
	if c, err := pgx.Connect(ctx, strings.Replace(pg.DSN("postgres"), "sslmode=disable", "sslmode=require", 1)); err == nil {
		c.Close(ctx)
		t.Fatal("TLS connection to a server without ssl succeeded")
	}
}

func TestMariaDBTLS(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	ca := testharness.NewCA(t, "rdsgate test CA")
	certFile, keyFile, _ := ca.Leaf(t, "mysql", rdsName)
	start := time.Now()
	m := testharness.StartMariaDB(t, testharness.MariaDBOptions{
		TLS:  &testharness.ServerTLS{CertFile: certFile, KeyFile: keyFile, CAFile: ca.CertFile},
		Conf: map[string]string{"max_connections": "77"},
	})
	t.Logf("mariadb with TLS started in %v", time.Since(start))

	m.Exec(t, "CREATE DATABASE app; CREATE TABLE app.t (x int); INSERT INTO app.t VALUES (7)")

	tlsName := "testharness-" + fmt.Sprint(time.Now().UnixNano())
	if err := mysql.RegisterTLSConfig(tlsName, &tls.Config{RootCAs: ca.Pool, ServerName: rdsName, MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mysql.DeregisterTLSConfig(tlsName) })
	db, err := sql.Open("mysql", m.DSN("app")+"?tls="+tlsName)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version, name, cipher string
	if err := db.QueryRowContext(ctx, "SELECT @@version").Scan(&version); err != nil {
		t.Fatalf("TLS query: %v", err)
	}
	if !strings.Contains(version, "MariaDB") {
		t.Fatalf("version %q does not contain MariaDB", version)
	}
	if err := db.QueryRowContext(ctx, "SHOW STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil {
		t.Fatal(err)
	}
	if cipher == "" {
		t.Fatal("Ssl_cipher is empty: not TLS")
	}
	var x, maxConn int
	if err := db.QueryRowContext(ctx, "SELECT x, @@max_connections FROM t").Scan(&x, &maxConn); err != nil {
		t.Fatal(err)
	}
	if x != 7 || maxConn != 77 {
		t.Fatalf("got x=%d max_connections=%d", x, maxConn)
	}
	t.Logf("%s, %s", version, cipher)

	// The name is really checked.
	badName := tlsName + "-bad"
	if err := mysql.RegisterTLSConfig(badName, &tls.Config{RootCAs: ca.Pool, ServerName: "other.example.com"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mysql.DeregisterTLSConfig(badName) })
	bad, _ := sql.Open("mysql", m.DSN("")+"?tls="+badName)
	defer bad.Close()
	if err := bad.PingContext(ctx); err == nil {
		t.Fatal("TLS with the wrong server name succeeded")
	}

	// Plain DSN over TCP works, a wrong password does not.
	plain, _ := sql.Open("mysql", m.DSN(""))
	defer plain.Close()
	if err := plain.PingContext(ctx); err != nil {
		t.Fatalf("plain DSN: %v", err)
	}
	wrong, _ := sql.Open("mysql", strings.Replace(m.DSN(""), m.RootPassword, "nope", 1))
	defer wrong.Close()
	if err := wrong.PingContext(ctx); err == nil {
		t.Fatal("wrong root password accepted")
	}

	m.Stop(t)
	if _, err := net.DialTimeout("tcp", m.Addr(), 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after Stop: %v, want connection refused", err)
	}
	start = time.Now()
	m.Restart(t)
	t.Logf("mariadb restarted in %v", time.Since(start))
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
}

func sshArgs(s *testharness.SSHD, key string, extra ...string) []string {
	args := []string{"-F", "/dev/null", "-i", key,
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile=" + s.KnownHostsFile, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10",
		"-p", fmt.Sprint(s.Port)}
	args = append(args, extra...)
	return append(args, s.User+"@"+s.Host)
}

func runSSH(t *testing.T, stdin []byte, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, errb.String())
	}
	return out.Bytes(), err
}

func TestSSHD(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client")
	}
	key, pub := testharness.GenerateSSHKey(t)
	other, otherPub := testharness.GenerateSSHKey(t)
	start := time.Now()
	s := testharness.StartSSHD(t, testharness.SSHDOptions{AuthorizedKeys: []string{pub}})
	t.Logf("sshd started in %v", time.Since(start))
	if !strings.HasPrefix(s.HostKeyPub, "ssh-ed25519 AAAA") || strings.Count(s.HostKeyPub, " ") != 1 {
		t.Fatalf("HostKeyPub = %q", s.HostKeyPub)
	}

	if _, err := runSSH(t, nil, append(sshArgs(s, key), "true")...); err != nil {
		t.Fatalf("ssh true: %v", err)
	}
	if _, err := runSSH(t, nil, append(sshArgs(s, other), "true")...); err == nil {
		t.Fatal("login with an unauthorized key succeeded")
	}
	s.AddAuthorizedKey(t, otherPub)
	if _, err := runSSH(t, nil, append(sshArgs(s, other), "true")...); err != nil {
		t.Fatalf("ssh with added key: %v", err)
	}

	// Port forwarding (ssh -W is a direct-tcpip channel, like a tunnel's dial).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("hello through the tunnel"))
	}()
	out, err := runSSH(t, nil, sshArgs(s, key, "-W", l.Addr().String())...)
	if err != nil || string(out) != "hello through the tunnel" {
		t.Fatalf("ssh -W: %q, %v", out, err)
	}

	hostKey := s.HostKeyPub
	port := s.Port
	start = time.Now()
	s.Restart(t)
	t.Logf("sshd restarted in %v", time.Since(start))
	if s.HostKeyPub != hostKey || s.Port != port {
		t.Fatal("Restart changed host key or port")
	}
	// StrictHostKeyChecking=yes against the saved known_hosts proves the
	// host key is the same.
	if _, err := runSSH(t, nil, append(sshArgs(s, key), "true")...); err != nil {
		t.Fatalf("ssh after Restart: %v", err)
	}
}

func TestMoto(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	start := time.Now()
	m := testharness.StartMoto(t)
	t.Logf("moto_server started in %v", time.Since(start))

	client := rds.NewFromConfig(m.AWSConfig())
	_, err := client.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier:            aws.String("orders-prod"),
		DBInstanceClass:                 aws.String("db.t3.micro"),
		Engine:                          aws.String("postgres"),
		AllocatedStorage:                aws.Int32(20),
		MasterUsername:                  aws.String("master"),
		MasterUserPassword:              aws.String("secret-password"),
		EnableIAMDatabaseAuthentication: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("CreateDBInstance: %v", err)
	}
	out, err := client.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{})
	if err != nil {
		t.Fatalf("DescribeDBInstances: %v", err)
	}
	if len(out.DBInstances) != 1 || aws.ToString(out.DBInstances[0].DBInstanceIdentifier) != "orders-prod" {
		t.Fatalf("DescribeDBInstances: %+v", out.DBInstances)
	}
	t.Logf("endpoint %s:%d", aws.ToString(out.DBInstances[0].Endpoint.Address), aws.ToInt32(out.DBInstances[0].Endpoint.Port))

	// The AWS CLI sees the same moto.
	var ident struct{ Account, Arn string }
	if err := json.Unmarshal(m.CLI(t, "sts", "get-caller-identity", "--output", "json"), &ident); err != nil {
		t.Fatal(err)
	}
	if ident.Account != "123456789012" {
		t.Fatalf("get-caller-identity: %+v", ident)
	}
	var dbs struct {
		DBInstances []struct{ DBInstanceIdentifier string }
	}
	if err := json.Unmarshal(m.CLI(t, "rds", "describe-db-instances", "--output", "json"), &dbs); err != nil {
		t.Fatal(err)
	}
	if len(dbs.DBInstances) != 1 || dbs.DBInstances[0].DBInstanceIdentifier != "orders-prod" {
		t.Fatalf("CLI describe-db-instances: %+v", dbs)
	}

	m.Reset(t)
	out, err = client.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{})
	if err != nil || len(out.DBInstances) != 0 {
		t.Fatalf("after Reset: %v, %d instances", err, len(out.DBInstances))
	}
}

// TestMotoAWSEnvSDK checks that AWSEnv alone points the Go SDK's default
// chain at moto (AWS_ENDPOINT_URL). Not parallel: it sets the environment.
func TestMotoAWSEnvSDK(t *testing.T) {
	m := testharness.StartMoto(t)
	for _, kv := range m.AWSEnv() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	ctx := ctxT(t)
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity via AWSEnv: %v", err)
	}
	if aws.ToString(id.Account) != "123456789012" {
		t.Fatalf("account %q", aws.ToString(id.Account))
	}
}

func TestFreePort(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 20; i++ {
		p := testharness.FreePort(t)
		if p <= 0 || p > 65535 || seen[p] {
			t.Fatalf("FreePort returned %d (seen before: %v)", p, seen[p])
		}
		seen[p] = true
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d not free: %v", p, err)
		}
		l.Close()
	}
}

func TestCALeaf(t *testing.T) {
	ca := testharness.NewCA(t, "test CA")
	_, _, cert := ca.Leaf(t, "", rdsName, "127.0.0.1")
	leaf := cert.Leaf
	if leaf == nil {
		t.Fatal("no parsed leaf")
	}
	for _, name := range []string{rdsName, "127.0.0.1"} {
		if _, err := leaf.Verify(x509VerifyOpts(ca, name)); err != nil {
			t.Errorf("verify %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509VerifyOpts(ca, "other.example.com")); err == nil {
		t.Error("leaf verified for a name it does not have")
	}
}

func x509VerifyOpts(ca *testharness.CA, name string) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: ca.Pool, DNSName: name}
}
