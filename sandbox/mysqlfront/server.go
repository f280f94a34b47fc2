// Package mysqlfront is the sandbox's RDS-like MySQL front: a listener that,
// to a client, looks like an RDS for MySQL/MariaDB instance with IAM
// database authentication, relaying to a real MariaDB backend private to
// the sandbox. How it emulates IAM users on MariaDB is told in rewrite.go.
package mysqlfront

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rdsgate/rdsgate/internal/netaccept"
)

// DefaultHandshakeTimeout bounds a client's whole connection phase (and the
// backend's) when Config.HandshakeTimeout is zero.
const DefaultHandshakeTimeout = 10 * time.Second

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("mysqlfront: server closed")

// Login is an IAM login attempt, handed to the Authenticator.
type Login struct {
	User, Database, Token string
	ClientAddr            net.Addr
}

// Authenticator decides IAM logins: nil allows the login. The error text is
// the precise reason, for the sandbox log only (the client gets RDS's
// generic 1045); it must not contain the token.
type Authenticator interface {
	AuthenticateIAM(ctx context.Context, l Login) error
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, l Login) error

// AuthenticateIAM calls f.
func (f AuthenticatorFunc) AuthenticateIAM(ctx context.Context, l Login) error { return f(ctx, l) }

// Config configures a Server.
type Config struct {
	// Instance is the instance identifier, for logs.
	Instance string
	// Endpoint is the RDS-style endpoint name the front answers as, for logs.
	Endpoint string
	// TLS holds the server certificate for Endpoint; nil: TLS is not
	// offered (and IAM logins are impossible).
	TLS *tls.Config
	// BackendAddr is the MariaDB's TCP host:port (plain; the backend is
	// private to the sandbox).
	BackendAddr string
	// AdminDSN is a go-sql-driver/mysql DSN of the backend's root, used to
	// look up users. Not needed with IsIAMUser.
	AdminDSN string
	// IsIAMUser, when set, tells IAM users instead of the backend's
	// mysql.user (the sandbox's embedded engine keeps its own accounts).
	IsIAMUser func(ctx context.Context, user string) (bool, error)
	// Secret keys the derived passwords of IAM users (see package doc).
	Secret []byte
	// Auth decides IAM logins. Required.
	Auth Authenticator
	// Log receives one line per login and per refusal; nil discards.
	Log *slog.Logger
	// HandshakeTimeout bounds the connection phase of each client;
	// zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
}

// Stats are the front's counters since New.
type Stats struct {
	Accepted       int64 // client connections accepted
	Active         int64 // sessions open now (handshake or relay)
	IAMLogins      int64 // IAM logins relayed to the backend
	PasswordLogins int64 // password logins the backend accepted
	Refused        int64 // logins refused with an ERR packet
	Failed         int64 // connections dropped in the handshake (garbage, timeout, backend down)
	Rewrites       int64 // CREATE/ALTER USER statements rewritten
}

// Server is an RDS-like MySQL front. Create it with New.
type Server struct {
	cfg   Config
	log   *slog.Logger
	admin *sql.DB

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	wg        sync.WaitGroup

	accepted, active, iamLogins, pwLogins, refused, failed, rewrites atomic.Int64
}

// New checks cfg and returns a Server. It does not connect to the backend
// yet.
func New(cfg Config) (*Server, error) {
	if cfg.BackendAddr == "" {
		return nil, errors.New("mysqlfront: Config.BackendAddr is required")
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("mysqlfront: Config.Secret must have at least 16 bytes")
	}
	if cfg.Auth == nil {
		return nil, errors.New("mysqlfront: Config.Auth is required")
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("component", "mysqlfront", "instance", cfg.Instance)
	var admin *sql.DB
	if cfg.IsIAMUser == nil {
		if _, err := mysql.ParseDSN(cfg.AdminDSN); err != nil {
			return nil, fmt.Errorf("mysqlfront: Config.AdminDSN: %w", err)
		}
		var err error
		if admin, err = sql.Open("mysql", cfg.AdminDSN); err != nil {
			return nil, fmt.Errorf("mysqlfront: admin connection: %w", err)
		}
		admin.SetMaxOpenConns(4)
		admin.SetMaxIdleConns(2)
		admin.SetConnMaxIdleTime(time.Minute)
	}
	return &Server{
		cfg:       cfg,
		log:       log,
		admin:     admin,
		listeners: map[net.Listener]struct{}{},
		sessions:  map[*session]struct{}{},
	}, nil
}

// Serve accepts clients on ln until ln fails, ctx is done (it then closes
// ln and the sessions it started and returns ctx.Err()) or Close is called
// (it returns ErrServerClosed).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	err := netaccept.Loop(ctx, ln, netaccept.Options{Log: s.log, Stopping: s.isClosed}, func(c net.Conn) {
		s.accepted.Add(1)
		sess := &session{srv: s, client: c}
		if !s.track(sess) {
			c.Close() // Close has closed ln too: the loop ends
			return
		}
		go sess.run(ctx)
	})
	switch {
	case err != nil:
		return fmt.Errorf("mysqlfront: accept on %s: %w", ln.Addr(), err)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return ErrServerClosed
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers a session (and counts it in the WaitGroup) unless the
// server is closed.
func (s *Server) track(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	s.active.Add(1)
	return true
}

func (s *Server) untrack(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.active.Add(-1)
	s.wg.Done()
}

// Close stops every Serve, closes all sessions, waits for them to end and
// closes the admin connection pool.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for sess := range s.sessions {
		sess.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.admin == nil {
		return nil
	}
	if err := s.admin.Close(); err != nil {
		return fmt.Errorf("mysqlfront: closing admin connection: %w", err)
	}
	return nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Accepted:       s.accepted.Load(),
		Active:         s.active.Load(),
		IAMLogins:      s.iamLogins.Load(),
		PasswordLogins: s.pwLogins.Load(),
		Refused:        s.refused.Load(),
		Failed:         s.failed.Load(),
		Rewrites:       s.rewrites.Load(),
	}
}

// isIAMUser reports whether user is IAM-enabled in the backend: an account
// of that name whose authentication_string is the native-password hash of
// the user's derived password.
func (s *Server) isIAMUser(ctx context.Context, user string) (bool, error) {
	if s.cfg.IsIAMUser != nil {
		return s.cfg.IsIAMUser(ctx, user)
	}
	// global_priv, not the mysql.user view: EmulateIAMCatalog makes the
	// view show an IAM user's hash as 'RDS'.
	rows, err := s.admin.QueryContext(ctx, "SELECT JSON_VALUE(Priv, '$.authentication_string') FROM mysql.global_priv WHERE User = ?", user)
	if err != nil {
		return false, fmt.Errorf("looking up user in the backend: %w", err)
	}
	defer rows.Close()
	want := nativeHashOfDerived(s.cfg.Secret, user)
	iam := false
	for rows.Next() {
		var auth sql.NullString
		if err := rows.Scan(&auth); err != nil {
			return false, fmt.Errorf("looking up user in the backend: %w", err)
		}
		if auth.Valid && strings.EqualFold(auth.String, want) {
			iam = true
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("looking up user in the backend: %w", err)
	}
	return iam, nil
}
