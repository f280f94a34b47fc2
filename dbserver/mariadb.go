package dbserver

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MariaDBAvailable reports whether MariaDB server binaries are installed.
func MariaDBAvailable() bool {
	_, err1 := findBinary([]string{"mariadbd", "mysqld"}, "/usr/sbin")
	_, err2 := findBinary([]string{"mariadb-install-db", "mysql_install_db"}, "/usr/bin")
	return err1 == nil && err2 == nil
}

// StartMariaDB installs a fresh data directory and starts mariadbd on
// 127.0.0.1; root has AdminPassword on the socket and over TCP.
func StartMariaDB(ctx context.Context, opts Options) (s *Server, err error) {
	mariadbd, err := findBinary([]string{"mariadbd", "mysqld"}, "/usr/sbin")
	if err != nil {
		return nil, fmt.Errorf("mariadb: %w (apt-get install mariadb-server)", err)
	}
	installDB, err := findBinary([]string{"mariadb-install-db", "mysql_install_db"}, "/usr/bin")
	if err != nil {
		return nil, fmt.Errorf("mariadb: %w (apt-get install mariadb-server)", err)
	}
	acct, err := serverAccount("mysql")
	if err != nil {
		return nil, err
	}
	dir, err := makeDir(opts.BaseDir, "rdsgate-mariadb-")
	if err != nil {
		return nil, err
	}
	s = &Server{Engine: "mariadb", Host: "127.0.0.1", AdminUser: "root", AdminPassword: randomHex(16),
		Dir: dir, LogFile: filepath.Join(dir, "mariadbd.log")}
	defer func() {
		if err != nil {
			_ = s.Close()
			s = nil
		}
	}()
	runDir, data := filepath.Join(dir, "run"), filepath.Join(dir, "data")
	for _, d := range []string{runDir, data} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return s, err
		}
	}
	if err := acct.chown(runDir, data); err != nil {
		return s, err
	}
	s.Socket = filepath.Join(runDir, "mysqld.sock")
	cnf := filepath.Join(dir, "my.cnf")
	conf := strings.Join([]string{"[mysqld]", "datadir=" + data, "bind-address=127.0.0.1", "socket=" + s.Socket,
		"pid-file=" + filepath.Join(runDir, "mysqld.pid"), "tmpdir=" + runDir, "skip-log-bin", "skip-name-resolve",
		"innodb_buffer_pool_size=32M", "innodb_log_file_size=16M", "innodb_flush_log_at_trx_commit=0",
		"innodb_doublewrite=0", "performance_schema=OFF", "max_connections=300", ""}, "\n")
	if err := os.WriteFile(cnf, []byte(conf), 0o644); err != nil {
		return s, err
	}
	args := []string{"--defaults-file=" + cnf, "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}
	if acct.cred != nil {
		args = append(args, "--user="+acct.name)
	}
	if err := run(ctx, account{}, dir, installDB, args...); err != nil {
		return s, err
	}
	if s.Port, err = freePort(); err != nil {
		return s, err
	}
	// Right after install root has no password on the socket.
	socketDSN := fmt.Sprintf("root@unix(%s)/", s.Socket)
	err = s.start(ctx, acct, func(ctx context.Context) error {
		db, err := sql.Open("mysql", socketDSN)
		if err != nil {
			return err
		}
		defer db.Close()
		return db.PingContext(ctx)
	}, mariadbd, "--defaults-file="+cnf, "--port="+strconv.Itoa(s.Port))
	if err != nil {
		return s, err
	}
	return s, s.setRootPassword(ctx, socketDSN)
}

// setRootPassword gives root a password on every loopback host and removes
// anonymous and host-name accounts, which skip-name-resolve cannot match.
func (s *Server) setRootPassword(ctx context.Context, socketDSN string) error {
	db, err := sql.Open("mysql", socketDSN+"?multiStatements=true")
	if err != nil {
		return err
	}
	defer db.Close()
	pw := strings.ReplaceAll(s.AdminPassword, "'", "''")
	stmts := []string{
		"DELETE FROM mysql.global_priv WHERE User='' OR (User='root' AND Host NOT IN ('localhost','127.0.0.1','::1'))",
		"FLUSH PRIVILEGES",
		fmt.Sprintf("ALTER USER 'root'@'localhost' IDENTIFIED BY '%s'", pw),
		fmt.Sprintf("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '%s'", pw),
		fmt.Sprintf("ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '%s'", pw),
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
		"FLUSH PRIVILEGES",
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mariadb: set root password: %w", err)
		}
	}
	return nil
}

// MySQLConfig is a go-sql-driver config for root over TCP.
func (s *Server) MySQLConfig(db string) *mysql.Config {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = "root", s.AdminPassword, "tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), db
	c.Timeout = 10 * time.Second
	c.MultiStatements = true
	return c
}
