package dbserver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"os"
	"strconv"
	"testing"

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
	c.Close(ctx)
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

func TestMariaDB(t *testing.T) {
	if !MariaDBAvailable() {
		testpeer.Missing(t, "mariadb-server", "apt-get install mariadb-server")
	}
	ctx := context.Background()
	s, err := StartMariaDB(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := sql.OpenDB(mustConnector(t, s.MySQLConfig("")))
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "select @@version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	bad := s.MySQLConfig("")
	bad.Passwd = "wrong"
	db2 := sql.OpenDB(mustConnector(t, bad))
	defer db2.Close()
	if err := db2.PingContext(ctx); err == nil {
		t.Error("wrong root password accepted")
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
