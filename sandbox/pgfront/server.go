// Package pgfront is the sandbox's stand-in for an RDS for PostgreSQL
// instance with IAM database authentication: a listener that, to a client,
// behaves like RDS (TLS, IAM tokens for members of rds_iam, RDS's refusals),
// in front of a real PostgreSQL server. What a client sees is told in
// session.go.
package pgfront

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rdsgate/rdsgate/internal/netaccept"
)

// DefaultHandshakeTimeout bounds a session's startup phase (TLS, startup
// packet, authentication, backend login) when Config.HandshakeTimeout is 0.
const DefaultHandshakeTimeout = 10 * time.Second

// Login is an IAM login attempt, handed to the Authenticator.
type Login struct {
	User, Database string
	Token          string // the password the client sent: a credential, never log it
	ClientAddr     net.Addr
}

// Authenticator decides IAM logins; nil means allowed. The error's text is
// the precise reason for the sandbox log only (expired, wrong user, no
// policy, IAM auth disabled ...), never sent to the client, and must not
// contain the token.
type Authenticator interface {
	AuthenticateIAM(ctx context.Context, l Login) error
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, l Login) error

// AuthenticateIAM calls f.
func (f AuthenticatorFunc) AuthenticateIAM(ctx context.Context, l Login) error { return f(ctx, l) }

// Config configures a Server.
type Config struct {
	Instance string      // identifier, for logs
	Endpoint string      // RDS-style name the certificate is for, for logs
	TLS      *tls.Config // server side; nil = no TLS offered (every SSLRequest gets 'N')
	// ForceSSL is rds.force_ssl=1: sessions without TLS are refused like
	// RDS does.
	ForceSSL bool
	// BackendSocketDir is the backend's unix socket directory, private to
	// the server's account, where pg_hba.conf says `local all all trust`
	// for roles other than the superuser: IAM users are logged in there.
	// The socket is <dir>/.s.PGSQL.<port of BackendAddr>.
	BackendSocketDir string
	// BackendAddr is the backend's TCP host:port, with scram-sha-256:
	// password users are relayed there and authenticate themselves.
	BackendAddr string
	// BackendAdminUser is the backend superuser the front uses (over the
	// socket) to ask whether a user is a member of rds_iam; default
	// "postgres".
	BackendAdminUser string
	// BackendAdminPassword is BackendAdminUser's password (the throwaway
	// servers' superuser needs it on the socket too). Never logged.
	BackendAdminPassword string
	// Backend, when set, is the database behind the front instead of a
	// PostgreSQL server at BackendSocketDir and BackendAddr (the sandbox's
	// embedded engine).
	Backend Backend
	Auth    Authenticator // required
	Log     *slog.Logger  // nil: discard
	// HandshakeTimeout bounds each session's startup phase; default
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
}

// Stats counts what a Server did since New.
type Stats struct {
	Accepted         int64 // connections accepted
	IAMLoginsOK      int64 // IAM logins the Authenticator allowed
	IAMLoginsRefused int64 // IAM logins the Authenticator refused
	PasswordLogins   int64 // non-IAM logins relayed to the backend's TCP port
	Refused          int64 // sessions ended before authentication: no TLS, protocol errors, clients that hung up ...
	Cancels          int64 // cancel requests forwarded
	Active           int64 // connections open now
}

// Server is an RDS-like PostgreSQL front. It is safe for concurrent use;
// one Server may Serve several listeners.
type Server struct {
	cfg     Config
	tls     *tls.Config // cfg.TLS with TLS 1.2+ and ALPN "postgresql"; nil without TLS
	log     *slog.Logger
	be      Backend
	timeout time.Duration

	base       context.Context // cancelled by Close
	cancelBase context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}

	accepted, iamOK, iamRefused, password, refused, cancels, active atomic.Int64
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("pgfront: server closed")

// New checks cfg and returns a Server; nothing is opened until Serve.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Auth == nil:
		return nil, errors.New("pgfront: Config.Auth is required")
	case cfg.Backend == nil && cfg.BackendSocketDir == "":
		return nil, errors.New("pgfront: Config.BackendSocketDir is required")
	case cfg.ForceSSL && cfg.TLS == nil:
		return nil, errors.New("pgfront: ForceSSL needs a TLS config")
	}
	be := cfg.Backend
	if be == nil {
		host, portStr, err := net.SplitHostPort(cfg.BackendAddr)
		if err != nil {
			return nil, fmt.Errorf("pgfront: Config.BackendAddr %q: %w", cfg.BackendAddr, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < 1 || port > 65535 || host == "" {
			return nil, fmt.Errorf("pgfront: Config.BackendAddr %q: want host:port", cfg.BackendAddr)
		}
		if cfg.BackendAdminUser == "" {
			cfg.BackendAdminUser = "postgres"
		}
		b := newBackend(cfg.BackendSocketDir, cfg.BackendAddr, port, cfg.BackendAdminUser)
		b.adminPassword = cfg.BackendAdminPassword
		be = b
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("instance", cfg.Instance)
	var tc *tls.Config
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
		if tc.MinVersion < tls.VersionTLS12 {
			tc.MinVersion = tls.VersionTLS12
		}
		// PostgreSQL 17+ servers negotiate ALPN "postgresql" and refuse
		// any other protocol; clients that send no ALPN are served too
		// (except with direct TLS, checked per session).
		tc.NextProtos = []string{alpnPostgres}
	}
	base, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:        cfg,
		tls:        tc,
		log:        log,
		timeout:    cfg.HandshakeTimeout,
		be:         be,
		base:       base,
		cancelBase: cancel,
		listeners:  map[net.Listener]struct{}{},
		conns:      map[net.Conn]struct{}{},
	}, nil
}

// Serve accepts connections on ln and serves each in its own goroutine. It
// returns when ctx is done, Close is called or ln fails (is closed); before
// returning it closes ln and the sessions it started, and waits for their
// goroutines. It returns nil when ctx is done, ErrServerClosed after Close,
// and the accept error otherwise.
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

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopBase := context.AfterFunc(s.base, cancel)
	defer stopBase()
	stopLn := context.AfterFunc(sctx, func() { ln.Close() })
	defer stopLn()

	s.log.Info("pgfront: serving", "addr", ln.Addr().String(), "endpoint", s.cfg.Endpoint,
		"tls", s.tls != nil, "force_ssl", s.cfg.ForceSSL)
	var wg sync.WaitGroup
	// Close cancels base before it closes ln, but sctx learns of it on
	// another goroutine: Stopping asks base itself.
	acceptErr := netaccept.Loop(sctx, ln, netaccept.Options{Log: s.log, Stopping: func() bool { return s.base.Err() != nil }},
		func(c net.Conn) {
			s.accepted.Add(1)
			if !s.track(c) {
				c.Close() // Close has closed ln too: the loop ends
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.untrack(c)
				s.serveConn(sctx, c)
			}()
		})
	cancel() // closes the sessions (each watches sctx)
	ln.Close()
	wg.Wait()

	// A nil acceptErr means sctx ended or base did: ctx's end or Close.
	switch {
	case ctx.Err() != nil:
		return nil
	case s.base.Err() != nil:
		return ErrServerClosed
	}
	return fmt.Errorf("pgfront: accept on %s: %w", ln.Addr(), acceptErr)
}

// Close stops every Serve (closing their listeners), closes live sessions
// and the backend admin connection. Serve calls return once their session
// goroutines are done.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.cancelBase()
	var first error
	for ln := range s.listeners {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) && first == nil {
			first = err
		}
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	if err := s.be.Close(); err != nil && first == nil {
		first = err
	}
	if first != nil {
		return fmt.Errorf("pgfront: close: %w", first)
	}
	return nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Accepted:         s.accepted.Load(),
		IAMLoginsOK:      s.iamOK.Load(),
		IAMLoginsRefused: s.iamRefused.Load(),
		PasswordLogins:   s.password.Load(),
		Refused:          s.refused.Load(),
		Cancels:          s.cancels.Load(),
		Active:           s.active.Load(),
	}
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.active.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.active.Add(-1)
}
