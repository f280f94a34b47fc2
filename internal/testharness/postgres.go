package testharness

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/internal/serverproc"
)

// ServerTLS names the PEM files a database server uses for TLS. CAFile is
// optional: the CA the server trusts for client certificates (PostgreSQL
// ssl_ca_file, MariaDB ssl-ca). The files are copied into the server's
// directory and given to its OS user, so any readable files will do.
type ServerTLS = dbserver.TLSFiles

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// TLS turns ssl on with these files; nil leaves ssl off.
	TLS *ServerTLS
	// HBA lines are put after the superuser's line and before the default
	// pg_hba.conf rules:
	//   local all postgres scram-sha-256
	//   <HBA>
	//   local all all trust
	//   host  all all 127.0.0.1/32 scram-sha-256
	// ("host" matches TLS and plain connections). The socket is private to
	// the server's account and root, and other roles are trusted there, as
	// the sandbox's front needs for its IAM logins.
	HBA []string
	// Conf holds extra postgresql.conf settings; they override the
	// harness's. Values are written quoted ('...'), which PostgreSQL accepts
	// for every type, so pass them bare: {"log_connections": "on"}. The
	// port is given on the command line (a "port" here is ignored);
	// listen_addresses and the socket's settings are the harness's.
	Conf map[string]string
}

// Postgres is a running throwaway PostgreSQL server.
type Postgres struct {
	Host      string // "127.0.0.1"
	Port      int
	SocketDir string // unix_socket_directories, 0700: trust for all but the superuser
	Superuser string // "postgres"
	Password  string // the superuser's password (SCRAM, on the socket and over TCP)
	DataDir   string
	LogFile   string     // server log (stderr)
	TLS       *ServerTLS // the copies the server uses; nil without TLS
	BinDir    string     // where initdb and postgres were found

	srv *dbserver.Server
	dir string
}

// StartPostgres initdb's a fresh cluster in a temporary directory and starts
// postgres on a free 127.0.0.1 port, as the "postgres" OS user when running
// as root (see dbserver.StartPostgres for the settings); ssl when opts.TLS
// is set. It returns once a real connection over the socket succeeds;
// t.Cleanup stops the server (fast shutdown, then SIGKILL to its process
// group) and removes the directory.
func StartPostgres(t testing.TB, opts PostgresOptions) *Postgres {
	t.Helper()
	srv, dir := startDB(t, "pg", "postgres", dbserver.StartPostgres, dbserver.Options{TLS: opts.TLS, HBA: opts.HBA, Conf: opts.Conf, TrustLocal: true})
	return &Postgres{
		Host:      srv.Host,
		Port:      srv.Port,
		SocketDir: srv.Socket,
		Superuser: srv.AdminUser,
		Password:  srv.AdminPassword,
		DataDir:   srv.DataDir,
		LogFile:   srv.LogFile,
		TLS:       srv.TLS,
		BinDir:    srv.BinDir,
		srv:       srv,
		dir:       dir,
	}
}

// Addr returns "127.0.0.1:port".
func (p *Postgres) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// PID returns the postmaster's process id (0 before the first start).
func (p *Postgres) PID() int { return p.srv.PID() }

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

// SocketDSN returns a keyword/value DSN for the superuser with its
// password over the unix socket (no TLS) to database db.
func (p *Postgres) SocketDSN(db string) string { return p.srv.AdminDSN(db) }

// Conn opens a superuser connection over the unix socket to database db,
// closed at cleanup.
func (p *Postgres) Conn(t testing.TB, db string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), serverproc.StartTimeout)
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
	ctx, cancel := context.WithTimeout(context.Background(), serverproc.StartTimeout)
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
	if err := p.srv.Stop(); err != nil {
		t.Fatalf("testharness: %v", err)
	}
}

// Restart stops the server if it runs and starts it again on the same
// port with the same data, waiting until it accepts connections.
func (p *Postgres) Restart(t testing.TB) {
	t.Helper()
	restart(t, p.srv, &p.Port, false)
}
