package dbserver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/serverproc"
)

const pgHow = "apt-get install postgresql (initdb and postgres in /usr/lib/postgresql/<version>/bin or PATH)"

// pgBinDirEnv names the environment variable that, when set, is the
// directory of the PostgreSQL server binaries to use.
const pgBinDirEnv = "RDSGATE_PG_BINDIR"

// PostgresAvailable reports whether PostgreSQL server binaries are installed.
func PostgresAvailable() bool {
	_, err := pgBinDir()
	return err == nil
}

// StartPostgres initdb's a fresh cluster and starts postgres on a free
// 127.0.0.1 port, as the "postgres" OS user when running as root: its unix
// socket private (0700 directory and socket), SCRAM everywhere but for
// roles other than the superuser on the socket with opts.TrustLocal
// (opts.HBA in between, see Options), fsync and friends off, a small
// shared_buffers, timezone UTC, ssl when opts.TLS is set, then opts.Conf.
// It returns once the superuser gets in over the socket.
func StartPostgres(ctx context.Context, opts Options) (s *Server, err error) {
	binDir, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	if s, err = newServer("postgres", "postgres", "the Debian postgresql package creates the postgres user", opts); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = s.Close()
			s = nil
		}
	}()
	s.AdminUser, s.BinDir, s.stopSig = "postgres", binDir, syscall.SIGINT // fast shutdown
	s.Socket, s.DataDir = filepath.Join(s.Dir, "sock"), filepath.Join(s.Dir, "data")
	s.LogFile = filepath.Join(s.Dir, "postgres.log")
	if err := s.acct.Mkdir(s.Socket, 0o700); err != nil {
		return s, err
	}
	if err := s.acct.Mkdir(s.DataDir, 0o700); err != nil {
		return s, err
	}
	if err := s.initdb(ctx); err != nil {
		return s, err
	}

	conf := map[string]string{
		"fsync":               "off",
		"synchronous_commit":  "off",
		"full_page_writes":    "off",
		"shared_buffers":      "16MB",
		"max_connections":     "200",
		"max_wal_size":        "64MB",
		"logging_collector":   "off",
		"log_timezone":        "UTC",
		"timezone":            "UTC",
		"password_encryption": "scram-sha-256",
	}
	if opts.TLS != nil {
		if err := s.copyTLS(opts.TLS); err != nil {
			return s, err
		}
		conf["ssl"], conf["ssl_cert_file"], conf["ssl_key_file"] = "on", s.TLS.CertFile, s.TLS.KeyFile
		if s.TLS.CAFile != "" {
			conf["ssl_ca_file"] = s.TLS.CAFile
		}
	}
	for k, v := range opts.Conf {
		conf[k] = v
	}
	// Where the server can be reached is not for opts.Conf to widen.
	conf["listen_addresses"] = "127.0.0.1"
	conf["unix_socket_directories"] = s.Socket
	conf["unix_socket_permissions"] = fmt.Sprintf("%04o", socketMode)
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("\n# rdsgate dbserver\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = '%s'\n", k, strings.ReplaceAll(conf[k], "'", "''"))
	}
	if err := appendFile(filepath.Join(s.DataDir, "postgresql.conf"), b.String()); err != nil {
		return s, err
	}
	// The superuser's line comes first, so that neither opts.HBA nor
	// TrustLocal lets it in without its password.
	hba := []string{"# rdsgate dbserver", "local all " + s.AdminUser + " scram-sha-256"}
	hba = append(hba, opts.HBA...)
	local := "scram-sha-256"
	if opts.TrustLocal {
		local = "trust"
	}
	hba = append(hba, "local all all "+local, "host  all all 127.0.0.1/32 scram-sha-256")
	if err := s.acct.WriteFile(filepath.Join(s.DataDir, "pg_hba.conf"), []byte(strings.Join(hba, "\n")+"\n"), 0o600); err != nil {
		return s, err
	}

	// The port is given with -p, so postgresql.conf has no port line.
	s.argv = func() []string {
		return []string{filepath.Join(binDir, "postgres"), "-D", s.DataDir, "-p", strconv.Itoa(s.Port)}
	}
	s.ready = func(ctx context.Context, p *serverproc.Process) error {
		return p.WaitReady(ctx, func(ctx context.Context) error {
			c, err := pgx.Connect(ctx, s.AdminDSN("postgres"))
			if err != nil {
				return err
			}
			defer c.Close(context.Background())
			return c.Ping(ctx)
		})
	}
	return s, s.start(ctx, true)
}

// initdb makes the cluster with the superuser's password. initdb reads it
// from a file only: the file is 0600 in the private socket directory and
// removed right after.
func (s *Server) initdb(ctx context.Context) error {
	pwFile := filepath.Join(s.Socket, "initdb-pwfile")
	if err := s.acct.WriteFile(pwFile, []byte(s.AdminPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("postgres: write the password file for initdb: %w", err)
	}
	err := s.setup(ctx, filepath.Join(s.BinDir, "initdb"), "-D", s.DataDir, "--username="+s.AdminUser, "--pwfile="+pwFile,
		"--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if rmErr := os.Remove(pwFile); rmErr != nil && err == nil {
		err = fmt.Errorf("remove initdb's password file: %w", rmErr)
	}
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// AdminDSN is the superuser with its password over the unix socket to
// database db: PostgreSQL a keyword/value DSN (no TLS), MariaDB a
// go-sql-driver/mysql DSN (multi-statement). It holds the password: keep it
// out of logs and messages.
func (s *Server) AdminDSN(db string) string {
	if s.Engine == "mariadb" {
		return s.socketDSN(s.AdminPassword, db)
	}
	return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable connect_timeout=10",
		dsnValue(s.Socket), s.Port, dsnValue(s.AdminUser), dsnValue(s.AdminPassword), dsnValue(db))
}

// dsnValue quotes v for a libpq keyword/value DSN.
func dsnValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// pgBinDir returns the directory of initdb and postgres: pgBinDirEnv if
// set, else Debian's newest /usr/lib/postgresql/<version>/bin (Debian
// keeps the server binaries out of PATH), else initdb's directory in PATH
// (other distributions, Homebrew) or /usr/local/pgsql/bin.
func pgBinDir() (string, error) {
	if env := os.Getenv(pgBinDirEnv); env != "" {
		return env, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(matches, func(i, j int) bool { return pgVersion(matches[i]) > pgVersion(matches[j]) })
	for _, d := range matches {
		if serverproc.IsExecutable(filepath.Join(d, "initdb")) && serverproc.IsExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	initdb, err := serverproc.FindBinary([]string{"initdb"}, "/usr/local/pgsql/bin")
	if err != nil {
		return "", &MissingError{What: "initdb", How: pgHow}
	}
	d := filepath.Dir(initdb)
	if !serverproc.IsExecutable(filepath.Join(d, "postgres")) {
		return "", &MissingError{What: "postgres", How: pgHow}
	}
	return d, nil
}

func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
