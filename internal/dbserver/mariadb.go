package dbserver

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rdsgate/rdsgate/internal/serverproc"
)

const mariadbHow = "apt-get install mariadb-server (mariadbd in /usr/sbin, mariadb-install-db in /usr/bin)"

// MariaDBAvailable reports whether MariaDB server binaries are installed.
func MariaDBAvailable() bool {
	_, _, err := mariadbBinaries()
	return err == nil
}

func mariadbBinaries() (mariadbd, installDB string, err error) {
	mariadbd, err = serverproc.FindBinary([]string{"mariadbd", "mysqld"}, "/usr/sbin", "/usr/libexec", "/usr/local/mysql/bin")
	if err != nil {
		return "", "", &MissingError{What: "mariadbd", How: mariadbHow}
	}
	installDB, err = serverproc.FindBinary([]string{"mariadb-install-db", "mysql_install_db"}, "/usr/bin", "/usr/local/mysql/scripts")
	if err != nil {
		return "", "", &MissingError{What: "mariadb-install-db", How: mariadbHow}
	}
	return mariadbd, installDB, nil
}

// StartMariaDB installs a fresh data directory (mariadb-install-db) and
// starts mariadbd with a private option file (nothing from /etc/mysql) on
// a free 127.0.0.1 port, as the "mysql" OS user when running as root, its
// socket in a 0700 directory. root gets AdminPassword for every host
// (localhost, 127.0.0.1, '%') before the server takes its first
// connection; anonymous accounts are dropped. It returns once root can run
// SQL.
func StartMariaDB(ctx context.Context, opts Options) (s *Server, err error) {
	mariadbd, installDB, err := mariadbBinaries()
	if err != nil {
		return nil, err
	}
	if s, err = newServer("mariadb", "mysql", "the Debian mariadb-server package creates the mysql user", opts); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = s.Close()
			s = nil
		}
	}()
	s.AdminUser, s.BinDir, s.stopSig = "root", filepath.Dir(mariadbd), syscall.SIGTERM
	run := filepath.Join(s.Dir, "run")
	s.Socket, s.DataDir = filepath.Join(run, "mysqld.sock"), filepath.Join(s.Dir, "data")
	s.LogFile, s.ConfigFile = filepath.Join(s.Dir, "mariadbd.log"), filepath.Join(s.Dir, "my.cnf")
	if err := s.acct.Mkdir(run, 0o700); err != nil {
		return s, err
	}
	if err := s.acct.Mkdir(s.DataDir, 0o700); err != nil {
		return s, err
	}

	type kv struct{ k, v string }
	conf := []kv{
		{"datadir", s.DataDir},
		{"pid-file", filepath.Join(run, "mysqld.pid")},
		{"tmpdir", run},
		{"skip-log-bin", ""},
		{"skip-name-resolve", ""},
		{"innodb_buffer_pool_size", "16M"},
		{"innodb_log_file_size", "16M"},
		{"innodb_flush_log_at_trx_commit", "0"},
		{"innodb_doublewrite", "0"},
		{"performance_schema", "OFF"},
		{"max_connections", "300"},
	}
	if opts.TLS != nil {
		if err := s.copyTLS(opts.TLS); err != nil {
			return s, err
		}
		conf = append(conf, kv{"ssl-cert", s.TLS.CertFile}, kv{"ssl-key", s.TLS.KeyFile})
		if s.TLS.CAFile != "" {
			conf = append(conf, kv{"ssl-ca", s.TLS.CAFile})
		}
	}
	extra := make([]string, 0, len(opts.Conf))
	for k := range opts.Conf {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	for _, k := range extra {
		if k != "bind-address" && k != "socket" && k != "port" {
			conf = append(conf, kv{k, opts.Conf[k]})
		}
	}
	// Where the server can be reached is not for opts.Conf to widen.
	conf = append(conf, kv{"bind-address", "127.0.0.1"}, kv{"socket", s.Socket})
	var b strings.Builder
	b.WriteString("# rdsgate dbserver\n[mysqld]\n")
	for _, c := range conf {
		if c.v == "" {
			fmt.Fprintf(&b, "%s\n", c.k)
		} else {
			fmt.Fprintf(&b, "%s=%s\n", c.k, c.v)
		}
	}
	if err := s.acct.WriteFile(s.ConfigFile, []byte(b.String()), 0o600); err != nil {
		return s, err
	}

	args := []string{"--defaults-file=" + s.ConfigFile, "--datadir=" + s.DataDir,
		"--auth-root-authentication-method=normal", "--skip-test-db"}
	if s.acct.Cred != nil {
		args = append(args, "--user="+s.acct.Name)
	}
	// mariadb-install-db runs as root and switches to --user itself.
	if _, err := serverproc.RunSetup(ctx, serverproc.Account{}, s.Dir, serverproc.Env(s.Dir), installDB, args...); err != nil {
		return s, fmt.Errorf("mariadb: %w", err)
	}

	// Right after install root has no password: the first start sets it
	// from an init file, run before the server takes connections.
	initFile := filepath.Join(run, "init.sql")
	if err := s.acct.WriteFile(initFile, []byte(s.rootPasswordSQL()), 0o600); err != nil {
		return s, fmt.Errorf("mariadb: write the init file: %w", err)
	}
	defer os.Remove(initFile)
	first := true
	// The port is given with --port, so the option file has no port line.
	s.argv = func() []string {
		argv := []string{mariadbd, "--defaults-file=" + s.ConfigFile, "--port=" + strconv.Itoa(s.Port)}
		if first {
			argv = append(argv, "--init-file="+initFile)
		}
		return argv
	}
	s.ready = func(ctx context.Context, p *serverproc.Process) error {
		// First the TCP handshake (protocol version 10), without the driver
		// so that startup noise stays out of the driver's global logger ...
		if err := p.WaitReady(ctx, func(ctx context.Context) error {
			return serverproc.ReadGreeting(ctx, s.Addr(), func(b []byte) bool { return len(b) >= 5 && b[4] == 10 })
		}); err != nil {
			return err
		}
		// ... then SQL over the socket, which is then made private too.
		if err := p.WaitReady(ctx, func(ctx context.Context) error {
			db, err := sql.Open("mysql", s.AdminDSN(""))
			if err != nil {
				return err
			}
			defer db.Close()
			return db.PingContext(ctx)
		}); err != nil {
			return err
		}
		// mariadbd makes its socket 0777 and has no setting for that; the
		// directory keeps others out meanwhile.
		if err := os.Chmod(s.Socket, socketMode); err != nil {
			return fmt.Errorf("make the socket private: %w", err)
		}
		return nil
	}
	if err := s.start(ctx, true); err != nil {
		return s, err
	}
	first = false
	if err := os.Remove(initFile); err != nil {
		return s, fmt.Errorf("mariadb: remove the init file: %w", err)
	}
	return s, nil
}

// rootPasswordSQL gives root AdminPassword on localhost, 127.0.0.1, ::1
// (where those accounts exist) and '%', and drops anonymous and host-name
// accounts: the init file of the first start, one statement a line.
func (s *Server) rootPasswordSQL() string {
	pw := quoteMySQL(s.AdminPassword)
	// Accounts for the machine's host name (and anonymous ones, if any) are
	// dropped from the grant table directly: with skip-name-resolve the
	// server ignores them, so ALTER/DROP USER would fail on them.
	return strings.Join([]string{
		"DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host NOT IN ('localhost', '127.0.0.1', '::1', '%'));",
		"FLUSH PRIVILEGES;",
		"ALTER USER IF EXISTS 'root'@'localhost' IDENTIFIED BY " + pw + ";",
		"ALTER USER IF EXISTS 'root'@'::1' IDENTIFIED BY " + pw + ";",
		"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY " + pw + ";",
		"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY " + pw + ";",
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;",
		"CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY " + pw + ";",
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;",
	}, "\n") + "\n"
}

func quoteMySQL(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// socketDSN is the superuser with password pw over the unix socket to
// database db.
func (s *Server) socketDSN(pw, db string) string {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = s.AdminUser, pw, "unix", s.Socket, db
	c.MultiStatements = true
	return c.FormatDSN()
}

// MySQLConfig is a go-sql-driver config for the superuser over TCP.
func (s *Server) MySQLConfig(db string) *mysql.Config {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = s.AdminUser, s.AdminPassword, "tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), db
	c.Timeout = 10 * time.Second
	c.MultiStatements = true
	return c
}

// RenameMariaDBAdmin gives the superuser another name, as RDS names its own
// rdsadmin@localhost: root@localhost and root@127.0.0.1 become
// name@localhost and name@127.0.0.1 (the unix socket and TCP logins
// MySQLConfig and the readiness check use), root@'%' and root@::1 are
// dropped, and AdminUser becomes name.
func (s *Server) RenameMariaDBAdmin(ctx context.Context, name string) error {
	if s.Engine != "mariadb" {
		return fmt.Errorf("dbserver: RenameMariaDBAdmin on a %s server", s.Engine)
	}
	db, err := sql.Open("mysql", s.MySQLConfig("").FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	n := quoteMySQL(name)
	for _, q := range []string{
		"RENAME USER 'root'@'localhost' TO " + n + "@'localhost', 'root'@'127.0.0.1' TO " + n + "@'127.0.0.1'",
		"DROP USER IF EXISTS 'root'@'%', 'root'@'::1'",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mariadb: rename the superuser to %s: %w", name, err)
		}
	}
	s.AdminUser = name
	return nil
}
