package testharness

import (
	"context"
	"database/sql"
	"net"
	"strconv"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/internal/serverproc"
)

// MariaDBOptions configures StartMariaDB.
type MariaDBOptions struct {
	// TLS sets ssl-cert, ssl-key (and ssl-ca) from these files; nil: no TLS.
	TLS *ServerTLS
	// Conf holds extra server settings (written to the private option
	// file's [mysqld] group after the harness's, so they win, but for
	// bind-address, socket and port). Values are written as key=value; an
	// empty value writes the bare key (a flag such as "skip-ssl").
	Conf map[string]string
}

// MariaDB is a running throwaway MariaDB server.
type MariaDB struct {
	Host         string // "127.0.0.1"
	Port         int
	Socket       string // unix socket path, in a 0700 directory
	RootPassword string // password of root@localhost, root@127.0.0.1 and root@'%'
	DataDir      string
	LogFile      string     // server error log (stderr)
	ConfigFile   string     // the private option file (--defaults-file)
	TLS          *ServerTLS // the copies the server uses; nil without TLS

	srv *dbserver.Server
}

// StartMariaDB installs a fresh data directory (mariadb-install-db) in a
// temporary directory and starts mariadbd with a private option file
// (nothing from /etc/mysql) on a free 127.0.0.1 port, as the "mysql" OS user
// when running as root. root gets a random password for every host
// (localhost, 127.0.0.1, '%') before the first connection; anonymous
// accounts are dropped. It returns once root can run SQL; t.Cleanup stops
// the server (SIGTERM, then SIGKILL to its process group) and removes the
// directory.
func StartMariaDB(t testing.TB, opts MariaDBOptions) *MariaDB {
	t.Helper()
	srv, _ := startDB(t, "mariadb", "mariadbd", dbserver.StartMariaDB, dbserver.Options{TLS: opts.TLS, Conf: opts.Conf})
	return &MariaDB{
		Host:         srv.Host,
		Port:         srv.Port,
		Socket:       srv.Socket,
		RootPassword: srv.AdminPassword,
		DataDir:      srv.DataDir,
		LogFile:      srv.LogFile,
		ConfigFile:   srv.ConfigFile,
		TLS:          srv.TLS,
		srv:          srv,
	}
}

// Addr returns "127.0.0.1:port".
func (m *MariaDB) Addr() string { return net.JoinHostPort(m.Host, strconv.Itoa(m.Port)) }

// PID returns mariadbd's process id.
func (m *MariaDB) PID() int { return m.srv.PID() }

// DSN returns a go-sql-driver/mysql DSN for root over TCP to database db
// ("" for none), without TLS and without parameters, so "?tls=<name>" can
// be appended. For TLS, register a tls.Config with
// mysql.RegisterTLSConfig and add "?tls=<name>" (or parse it with
// mysql.ParseDSN and set TLS).
func (m *MariaDB) DSN(db string) string {
	c := mysql.NewConfig()
	c.User = "root"
	c.Passwd = m.RootPassword
	c.Net = "tcp"
	c.Addr = m.Addr()
	c.DBName = db
	return c.FormatDSN()
}

// DB opens a database/sql handle for root over the unix socket to database
// db ("" for none), multi-statement enabled, closed at cleanup.
func (m *MariaDB) DB(t testing.TB, db string) *sql.DB {
	t.Helper()
	h, err := sql.Open("mysql", m.srv.AdminDSN(db))
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// Exec runs query (one or more statements) as root over the unix socket; it
// fails the test on error.
func (m *MariaDB) Exec(t testing.TB, query string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), serverproc.StartTimeout)
	defer cancel()
	db, err := sql.Open("mysql", m.srv.AdminDSN(""))
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, query); err != nil {
		t.Fatalf("testharness: mariadb: %v\nSQL: %s", err, query)
	}
}

// Stop shuts the server down (SIGTERM; SIGKILL to the process group after
// 20 s). Stopping a stopped server does nothing.
func (m *MariaDB) Stop(t testing.TB) {
	t.Helper()
	if err := m.srv.Stop(); err != nil {
		t.Fatalf("testharness: %v", err)
	}
}

// Restart stops the server if it runs and starts it again on the same port
// with the same data.
func (m *MariaDB) Restart(t testing.TB) {
	t.Helper()
	restart(t, m.srv, &m.Port, false)
}
