package dbpath_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/rdsca"
	"github.com/rdsgate/rdsgate/sandbox"
)

// The examples run against rdsgate's sandbox, a local stand-in for AWS
// (RDS, STS, Session Manager and a bastion) with real PostgreSQL and
// MariaDB servers behind RDS-like fronts (or its embedded engine where
// those are not installed). TestMain points the AWS SDK at it the way a
// developer's environment would point at an account: a profile, a region
// and, for the sandbox only, its CA bundle.
func TestMain(m *testing.M) {
	os.Exit(runWithSandbox(m))
}

// sb is the sandbox TestMain started, for tests that need its addresses.
var sb *sandbox.Sandbox

func runWithSandbox(m *testing.M) int {
	dir, err := os.MkdirTemp("", "dbpath-examples-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sb, err = sandbox.Start(context.Background(), sandbox.Options{Dir: dir})
	if err != nil {
		log.Fatalf("start the sandbox: %v", err)
	}
	defer sb.Close()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":             filepath.Join(sb.Dir, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(sb.Dir, "aws-credentials"),
		"AWS_PROFILE":                 sandbox.ProfileAdmin,
		"AWS_EC2_METADATA_DISABLED":   "true",
		rdsca.EnvBundle:               sb.CAFile, // real RDS: the RDS bundle, fetched and cached
	} {
		os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL"} {
		os.Unsetenv(k)
	}
	return m.Run()
}

// A Go program reaches a private PostgreSQL on RDS through a Session
// Manager bastion: IAM authentication (no password anywhere), TLS verified
// against the RDS certificate authority, and database/sql on top.
func Example() {
	ctx := context.Background()
	path, err := dbpath.Open(ctx, dbpath.Spec{
		Name:     "demo-pg", // an RDS instance or cluster identifier
		User:     "app_user",
		Database: "demo",
		Route:    dbpath.Route{Via: "ssm", Bastion: sandbox.BastionID},
	}, dbpath.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer path.Close()

	local, err := path.Serve(ctx, dbpath.LocalOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()
	db, err := local.OpenDB("app_user", "demo")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	var who string
	var orders int
	if err := db.QueryRowContext(ctx, "select current_user, (select count(*) from orders)").Scan(&who, &orders); err != nil {
		log.Fatal(err)
	}
	fmt.Println(who, orders)
	// Output: app_user 3
}

// The same for MySQL or MariaDB: the path is the same, the driver is
// go-sql-driver/mysql.
func Example_mySQL() {
	ctx := context.Background()
	path, err := dbpath.Open(ctx, dbpath.Spec{
		Name:     "demo-mysql",
		User:     "app_user",
		Database: "demo",
		Route:    dbpath.Route{Via: "ssm", Bastion: sandbox.BastionID},
	}, dbpath.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer path.Close()
	local, err := path.Serve(ctx, dbpath.LocalOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()
	db, err := local.OpenDB("app_user", "demo")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	var orders int
	if err := db.QueryRowContext(ctx, "select count(*) from orders").Scan(&orders); err != nil {
		log.Fatal(err)
	}
	fmt.Println(orders)
	// Output: 3
}

// A pgx pool connects to the Local's socket: each new connection in the pool
// is a fresh IAM login upstream, with the token cached and renewed by the
// Local, never seen by the program.
func ExampleLocal_Socket() {
	ctx := context.Background()
	path, err := dbpath.Open(ctx, dbpath.Spec{Name: "demo-pg", Route: dbpath.Route{Via: "ssm", Bastion: sandbox.BastionID}}, dbpath.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer path.Close()
	local, err := path.Serve(ctx, dbpath.LocalOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()

	cfg, err := pgxpool.ParseConfig("user=app_user dbname=demo sslmode=disable pool_max_conns=4")
	if err != nil {
		log.Fatal(err)
	}
	cfg.ConnConfig.Host = filepath.Dir(local.Socket()) // the socket's directory, as libpq takes it
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	var total int
	if err := pool.QueryRow(ctx, "select count(*) from orders").Scan(&total); err != nil {
		log.Fatal(err)
	}
	fmt.Println(total)
	// Output: 3
}
