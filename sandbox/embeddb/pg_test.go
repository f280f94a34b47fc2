package embeddb

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rdsgate/rdsgate/internal/testpeer"
)

// newDemo returns a DB seeded like the sandbox's demo database.
func newDemo(t *testing.T) *DB {
	t.Helper()
	d, err := Open("demo", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	if err := d.Exec(ctx, "demo", `CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, total numeric(10,2) NOT NULL);
INSERT INTO orders VALUES (1, 'Ada', 42.00), (2, 'Grace', 17.50), (3, 'Linus', 99.90)`); err != nil {
		t.Fatal(err)
	}
	d.AddAccount(Account{Name: "app_user", IAM: true})
	d.AddAccount(Account{Name: "master", Password: "s3cret-pw"})
	return d
}

// servePG serves the PostgreSQL face on a loopback port: trusted
// sessions when trusted, password sessions otherwise.
func servePG(t *testing.T, d *DB, trusted bool) (string, *PostgresServer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps := NewPostgresServer(d)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ps.Serve(ctx, c, trusted)
		}
	}()
	t.Cleanup(func() {
		cancel()
		ln.Close()
		<-done
		ps.Wait()
	})
	return ln.Addr().String(), ps
}

func pgConnect(t *testing.T, addr, user, password, db string) *pgx.Conn {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	cfg, err := pgx.ParseConfig("sslmode=disable host=" + host + " port=" + port)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Password, cfg.Database = user, password, db
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestPostgresFaceWithPgx(t *testing.T) {
	d := newDemo(t)
	addr, _ := servePG(t, d, false)
	c := pgConnect(t, addr, "master", "s3cret-pw", "demo")
	ctx := context.Background()

	var ce *pgconn.PgError
	if _, err := c.Exec(ctx, "select rolname from pg_roles"); !errors.As(err, &ce) || ce.Code != "0A000" || !strings.Contains(ce.Message, "--backend installed") {
		t.Errorf("catalog query: %v", err)
	}

	var user string
	var orders int64
	var total float64
	if err := c.QueryRow(ctx, "select current_user as db_user, count(*) as orders, sum(total) as total from orders").Scan(&user, &orders, &total); err != nil {
		t.Fatal(err)
	}
	if user != "master" || orders != 3 || total < 159.39 || total > 159.41 {
		t.Fatalf("got %q %d %v", user, orders, total)
	}

	var customer string
	if err := c.QueryRow(ctx, "SELECT customer FROM orders WHERE id = $1 AND total > $2", 2, 1.5).Scan(&customer); err != nil || customer != "Grace" {
		t.Fatalf("parameters: %q, %v", customer, err)
	}
	var db, version string
	if err := c.QueryRow(ctx, "select current_database(), version()").Scan(&db, &version); err != nil || db != "demo" || !strings.Contains(version, "PostgreSQL") {
		t.Fatalf("functions: %q %q %v", db, version, err)
	}

	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO orders VALUES ($1, $2, $3)", 4, "Barbara", 5); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, "select count(*) from orders").Scan(&orders); err != nil || orders != 3 {
		t.Fatalf("after rollback: %d, %v", orders, err)
	}
	tag, err := c.Exec(ctx, "UPDATE orders SET total = total + 1 WHERE id > 1")
	if err != nil || tag.String() != "UPDATE 2" {
		t.Fatalf("update: %q %v", tag, err)
	}

	_, err = c.Exec(ctx, "SELECT * FROM no_such_table")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42P01" || !strings.Contains(pe.Hint, "install postgresql") {
		t.Fatalf("missing table: %v (hint %q)", err, pe.Hint)
	}
	// The session is usable after an error.
	if err := c.QueryRow(ctx, "select 1").Scan(&orders); err != nil || orders != 1 {
		t.Fatalf("after error: %v", err)
	}

	// The simple protocol, several statements at once.
	res, err := c.PgConn().Exec(ctx, "select 'a' as x; select 2 as y, 'z'").ReadAll()
	if err != nil || len(res) != 2 || string(res[1].Rows[0][1]) != "z" {
		t.Fatalf("multi-statement: %v %v", res, err)
	}
}

func TestPostgresFaceRefusals(t *testing.T) {
	d := newDemo(t)
	addr, _ := servePG(t, d, false)
	host, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct {
		name, user, password, db, code string
	}{
		{"wrong password", "master", "nope", "demo", "28P01"},
		{"no password for an IAM user", "app_user", "x", "demo", "28P01"},
		{"unknown role", "mallory", "x", "demo", "28000"},
		{"unknown database", "master", "s3cret-pw", "nodb", "3D000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := pgx.ParseConfig("sslmode=disable host=" + host + " port=" + port)
			cfg.User, cfg.Password, cfg.Database = tc.user, tc.password, tc.db
			_, err := pgx.ConnectConfig(context.Background(), cfg)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("want SQLSTATE %s, got %v", tc.code, err)
			}
		})
	}
}

func TestPostgresFaceTrusted(t *testing.T) {
	d := newDemo(t)
	addr, _ := servePG(t, d, true)
	c := pgConnect(t, addr, "app_user", "", "demo")
	var u string
	if err := c.QueryRow(context.Background(), "select current_user").Scan(&u); err != nil || u != "app_user" {
		t.Fatalf("%q %v", u, err)
	}
}

func TestPostgresFaceWithPsql(t *testing.T) {
	psql := testpeer.LookPath(t, "apt-get install postgresql-client", "psql")
	d := newDemo(t)
	addr, _ := servePG(t, d, false)
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(psql, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"host="+host+" port="+port+" user=master dbname=demo sslmode=disable",
		"-c", "select customer, total from orders order by id", "-c", "select current_user")
	cmd.Env = append(cmd.Environ(), "PGPASSWORD=s3cret-pw")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	want := "Ada|42\nGrace|17.5\nLinus|99.9\nmaster\n"
	if string(out) != want {
		t.Fatalf("psql printed %q, want %q", out, want)
	}
}
