package dbserver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/testpeer"
)

func TestPostgres(t *testing.T) {
	if !PostgresAvailable() {
		testpeer.Missing(t, "postgresql", "apt-get install postgresql")
	}
	ctx := context.Background()
	s, err := StartPostgres(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, s.AdminDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var one int
	if err := c.QueryRow(ctx, "select 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("select 1 = %d, %v", one, err)
	}
	if _, err := c.Exec(ctx, "CREATE ROLE someone LOGIN PASSWORD 'pw'"); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	// The socket needs the password too, from every role.
	socketAs := func(user, password string) (*pgx.Conn, error) {
		cfg, err := pgx.ParseConfig(s.AdminDSN("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.User, cfg.Password = user, password
		return pgx.ConnectConfig(ctx, cfg)
	}
	if c, err := socketAs(s.AdminUser, ""); err == nil {
		c.Close(ctx)
		t.Error("socket login as the superuser without a password succeeded")
	}
	if c, err := socketAs("someone", ""); err == nil {
		c.Close(ctx)
		t.Error("socket login as a role without its password succeeded")
	}
	if c, err := socketAs("someone", "pw"); err != nil {
		t.Errorf("socket login as a role with its password: %v", err)
	} else {
		c.Close(ctx)
	}
	// TCP needs the password.
	cfg, _ := pgx.ParseConfig("host=127.0.0.1 user=postgres dbname=postgres sslmode=disable")
	cfg.Port = uint16(s.Port)
	cfg.Password = "wrong"
	if c, err := pgx.ConnectConfig(ctx, cfg); err == nil {
		c.Close(ctx)
		t.Error("TCP login with a wrong password succeeded")
	}
	cfg.Password = s.AdminPassword
	c, err = pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("TCP login with the admin password: %v", err)
	}
	c.Close(ctx)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory left behind: %v", err)
	}
	if _, err := pgx.Connect(ctx, "host=127.0.0.1 port="+strconv.Itoa(s.Port)+" user=postgres sslmode=disable connect_timeout=2"); err == nil {
		t.Error("server still answers after Close")
	}
}

// startMariaDB starts a throwaway MariaDB that the test's end closes.
func startMariaDB(t *testing.T) *Server {
	t.Helper()
	if !MariaDBAvailable() {
		testpeer.Missing(t, "mariadb-server", "apt-get install mariadb-server")
	}
	s, err := StartMariaDB(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMariaDB(t *testing.T) {
	ctx := context.Background()
	s := startMariaDB(t)
	db := sql.OpenDB(mustConnector(t, s.MySQLConfig("")))
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "select @@version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	// No account but the locked mariadb.sys logs in without a password.
	var open sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT GROUP_CONCAT(CONCAT(User, '@', Host)) FROM mysql.global_priv
		WHERE COALESCE(JSON_EXTRACT(Priv, '$.account_locked'), 'false') <> 'true'
		AND (COALESCE(JSON_VALUE(Priv, '$.authentication_string'), '') = '' OR JSON_VALUE(Priv, '$.plugin') <> 'mysql_native_password')`).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if open.Valid {
		t.Errorf("accounts without a password: %s", open.String)
	}
	bad := s.MySQLConfig("")
	bad.Passwd = "wrong"
	db2 := sql.OpenDB(mustConnector(t, bad))
	defer db2.Close()
	if err := db2.PingContext(ctx); err == nil {
		t.Error("wrong root password accepted")
	}
}

// After RenameMariaDBAdmin the new name logs in (TCP, and the socket on
// Restart), root no longer does, and no root account is left.
func TestRenameMariaDBAdmin(t *testing.T) {
	ctx := context.Background()
	s := startMariaDB(t)
	root := s.MySQLConfig("")
	if err := s.RenameMariaDBAdmin(ctx, "rdsadmin"); err != nil {
		t.Fatal(err)
	}
	if s.AdminUser != "rdsadmin" {
		t.Errorf("AdminUser = %q", s.AdminUser)
	}
	check := func() {
		t.Helper()
		db := sql.OpenDB(mustConnector(t, s.MySQLConfig("")))
		defer db.Close()
		var who string
		var roots int
		if err := db.QueryRowContext(ctx, "SELECT current_user(), (SELECT count(*) FROM mysql.user WHERE User = 'root')").Scan(&who, &roots); err != nil {
			t.Fatal(err)
		}
		if who != "rdsadmin@127.0.0.1" || roots != 0 {
			t.Errorf("current_user %q, %d root accounts", who, roots)
		}
		old := sql.OpenDB(mustConnector(t, root))
		defer old.Close()
		if err := old.PingContext(ctx); err == nil {
			t.Error("root still logs in")
		}
	}
	check()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(ctx, false); err != nil { // readiness logs in over the socket
		t.Fatal(err)
	}
	check()
	pg := &Server{Engine: "postgres"}
	if err := pg.RenameMariaDBAdmin(ctx, "x"); err == nil {
		t.Error("RenameMariaDBAdmin on PostgreSQL did not fail")
	}
}

func mustConnector(t *testing.T, c *mysql.Config) driver.Connector {
	t.Helper()
	conn, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// Stop and Restart keep the data and the port; a Restart that finds its
// port taken fails, or moves with movePort.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		engine string
		start  func(context.Context, Options) (*Server, error)
		ok     func() bool
		exec   func(s *Server, q string) error
	}{
		{"postgres", StartPostgres, PostgresAvailable, func(s *Server, q string) error {
			c, err := pgx.Connect(ctx, s.AdminDSN("postgres"))
			if err != nil {
				return err
			}
			defer c.Close(ctx)
			_, err = c.Exec(ctx, q)
			return err
		}},
		{"mariadb", StartMariaDB, MariaDBAvailable, func(s *Server, q string) error {
			db := sql.OpenDB(mustConnector(t, s.MySQLConfig("mysql")))
			defer db.Close()
			_, err := db.ExecContext(ctx, q)
			return err
		}},
	} {
		t.Run(tc.engine, func(t *testing.T) {
			if !tc.ok() {
				testpeer.Missing(t, tc.engine, "apt-get install postgresql mariadb-server")
			}
			var said []string
			s, err := tc.start(ctx, Options{Logf: func(f string, a ...any) { said = append(said, fmt.Sprintf(f, a...)) }})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := tc.exec(s, "CREATE TABLE kept (x int)"); err != nil {
				t.Fatal(err)
			}
			pid, port := s.PID(), s.Port
			if err := s.Stop(); err != nil {
				t.Fatal(err)
			}
			if _, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial after Stop: %v, want connection refused", err)
			}
			if err := s.Stop(); err != nil {
				t.Fatalf("second Stop: %v", err)
			}
			if err := s.Restart(ctx, false); err != nil {
				t.Fatal(err)
			}
			if s.Port != port || s.PID() == pid || s.PID() == 0 {
				t.Fatalf("after Restart port %d -> %d, pid %d -> %d", port, s.Port, pid, s.PID())
			}
			if err := tc.exec(s, "SELECT * FROM kept"); err != nil {
				t.Fatalf("data after Restart: %v", err)
			}

			if err := s.Stop(); err != nil {
				t.Fatal(err)
			}
			l, err := net.Listen("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if err := s.Restart(ctx, false); err == nil || s.Port != port {
				t.Fatalf("Restart on a taken port without movePort: %v, port %d -> %d", err, port, s.Port)
			}
			if err := s.Restart(ctx, true); err != nil {
				t.Fatal(err)
			}
			if s.Port == port || len(said) != 1 {
				t.Fatalf("Restart with movePort: port %d -> %d, said %q", port, s.Port, said)
			}
			if err := tc.exec(s, "SELECT * FROM kept"); err != nil {
				t.Fatalf("data after moving: %v", err)
			}
		})
	}
}

// HBA lines come first, Conf overrides, and a Dir given is left to its
// owner.
func TestPostgresOptions(t *testing.T) {
	if !PostgresAvailable() {
		testpeer.Missing(t, "postgresql", "apt-get install postgresql")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "dbserver-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := StartPostgres(ctx, Options{Dir: dir, HBA: []string{"host all blocked 127.0.0.1/32 reject"}, TrustLocal: true,
		Conf: map[string]string{"max_connections": "42", "application_name": "it's quoted", "listen_addresses": "*"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, s.AdminDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var maxConn, app string
	if err := c.QueryRow(ctx, "SELECT current_setting('max_connections'), current_setting('application_name')").Scan(&maxConn, &app); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "CREATE ROLE blocked LOGIN PASSWORD 'pw'"); err != nil {
		t.Fatal(err)
	}
	var listen string
	if err := c.QueryRow(ctx, "SELECT current_setting('listen_addresses')").Scan(&listen); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	if maxConn != "42" || app != "it's quoted" || listen != "127.0.0.1" {
		t.Errorf("max_connections %q, application_name %q, listen_addresses %q", maxConn, app, listen)
	}
	// TrustLocal: other roles need no password on the socket, the
	// superuser still does.
	socketAs := func(user string) error {
		cfg, err := pgx.ParseConfig(s.AdminDSN("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.User, cfg.Password = user, ""
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			c.Close(ctx)
		}
		return err
	}
	if err := socketAs("blocked"); err != nil {
		t.Errorf("TrustLocal: socket login without a password: %v", err)
	}
	if err := socketAs(s.AdminUser); err == nil {
		t.Error("TrustLocal let the superuser in without its password")
	}
	if c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://blocked:pw@%s/postgres?sslmode=disable", s.Addr())); err == nil {
		c.Close(ctx)
		t.Error("HBA reject line ignored")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.DataDir); err != nil {
		t.Errorf("Close removed a directory it was given: %v", err)
	}
}
