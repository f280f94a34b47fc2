package dbpath

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/proxy"
	mysqlproxy "github.com/rdsgate/rdsgate/proxy/mysql"
	"github.com/rdsgate/rdsgate/proxy/postgres"
	"github.com/rdsgate/rdsgate/session"
	"github.com/rdsgate/rdsgate/target"
)

// DefaultLoginsPerSecond caps new upstream logins of a Local: under AWS's
// advice of 200 new IAM logins per second per instance.
const DefaultLoginsPerSecond = 100

// LocalOptions configure a Local. The zero value serves a private unix
// socket with no session records.
type LocalOptions struct {
	// TCP serves 127.0.0.1:TCPPort (0: any free port) instead of a unix
	// socket in a private directory, for clients that cannot use one.
	TCP     bool
	TCPPort int
	// Recorder receives session records (nil: none); CaptureStatements
	// adds each statement.
	Recorder          *session.Recorder
	CaptureStatements bool
	// LoginsPerSecond caps new upstream logins (default
	// DefaultLoginsPerSecond).
	LoginsPerSecond int
	// Log receives the proxy's lines (default: discard).
	Log *slog.Logger
}

// Local is an in-process proxy for one path: a client connects with no
// password and no TLS, on a socket only this user can reach, and the proxy
// logs in upstream over verified TLS as the path says.
type Local struct {
	path   *Path
	srv    *proxy.Server
	dir    string // the private socket directory, or ""
	socket string // the socket, or ""
	addr   *net.TCPAddr
	done   chan struct{}
	// failures are its failed sessions, which Login reports.
	failures *Failures
}

// EngineFor is the proxy engine that speaks t's protocol.
func EngineFor(t target.Target) (proxy.Engine, error) {
	switch t.Family() {
	case target.FamilyPostgres:
		return postgres.New(), nil
	case target.FamilyMySQL:
		return mysqlproxy.New(), nil
	}
	return nil, fmt.Errorf("%s runs %s, which rdsgate does not speak (PostgreSQL, MySQL and MariaDB engines only)", t.Identifier, t.Engine)
}

// SocketName is the file name a client looks for in a socket directory:
// PostgreSQL's .s.PGSQL.PORT, else NAME.sock.
func SocketName(t target.Target, name string, port int) string {
	if t.Family() == target.FamilyPostgres {
		return fmt.Sprintf(".s.PGSQL.%d", port)
	}
	return name + ".sock"
}

// Serve starts a Local for p. It runs until Close (ctx's values only: a
// Local is closed, not cancelled). Closing a Local leaves p open.
func (p *Path) Serve(ctx context.Context, opts LocalOptions) (*Local, error) {
	engine, err := EngineFor(p.Target)
	if err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	l := &Local{path: p, done: make(chan struct{}), failures: NewFailures()}
	var lc proxy.ListenConfig
	if opts.TCP {
		lc = proxy.ListenConfig{Address: net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.TCPPort))}
	} else {
		if l.dir, err = os.MkdirTemp("", "rdsgate-"); err != nil {
			return nil, err
		}
		l.socket = filepath.Join(l.dir, SocketName(p.Target, "db", target.DefaultPort(p.Target.Engine)))
		lc = proxy.ListenConfig{Network: "unix", Address: l.socket}
	}
	ln, err := proxy.Listen(lc)
	if err != nil {
		if l.dir != "" {
			os.RemoveAll(l.dir)
		}
		return nil, err
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		l.addr = a
	}
	lps := opts.LoginsPerSecond
	if lps == 0 {
		lps = DefaultLoginsPerSecond
	}
	tokens := iamauth.NewCache(p.AWS.Credentials, iamauth.CacheOptions{})
	l.srv = proxy.NewServer(ln, engine, p.Upstream(tokens, lps), proxy.Options{Recorder: opts.Recorder, CaptureStatements: opts.CaptureStatements,
		Principal: p.Identity.ARN, Route: p.Route.Via, Log: opts.Log.With("target", p.Spec.Name), Failed: l.failures.Put})
	go func() {
		defer close(l.done)
		if err := l.srv.Serve(context.WithoutCancel(ctx)); err != nil {
			opts.Log.Error("local listener failed", "err", err)
		}
	}()
	return l, nil
}

// Socket is the unix socket clients connect to ("" with TCP).
func (l *Local) Socket() string { return l.socket }

// Addr is the TCP address clients connect to (nil on a unix socket).
func (l *Local) Addr() *net.TCPAddr { return l.addr }

// OpenDB returns a database/sql handle through l as user on database db
// (PostgreSQL's default: postgres): no password, no TLS settings — the
// Local does both upstream.
func (l *Local) OpenDB(user, db string) (*sql.DB, error) {
	if l.socket != "" {
		return OpenLocalDB(l.path.Target, "unix", l.socket, user, db)
	}
	return OpenLocalDB(l.path.Target, "tcp", l.addr.String(), user, db)
}

// Login is OpenDB, then a login through the whole path (route, TLS,
// token, server), observed as StageLogin; a failure comes back with its
// stage and cause (see Path.LoginVia).
func (l *Local) Login(ctx context.Context, user, db string) (sqlDB *sql.DB, err error) {
	obs := l.path.obs
	if obs == nil {
		obs = quiet{}
	}
	err = runStage(obs, StageLogin, func() (string, error) {
		if l.socket != "" {
			sqlDB, err = l.path.LoginVia(ctx, "unix", l.socket, user, db, l.failures)
		} else {
			sqlDB, err = l.path.LoginVia(ctx, "tcp", l.addr.String(), user, db, l.failures)
		}
		return fmt.Sprintf("as %s over TLS verified for %s, via %s", user, l.path.Target.Host, l.path.Route.Via), err
	})
	return sqlDB, err
}

// OpenLocalDB returns a database/sql handle on an rdsgate proxy for t at
// address (network "unix": the socket's path; "tcp": host:port), with no
// password and no TLS, as user on database db.
func OpenLocalDB(t target.Target, network, address, user, db string) (*sql.DB, error) {
	switch t.Family() {
	case target.FamilyPostgres:
		cfg, err := pgx.ParseConfig("sslmode=disable connect_timeout=30")
		if err != nil {
			return nil, err
		}
		if network == "unix" {
			cfg.Host, cfg.Port = filepath.Dir(address), uint16(target.DefaultPort("postgres"))
		} else {
			host, port, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(port)
			if err != nil {
				return nil, fmt.Errorf("%q: bad port: %w", address, err)
			}
			cfg.Host, cfg.Port = host, uint16(n)
		}
		cfg.User, cfg.Database = user, db
		if db == "" {
			cfg.Database = "postgres"
		}
		return stdlib.OpenDB(*cfg), nil
	case target.FamilyMySQL:
		mc := mysql.NewConfig()
		mc.User, mc.DBName, mc.Timeout = user, db, 30*time.Second
		mc.Net, mc.Addr = network, address
		conn, err := mysql.NewConnector(mc)
		if err != nil {
			return nil, err
		}
		return sql.OpenDB(conn), nil
	}
	return nil, fmt.Errorf("engine %s is not supported", t.Engine)
}

// Close stops serving, waits for the listener, and removes the socket's
// directory. The path stays open.
func (l *Local) Close() error {
	err := l.srv.Close()
	<-l.done
	if l.dir != "" {
		_ = os.RemoveAll(l.dir)
	}
	return err
}

// LoginError explains a refused login through a Local: the server's words
// and the proxy's hint (the exact policy resource to allow, the GRANT to
// run) when there is one.
func LoginError(instance, user string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		msg := fmt.Sprintf("log in to %s as %s: %s (SQLSTATE %s)", instance, user, pgErr.Message, pgErr.Code)
		if pgErr.Hint != "" {
			msg += "; " + pgErr.Hint
		}
		return errors.New(msg)
	}
	return fmt.Errorf("log in to %s as %s: %w", instance, user, err)
}
