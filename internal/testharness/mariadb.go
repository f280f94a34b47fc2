package testharness

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
)

const mariadbHow = "apt-get install mariadb-server (mariadbd in /usr/sbin, mariadb-install-db in /usr/bin)"

// MariaDBOptions configures StartMariaDB.
type MariaDBOptions struct {
	// TLS sets ssl-cert, ssl-key (and ssl-ca) from these files; nil: no TLS.
	TLS *ServerTLS
	// Conf holds extra server settings (written to the private option
	// file's [mysqld] group after the harness's, so they win). Values are
	// written as key=value; an empty value writes the bare key (a flag such
	// as "skip-ssl").
	Conf map[string]string
}

// MariaDB is a running throwaway MariaDB server.
type MariaDB struct {
	Host         string // "127.0.0.1"
	Port         int
	Socket       string // unix socket path
	RootPassword string // password of root@localhost, root@127.0.0.1 and root@'%'
	DataDir      string
	LogFile      string     // server error log (stderr)
	ConfigFile   string     // the private option file (--defaults-file)
	TLS          *ServerTLS // the copies the server uses; nil without TLS

	mariadbd   string
	user       osUser
	dir        string
	proc       *proc
	configured bool // root password set
}

// StartMariaDB installs a fresh data directory (mariadb-install-db) in a
// temporary directory and starts mariadbd with a private option file
// (nothing from /etc/mysql) on a free 127.0.0.1 port, as the "mysql" OS user
// when running as root. root gets a random password for every host
// (localhost, 127.0.0.1, '%'); anonymous accounts are dropped. It returns
// once root can run SQL; t.Cleanup stops the server (SIGTERM, then SIGKILL
// to its process group) and removes the directory.
func StartMariaDB(t testing.TB, opts MariaDBOptions) *MariaDB {
	t.Helper()
	mariadbd := findBinary(t, mariadbHow, []string{"mariadbd", "mysqld"}, "/usr/sbin", "/usr/libexec", "/usr/local/mysql/bin")
	installDB := findBinary(t, mariadbHow, []string{"mariadb-install-db", "mysql_install_db"}, "/usr/bin", "/usr/local/mysql/scripts")
	u := serverUser(t, "mysql", "the Debian mariadb-server package creates the mysql user")

	dir := peerDir(t, "mariadb")
	run := mkdirOwned(t, filepath.Join(dir, "run"), 0o755, u)
	m := &MariaDB{
		Host:         "127.0.0.1",
		Port:         FreePort(t),
		Socket:       filepath.Join(run, "mysqld.sock"),
		RootPassword: randHex(t, 16),
		DataDir:      mkdirOwned(t, filepath.Join(dir, "data"), 0o700, u),
		LogFile:      filepath.Join(dir, "mariadbd.log"),
		ConfigFile:   filepath.Join(dir, "my.cnf"),
		mariadbd:     mariadbd,
		user:         u,
		dir:          dir,
	}
	registerLogOnFailure(t, "mariadbd", m.LogFile)

	type kv struct{ k, v string }
	conf := []kv{
		{"datadir", m.DataDir},
		{"bind-address", "127.0.0.1"},
		{"socket", m.Socket},
		{"pid-file", filepath.Join(run, "mysqld.pid")},
		{"tmpdir", run},
		{"skip-log-bin", ""},
		{"skip-name-resolve", ""},
		{"innodb_buffer_pool_size", "16M"},
		{"innodb_log_file_size", "16M"},
		{"innodb_flush_log_at_trx_commit", "0"},
		{"innodb_doublewrite", "0"},
		{"performance_schema", "OFF"},
		{"max_connections", "200"},
	}
	if opts.TLS != nil {
		tlsDir := mkdirOwned(t, filepath.Join(dir, "tls"), 0o700, u)
		m.TLS = &ServerTLS{CertFile: filepath.Join(tlsDir, "server.crt"), KeyFile: filepath.Join(tlsDir, "server.key")}
		copyFile(t, opts.TLS.CertFile, m.TLS.CertFile, 0o644, u)
		copyFile(t, opts.TLS.KeyFile, m.TLS.KeyFile, 0o600, u)
		conf = append(conf, kv{"ssl-cert", m.TLS.CertFile}, kv{"ssl-key", m.TLS.KeyFile})
		if opts.TLS.CAFile != "" {
			m.TLS.CAFile = filepath.Join(tlsDir, "ca.crt")
			copyFile(t, opts.TLS.CAFile, m.TLS.CAFile, 0o644, u)
			conf = append(conf, kv{"ssl-ca", m.TLS.CAFile})
		}
	}
	extra := make([]string, 0, len(opts.Conf))
	for k := range opts.Conf {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	for _, k := range extra {
		conf = append(conf, kv{k, opts.Conf[k]})
	}
	var b strings.Builder
	b.WriteString("# rdsgate testharness\n[mysqld]\n")
	for _, c := range conf {
		if c.v == "" {
			fmt.Fprintf(&b, "%s\n", c.k)
		} else {
			fmt.Fprintf(&b, "%s=%s\n", c.k, c.v)
		}
	}
	writeFile(t, m.ConfigFile, []byte(b.String()), 0o644, osUser{})

	args := []string{"--defaults-file=" + m.ConfigFile, "--datadir=" + m.DataDir,
		"--auth-root-authentication-method=normal", "--skip-test-db"}
	if u.cred != nil {
		args = append(args, "--user="+u.name)
	}
	runSetup(t, nil, dir, serverEnv(dir), installDB, args...)

	t.Cleanup(func() {
		if m.proc != nil {
			if err := m.proc.stop(); err != nil {
				t.Errorf("testharness: %v", err)
			}
		}
	})
	m.start(t, true)
	return m
}

// start runs mariadbd on m.Port (given with --port, so the option file has
// no port line); newPort allows moving to another port if it is taken.
func (m *MariaDB) start(t testing.TB, newPort bool) {
	t.Helper()
	pw := ""
	if m.configured {
		pw = m.RootPassword
	}
	m.proc = startOnPort(t, &m.Port, newPort, func() (*proc, error) {
		pr := startProc(t, "mariadbd", m.LogFile, syscall.SIGTERM, &m.user, m.dir, serverEnv(m.dir),
			m.mariadbd, "--defaults-file="+m.ConfigFile, "--port="+strconv.Itoa(m.Port))
		// First the TCP handshake (protocol version 10), without the driver
		// so that startup noise stays out of the driver's global logger ...
		if err := pr.waitReady(func(ctx context.Context) error {
			return dialBanner(ctx, m.Addr(), func(b []byte) bool { return len(b) >= 5 && b[4] == 10 })
		}); err != nil {
			return pr, err
		}
		// ... then SQL over the socket.
		return pr, pr.waitReady(func(ctx context.Context) error {
			db, err := sql.Open("mysql", m.socketDSN(pw, ""))
			if err != nil {
				return err
			}
			defer db.Close()
			return db.PingContext(ctx)
		})
	})
	if !m.configured {
		m.setRootPassword(t)
		m.configured = true
	}
}

func (m *MariaDB) setRootPassword(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	db, err := sql.Open("mysql", m.socketDSN("", ""))
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rows, err := db.QueryContext(ctx, "SELECT user, host FROM mysql.user WHERE user IN ('root', '')")
	if err != nil {
		t.Fatalf("testharness: mariadb: %v", err)
	}
	type acct struct{ user, host string }
	var accts []acct
	for rows.Next() {
		var a acct
		if err := rows.Scan(&a.user, &a.host); err != nil {
			t.Fatalf("testharness: mariadb: %v", err)
		}
		accts = append(accts, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("testharness: mariadb: %v", err)
	}
	rows.Close()
	pw := quoteMySQL(m.RootPassword)
	// Accounts for the machine's host name (and anonymous ones, if any) are
	// dropped from the grant table directly: with skip-name-resolve the
	// server ignores them, so ALTER/DROP USER would fail on them.
	stmts := []string{
		"DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host NOT IN ('localhost', '127.0.0.1', '::1', '%'))",
		"FLUSH PRIVILEGES",
		"CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY " + pw,
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION",
		"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY " + pw,
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
	}
	for _, a := range accts {
		if a.user == "root" && (a.host == "127.0.0.1" || a.host == "::1" || a.host == "localhost") {
			stmts = append(stmts, fmt.Sprintf("ALTER USER 'root'@%s IDENTIFIED BY %s", quoteMySQL(a.host), pw))
		}
	}
	// root@localhost may get its password last: this connection stays open.
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("testharness: mariadb setup: %v\nSQL: %s", err, strings.ReplaceAll(s, m.RootPassword, "<password>"))
		}
	}
}

func quoteMySQL(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

func (m *MariaDB) socketDSN(pw, db string) string {
	c := mysql.NewConfig()
	c.User = "root"
	c.Passwd = pw
	c.Net = "unix"
	c.Addr = m.Socket
	c.DBName = db
	c.MultiStatements = true
	return c.FormatDSN()
}

// Addr returns "127.0.0.1:port".
func (m *MariaDB) Addr() string { return net.JoinHostPort(m.Host, strconv.Itoa(m.Port)) }

// PID returns mariadbd's process id.
func (m *MariaDB) PID() int {
	if m.proc == nil {
		return 0
	}
	return m.proc.pid()
}

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
	h, err := sql.Open("mysql", m.socketDSN(m.RootPassword, db))
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
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	db, err := sql.Open("mysql", m.socketDSN(m.RootPassword, ""))
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
	if m.proc == nil {
		return
	}
	if err := m.proc.stop(); err != nil {
		t.Fatalf("testharness: %v", err)
	}
}

// Restart stops the server if it runs and starts it again on the same port
// with the same data.
func (m *MariaDB) Restart(t testing.TB) {
	t.Helper()
	m.Stop(t)
	m.start(t, false)
}
