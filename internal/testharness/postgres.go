package testharness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/testpeer"
)

const pgHow = "apt-get install postgresql (initdb and postgres in /usr/lib/postgresql/<version>/bin or PATH)"

// ServerTLS names the PEM files a database server uses for TLS. CAFile is
// optional: the CA the server trusts for client certificates (PostgreSQL
// ssl_ca_file, MariaDB ssl-ca). The files are copied into the server's
// directory and given to its OS user, so any readable files will do.
type ServerTLS struct {
	CertFile, KeyFile, CAFile string
}

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// TLS turns ssl on with these files; nil leaves ssl off.
	TLS *ServerTLS
	// HBA lines are put before the default pg_hba.conf rules, which are
	//   local all all trust
	//   host  all all 127.0.0.1/32 scram-sha-256
	// ("host" matches TLS and plain connections). The harness itself needs
	// the superuser to get in over the unix socket: do not reject that.
	HBA []string
	// Conf holds extra postgresql.conf settings; they override the
	// harness's. Values are written quoted ('...'), which PostgreSQL accepts
	// for every type, so pass them bare: {"log_connections": "on"}. The
	// port is given on the command line (a "port" here is ignored); keep
	// listen_addresses and unix_socket_directories as they are.
	Conf map[string]string
}

// Postgres is a running throwaway PostgreSQL server.
type Postgres struct {
	Host      string // "127.0.0.1"
	Port      int
	SocketDir string // unix_socket_directories; trust auth for everyone there
	Superuser string // "postgres"
	Password  string // the superuser's password (SCRAM over TCP)
	DataDir   string
	LogFile   string     // server log (stderr)
	TLS       *ServerTLS // the copies the server uses; nil without TLS
	BinDir    string     // where initdb and postgres were found

	user osUser
	dir  string
	proc *proc
}

// StartPostgres initdb's a fresh cluster in a temporary directory and starts
// postgres on a free 127.0.0.1 port, as the "postgres" OS user when running
// as root. Settings: fsync and friends off, small shared_buffers, the unix
// socket in the temp dir, ssl when opts.TLS is set. It returns once a real
// connection over the socket succeeds; t.Cleanup stops the server (fast
// shutdown, then SIGKILL to its process group) and removes the directory.
func StartPostgres(t testing.TB, opts PostgresOptions) *Postgres {
	t.Helper()
	binDir := pgBinDir(t)
	u := serverUser(t, "postgres", "the Debian postgresql package creates the postgres user")

	dir := peerDir(t, "pg")
	p := &Postgres{
		Host:      "127.0.0.1",
		Port:      FreePort(t),
		SocketDir: mkdirOwned(t, filepath.Join(dir, "sock"), 0o755, u),
		Superuser: "postgres",
		Password:  randHex(t, 16),
		DataDir:   filepath.Join(dir, "data"),
		LogFile:   filepath.Join(dir, "postgres.log"),
		BinDir:    binDir,
		user:      u,
		dir:       dir,
	}
	mkdirOwned(t, p.DataDir, 0o700, u)
	pwFile := filepath.Join(dir, "pwfile")
	writeFile(t, pwFile, []byte(p.Password+"\n"), 0o600, u)
	registerLogOnFailure(t, "postgres", p.LogFile)

	runSetup(t, &u, dir, serverEnv(dir), filepath.Join(binDir, "initdb"),
		"-D", p.DataDir, "--username="+p.Superuser, "--pwfile="+pwFile,
		"--auth-local=trust", "--auth-host=scram-sha-256",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	_ = os.Remove(pwFile)

	conf := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": p.SocketDir,
		"fsync":                   "off",
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"shared_buffers":          "16MB",
		"max_connections":         "100",
		"max_wal_size":            "64MB",
		"logging_collector":       "off",
		"log_timezone":            "UTC",
		"timezone":                "UTC",
		"password_encryption":     "scram-sha-256",
	}
	if opts.TLS != nil {
		tlsDir := mkdirOwned(t, filepath.Join(dir, "tls"), 0o700, u)
		p.TLS = &ServerTLS{CertFile: filepath.Join(tlsDir, "server.crt"), KeyFile: filepath.Join(tlsDir, "server.key")}
		copyFile(t, opts.TLS.CertFile, p.TLS.CertFile, 0o644, u)
		copyFile(t, opts.TLS.KeyFile, p.TLS.KeyFile, 0o600, u)
		conf["ssl"] = "on"
		conf["ssl_cert_file"] = p.TLS.CertFile
		conf["ssl_key_file"] = p.TLS.KeyFile
		if opts.TLS.CAFile != "" {
			p.TLS.CAFile = filepath.Join(tlsDir, "ca.crt")
			copyFile(t, opts.TLS.CAFile, p.TLS.CAFile, 0o644, u)
			conf["ssl_ca_file"] = p.TLS.CAFile
		}
	}
	for k, v := range opts.Conf {
		conf[k] = v
	}
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("\n# rdsgate testharness\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = '%s'\n", k, strings.ReplaceAll(conf[k], "'", "''"))
	}
	appendFile(t, filepath.Join(p.DataDir, "postgresql.conf"), b.String())

	hba := append([]string{"# rdsgate testharness"}, opts.HBA...)
	hba = append(hba,
		"local all all trust",
		"host  all all 127.0.0.1/32 scram-sha-256",
	)
	writeFile(t, filepath.Join(p.DataDir, "pg_hba.conf"), []byte(strings.Join(hba, "\n")+"\n"), 0o600, u)

	t.Cleanup(func() {
		if p.proc != nil {
			if err := p.proc.stop(); err != nil {
				t.Errorf("testharness: %v", err)
			}
		}
	})
	p.start(t, true)
	return p
}

// start runs postgres on p.Port (given with -p, so postgresql.conf has no
// port line); newPort allows moving to another port if it is taken.
func (p *Postgres) start(t testing.TB, newPort bool) {
	t.Helper()
	p.proc = startOnPort(t, &p.Port, newPort, func() (*proc, error) {
		pr := startProc(t, "postgres", p.LogFile, syscall.SIGINT, &p.user, p.dir, serverEnv(p.dir),
			filepath.Join(p.BinDir, "postgres"), "-D", p.DataDir, "-p", strconv.Itoa(p.Port))
		return pr, pr.waitReady(func(ctx context.Context) error {
			c, err := pgx.Connect(ctx, p.SocketDSN("postgres"))
			if err != nil {
				return err
			}
			defer c.Close(context.Background())
			return c.Ping(ctx)
		})
	})
}

// Addr returns "127.0.0.1:port".
func (p *Postgres) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// PID returns the postmaster's process id (0 before the first start).
func (p *Postgres) PID() int {
	if p.proc == nil {
		return 0
	}
	return p.proc.pid()
}

// DSN returns a URL for the superuser over TCP to database db, for pgx or
// psql. Without TLS it says sslmode=disable; with TLS sslmode=require
// (encrypted, server not verified: the server's name is whatever the
// certificate says, not 127.0.0.1). Tests of verification build their own
// config from Addr, the CA and the certificate's name.
func (p *Postgres) DSN(db string) string {
	mode := "disable"
	if p.TLS != nil {
		mode = "require"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(p.Superuser, p.Password),
		Host:     p.Addr(),
		Path:     "/" + db,
		RawQuery: "sslmode=" + mode + "&connect_timeout=10",
	}
	return u.String()
}

// SocketDSN returns a keyword/value DSN for the superuser over the unix
// socket (trust auth, no password, no TLS) to database db.
func (p *Postgres) SocketDSN(db string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable connect_timeout=10",
		p.SocketDir, p.Port, p.Superuser, db)
}

// Conn opens a superuser connection over the unix socket to database db,
// closed at cleanup.
func (p *Postgres) Conn(t testing.TB, db string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := pgx.Connect(ctx, p.SocketDSN(db))
	if err != nil {
		t.Fatalf("testharness: connecting to postgres: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// Exec runs sql (one or more statements, simple protocol) as the superuser
// in database "postgres" over the unix socket; it fails the test on error.
func (p *Postgres) Exec(t testing.TB, sql string) {
	t.Helper()
	p.ExecDB(t, "postgres", sql)
}

// ExecDB is Exec in database db.
func (p *Postgres) ExecDB(t testing.TB, db, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := pgx.Connect(ctx, p.SocketDSN(db))
	if err != nil {
		t.Fatalf("testharness: connecting to postgres: %v", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("testharness: postgres: %v\nSQL: %s", err, sql)
	}
}

// Stop shuts the server down (fast shutdown; SIGKILL to the process group
// after 20 s). The data directory stays until cleanup, so Restart works.
// Stopping a stopped server does nothing.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	if p.proc == nil {
		return
	}
	if err := p.proc.stop(); err != nil {
		t.Fatalf("testharness: %v", err)
	}
}

// Restart stops the server if it runs and starts it again on the same
// port with the same data, waiting until it accepts connections.
func (p *Postgres) Restart(t testing.TB) {
	t.Helper()
	p.Stop(t)
	p.start(t, false)
}

func pgBinDir(t testing.TB) string {
	t.Helper()
	if env := os.Getenv("RDSGATE_PG_BINDIR"); env != "" {
		return env
	}
	// Debian keeps the server binaries out of PATH; prefer the newest
	// version there, then PATH (other distributions, Homebrew).
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(matches, func(i, j int) bool {
		return pgVersion(matches[i]) > pgVersion(matches[j])
	})
	for _, d := range matches {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d
		}
	}
	initdb := findBinary(t, pgHow, []string{"initdb"}, "/usr/local/pgsql/bin")
	d := filepath.Dir(initdb)
	if !isExec(filepath.Join(d, "postgres")) {
		testpeer.Missing(t, "postgres", pgHow)
	}
	return d
}

func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

func appendFile(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		t.Fatalf("testharness: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("testharness: %v", err)
	}
}

func randHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testharness: %v", err)
	}
	return hex.EncodeToString(b)
}
