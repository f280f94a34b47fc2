// Package proxy is rdsgate's local IAM-auth proxy: loopback listeners that
// database clients use with no password and no TLS settings, and, for each
// connection, an upstream leg that logs in with a fresh IAM token over TLS
// verified against the RDS CA and the endpoint name, then relays bytes.
// The protocol-aware halves are engines: proxy/postgres and proxy/mysql.
package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rdsgate/rdsgate/internal/netaccept"
	"github.com/rdsgate/rdsgate/internal/rawsock"
	"github.com/rdsgate/rdsgate/session"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/tunnel"
)

// Default limits.
const (
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultMaxConnections   = 0 // unlimited
)

// Engine speaks one database protocol on both legs of a connection.
type Engine interface {
	// Name is "postgres" or "mysql".
	Name() string
	// Serve handles one client connection: the local handshake, the
	// upstream login, then Relay. It fills s.Record (user, database) as it
	// learns them, calls s.LoggedIn after the login, and returns the end
	// reason. It owns s.Client from the
	// moment it is called and must close it.
	Serve(ctx context.Context, s *Session) (reason string, err error)
	// Refuse tells a client, in its protocol, that it cannot be served
	// (e.g. too many connections), then closes it.
	Refuse(c net.Conn, message string)
}

// Session is one client connection being served.
type Session struct {
	Client   net.Conn
	Upstream *Upstream
	Record   *session.Record
	Counter  *session.Counter
	Recorder *session.Recorder
	// CaptureStatements asks the engine to record statements.
	CaptureStatements bool
	// LocalTLS, when set, lets clients use TLS on the local leg (it is
	// declined otherwise); engines add their ALPN protocol.
	LocalTLS         *tls.Config
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	// Done is closed when the proxy shuts down and open sessions must end.
	Done <-chan struct{}
	Log  *slog.Logger

	accepted time.Time
	server   *Server
	sock     *clientSocket // nil where it cannot be watched
}

// LoggedIn is what an engine calls once the upstream login succeeded: it
// records the session's start and the login's latency.
func (s *Session) LoggedIn() {
	if s.server != nil {
		s.server.logins.Add(1)
		s.server.loginNanos.Add(int64(time.Since(s.accepted)))
	}
	s.Recorder.Start(*s.Record)
}

// Options configure a Server.
type Options struct {
	// MaxConnections refuses clients beyond this many open sessions; 0 = no limit.
	MaxConnections int
	// HandshakeTimeout bounds the local and upstream handshakes.
	HandshakeTimeout time.Duration
	// IdleTimeout ends sessions with no traffic for this long; 0 = never.
	IdleTimeout       time.Duration
	CaptureStatements bool
	// LocalTLS, when set, serves TLS to local clients that ask for it (a
	// certificate of the user's: --local-cert); nil declines, as the local
	// leg is loopback.
	LocalTLS *tls.Config
	Recorder *session.Recorder
	// Principal is the AWS identity recorded with each session.
	Principal string
	// Route names the route in session records (direct, ssm, ssh).
	Route string
	// Failed, when set, is told of every session that failed (its error
	// carries the stage: route, tls, login) instead of the log: the owner
	// reports it (connect, a connection test) or logs it.
	Failed func(error)
	Log    *slog.Logger
}

// Stats are counters for metrics and readiness.
type Stats struct {
	Open, Total, Failed, Refused int64
	// AcceptErrors counts accepts that failed for lack of resources (out of
	// file descriptors) and were retried after a pause.
	AcceptErrors int64
}

// Server accepts clients on one listener for one target.
type Server struct {
	ln     net.Listener
	engine Engine
	up     *Upstream
	opts   Options

	done     chan struct{}
	doneOnce sync.Once
	stopping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]*session.Counter
	open     atomic.Int64
	total    atomic.Int64
	failed   atomic.Int64
	refused  atomic.Int64
	// accepts that failed for lack of resources and were retried
	acceptErrors atomic.Int64
	// bytes of ended sessions; open ones are summed from conns
	bytesIn, bytesOut  atomic.Int64
	logins, loginNanos atomic.Int64
}

// NewServer serves ln with engine for up.
func NewServer(ln net.Listener, engine Engine, up *Upstream, opts Options) *Server {
	if opts.HandshakeTimeout == 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{ln: ln, engine: engine, up: up, opts: opts, done: make(chan struct{}), conns: map[net.Conn]*session.Counter{}}
}

// Addr is the listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{Open: s.open.Load(), Total: s.total.Load(), Failed: s.failed.Load(), Refused: s.refused.Load(),
		AcceptErrors: s.acceptErrors.Load()}
}

// Serve accepts until the listener closes (Shutdown) or ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	err := netaccept.Loop(ctx, s.ln, netaccept.Options{Log: s.opts.Log, Stopping: s.stopping.Load, Shortage: func() { s.acceptErrors.Add(1) }},
		func(c net.Conn) {
			sock := newClientSocket(c) // before Wrap, which hides the descriptor
			// Every request and answer of a session wakes the proxy from idle;
			// raw socket calls spare each of them a scheduler wake-up.
			c = rawsock.Wrap(c)
			s.total.Add(1)
			if s.opts.MaxConnections > 0 && s.open.Load() >= int64(s.opts.MaxConnections) {
				s.refused.Add(1)
				s.opts.Log.Warn("refusing client: too many connections", "max", s.opts.MaxConnections, "client", c.RemoteAddr())
				go s.engine.Refuse(c, fmt.Sprintf("rdsgate: too many connections (%s=%d)", setting.MaxConnections, s.opts.MaxConnections))
				return
			}
			counter := &session.Counter{}
			s.track(c, counter, true)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.track(c, counter, false)
				s.serveConn(ctx, c, sock, counter)
			}()
		})
	if err != nil {
		return fmt.Errorf("proxy: accept on %s: %w", s.ln.Addr(), err)
	}
	return nil
}

func (s *Server) track(c net.Conn, counter *session.Counter, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = counter
		s.open.Add(1)
	} else {
		delete(s.conns, c)
		s.open.Add(-1)
		in, out := counter.Totals()
		s.bytesIn.Add(in)
		s.bytesOut.Add(out)
	}
}

// Bytes returns the bytes relayed so far, client to database and back.
func (s *Server) Bytes() (in, out int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, out = s.bytesIn.Load(), s.bytesOut.Load()
	for _, c := range s.conns {
		i, o := c.Totals()
		in, out = in+i, out+o
	}
	return in, out
}

// Logins returns the number of upstream logins and their total latency
// (from accepting the client to the database's OK).
func (s *Server) Logins() (int64, time.Duration) {
	return s.logins.Load(), time.Duration(s.loginNanos.Load())
}

// Ready reports whether the server accepts new clients.
func (s *Server) Ready() bool {
	return !s.stopping.Load() && (s.opts.MaxConnections == 0 || s.open.Load() < int64(s.opts.MaxConnections))
}

// Target is the target the server serves.
func (s *Server) Target() string {
	if s.up.Target.Name != "" {
		return s.up.Target.Name
	}
	return s.up.Target.Identifier
}

func (s *Server) serveConn(ctx context.Context, c net.Conn, sock *clientSocket, counter *session.Counter) {
	rec := &session.Record{
		ID: session.NewID(), Start: time.Now().UTC(), Principal: s.opts.Principal,
		Target: s.up.Target.Name, Endpoint: s.up.Target.Address(), Route: s.opts.Route,
		Engine: s.engine.Name(), Client: c.RemoteAddr().String(),
	}
	if rec.Target == "" {
		rec.Target = s.up.Target.Identifier
	}
	sess := &Session{
		accepted: time.Now(), server: s, sock: sock,
		Client: c, Upstream: s.up, Record: rec, Counter: counter, Recorder: s.opts.Recorder,
		CaptureStatements: s.opts.CaptureStatements, LocalTLS: s.opts.LocalTLS, HandshakeTimeout: s.opts.HandshakeTimeout,
		IdleTimeout: s.opts.IdleTimeout, Done: s.done,
		Log: s.opts.Log.With("session", rec.ID),
	}
	reason, err := s.engine.Serve(ctx, sess)
	_ = c.Close()
	rec.End = time.Now().UTC()
	rec.BytesIn, rec.BytesOut = counter.Totals()
	rec.EndReason = reason
	if c, ok := s.up.Dialer.(tunnel.SessionCounter); ok {
		rec.RouteSessions = c.PeakSessions()
	}
	if err != nil {
		s.failed.Add(1)
		rec.Error = err.Error()
		if rec.EndReason == "" {
			rec.EndReason = "failed"
		}
		if s.opts.Failed != nil {
			sess.Log.Debug("session failed", "user", rec.DBUser, "database", rec.Database, "err", err)
			s.opts.Failed(err)
		} else {
			sess.Log.Warn("session failed", "user", rec.DBUser, "database", rec.Database, "err", err)
		}
	} else {
		sess.Log.Debug("session ended", "user", rec.DBUser, "reason", reason, "bytes_in", rec.BytesIn, "bytes_out", rec.BytesOut)
	}
	// Only sessions that got as far as naming a user are worth a record
	// (port scanners and health checks are not sessions).
	if rec.DBUser != "" {
		s.opts.Recorder.End(*rec)
	}
}

// Shutdown stops accepting, lets open sessions finish until ctx ends, then
// closes them and waits for their goroutines.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	s.ln.Close()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for s.open.Load() > 0 {
		select {
		case <-ctx.Done():
			s.closeAll()
			s.wg.Wait()
			return nil
		case <-tick.C:
		}
	}
	s.closeAll()
	s.wg.Wait()
	return nil
}

// Close ends every session now.
func (s *Server) Close() error {
	s.stopping.Store(true)
	s.ln.Close()
	s.closeAll()
	s.wg.Wait()
	return nil
}

func (s *Server) closeAll() {
	s.doneOnce.Do(func() { close(s.done) })
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}
