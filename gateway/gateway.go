// Package gateway serves local listeners for several database paths at once:
// the value behind `rdsgate proxy`. Each target gets a loopback TCP port
// (and optionally a unix socket) where clients connect with no password and
// no TLS; Serve runs them, CheckConnections logs in once through each, and
// Shutdown drains open sessions.
package gateway

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/proxy/postgres"
	"github.com/rdsgate/rdsgate/session"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/stage"
	"github.com/rdsgate/rdsgate/target"
)

// Target is one database to serve.
type Target struct {
	// Path is the opened path; the Gateway does not close it.
	Path *dbpath.Path
	// Port is the TCP port on Config.Listen; 0 with AnyPort false means
	// the path's LocalPort, else the engine's usual port.
	Port    int
	AnyPort bool
}

// Config is how the Gateway serves. The zero value serves 127.0.0.1 with
// no limits and no session records.
type Config struct {
	// Listen is the address to bind (default 127.0.0.1). Another than
	// loopback needs AllowNonLoopback.
	Listen           string
	AllowNonLoopback bool
	// UnixDir, when set, adds a unix socket per target in this directory,
	// named as the clients look for it (PostgreSQL: .s.PGSQL.PORT).
	UnixDir string
	// LocalTLS, when set, lets clients use TLS on the local leg.
	LocalTLS *tls.Config
	// MaxConnections caps open sessions per listener (0: no cap);
	// IdleTimeout ends sessions idle that long (0: never).
	MaxConnections int
	IdleTimeout    time.Duration
	// LoginsPerSecond caps new upstream logins per target (0: no cap).
	LoginsPerSecond int
	// ReuseLogins gives a PostgreSQL client that ended cleanly's upstream
	// session, reset with DISCARD ALL, to the next client with the same
	// startup instead of a new login (postgres.Engine.ReuseLogins says what
	// carries over). MySQL targets ignore it.
	ReuseLogins bool
	// Recorder receives session records; CaptureStatements adds each
	// statement.
	Recorder          *session.Recorder
	CaptureStatements bool
	// Health, when set, reports the listeners and token caches.
	Health *proxy.Health
	// Log receives the proxy's lines (default: discard).
	Log *slog.Logger
}

// Listener is one target's place to connect.
type Listener struct {
	Path *dbpath.Path
	// Addr is the TCP listener; Socket the unix socket ("" without one).
	Addr   *net.TCPAddr
	Socket string
	// failures are the sessions of Addr that failed, for CheckConnections.
	failures *dbpath.Failures
}

// Gateway holds the listeners of several targets.
type Gateway struct {
	cfg       Config
	listeners []Listener
	servers   []*proxy.Server
	engines   []io.Closer // engines holding idle upstream sessions
	wg        sync.WaitGroup
	errs      chan error
}

// PortInUseError is a target's port taken by another program; New names
// the target before it.
type PortInUseError struct {
	Name string
	Port int
	Err  error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d is in use (another database?)", e.Port)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// New opens every target's listeners; on error none stays open. A target
// with a password source reads it now, so that a missing secret or
// permission fails here rather than at the first client.
func New(ctx context.Context, cfg Config, targets []Target) (*Gateway, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.Listen = cmp.Or(cfg.Listen, "127.0.0.1")
	g := &Gateway{cfg: cfg}
	for _, t := range targets {
		if err := g.add(ctx, t); err != nil {
			g.Close()
			return nil, fmt.Errorf("%s: %w", t.Path.Spec.Name, err)
		}
	}
	g.errs = make(chan error, len(g.servers))
	return g, nil
}

func (g *Gateway) add(ctx context.Context, t Target) error {
	p, cfg := t.Path, g.cfg
	name := p.Spec.Name
	if err := p.CheckLogin(); err != nil {
		return err
	}
	port := t.Port
	if port == 0 && !t.AnyPort {
		port = cmp.Or(p.Spec.LocalPort, target.DefaultPort(p.Target.Engine))
	}
	if p.Password != nil {
		owner, err := p.Password.Prefetch(ctx)
		if err != nil {
			return err
		}
		if owner != "" && p.Spec.User != "" && owner != p.Spec.User {
			cfg.Log.Warn("the password source is another database user's; clients must connect as that user", "target", name, "source_user", owner, "user", p.Spec.User)
		}
		p.Spec.User = cmp.Or(owner, p.Spec.User)
	}
	tokens := iamauth.NewCache(p.AWS.Credentials, iamauth.CacheOptions{})
	up := p.Upstream(tokens, cfg.LoginsPerSecond)
	if up.Logins != nil {
		up.Logins.OnWait = func(d time.Duration) {
			cfg.Log.Warn("new logins are being rate-limited to stay under AWS's advice for IAM authentication", "target", name,
				"limit_per_second", cfg.LoginsPerSecond, "wait", d.Round(time.Millisecond))
		}
	}
	engine, err := dbpath.EngineFor(p.Target)
	if err != nil {
		return err
	}
	log := cfg.Log.With("target", name)
	if cfg.ReuseLogins {
		if pg, ok := engine.(*postgres.Engine); ok {
			pg.ReuseLogins(postgres.ReuseConfig{})
			g.engines = append(g.engines, pg)
		} else {
			log.Warn("reuse of logins is for PostgreSQL targets: each client of this one logs in anew")
		}
	}
	failures := dbpath.NewFailures()
	opts := proxy.Options{MaxConnections: cfg.MaxConnections, IdleTimeout: cfg.IdleTimeout, CaptureStatements: cfg.CaptureStatements,
		LocalTLS: cfg.LocalTLS, Recorder: cfg.Recorder, Principal: p.Identity.ARN, Route: p.Route.Via, Log: log,
		Failed: func(err error) {
			log.Warn("session failed", "stage", string(stage.Of(err)), "err", err)
			failures.Put(err)
		}}
	ln, err := proxy.Listen(proxy.ListenConfig{Address: net.JoinHostPort(cfg.Listen, strconv.Itoa(port)), AllowNonLoopback: cfg.AllowNonLoopback})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return &PortInUseError{Name: name, Port: port, Err: err}
		}
		return err
	}
	l := Listener{Path: p, Addr: ln.Addr().(*net.TCPAddr), failures: failures}
	g.serve(proxy.NewServer(ln, engine, up, opts), tokens)
	if cfg.UnixDir != "" {
		// psql finds the socket by the port it would use over TCP.
		l.Socket = filepath.Join(cfg.UnixDir, dbpath.SocketName(p.Target, name, l.Addr.Port))
		uln, err := proxy.Listen(proxy.ListenConfig{Network: "unix", Address: l.Socket})
		if err != nil {
			return err
		}
		g.serve(proxy.NewServer(uln, engine, up, opts), tokens)
	}
	g.listeners = append(g.listeners, l)
	return nil
}

func (g *Gateway) serve(s *proxy.Server, tokens *iamauth.Cache) {
	g.servers = append(g.servers, s)
	if g.cfg.Health != nil {
		g.cfg.Health.Add(s, tokens)
	}
}

// Open is how many sessions are open now, on every listener.
func (g *Gateway) Open() int64 {
	var n int64
	for _, s := range g.servers {
		n += s.Stats().Open
	}
	return n
}

// Listeners are the targets' places to connect, in the order given.
func (g *Gateway) Listeners() []Listener { return g.listeners }

// Serve accepts on every listener until ctx ends (nil) or one fails (its
// error). Call Shutdown after it returns.
func (g *Gateway) Serve(ctx context.Context) error {
	for _, s := range g.servers {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if err := s.Serve(ctx); err != nil {
				g.errs <- err
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-g.errs:
		return err
	}
}

// CheckConnections logs in once through each target's own TCP listener
// (the whole path a client takes: route, TLS, token, login) and runs
// done after each success. The first failure is returned.
func (g *Gateway) CheckConnections(ctx context.Context, done func(l Listener, took time.Duration)) error {
	for _, l := range g.listeners {
		p := l.Path
		if p.Spec.User == "" {
			return fmt.Errorf("%s: %w", p.Spec.Name, ErrNoUser)
		}
		t0 := time.Now()
		db, err := p.LoginVia(ctx, "tcp", l.Addr.String(), p.Spec.User, p.Spec.Database, l.failures)
		if err != nil {
			return err
		}
		db.Close()
		if done != nil {
			done(l, time.Since(t0))
		}
	}
	return nil
}

// ErrNoUser is a connection check for a target with no database user.
var ErrNoUser = errors.New("a connection check logs in as a database user, and none is set")

// Shutdown stops accepting, lets open sessions finish until ctx ends, then
// closes them, and waits for the listeners.
func (g *Gateway) Shutdown(ctx context.Context) error {
	var errs []error
	for _, s := range g.servers {
		errs = append(errs, s.Shutdown(ctx))
	}
	g.wg.Wait()
	return errors.Join(errs...)
}

// Close closes every listener and session at once.
func (g *Gateway) Close() error {
	var errs []error
	for _, s := range g.servers {
		errs = append(errs, s.Close())
	}
	g.wg.Wait()
	for _, e := range g.engines {
		errs = append(errs, e.Close())
	}
	return errors.Join(errs...)
}

// OpenTargets reads NAME[=PORT] arguments (PORT 0: any free port; none:
// the path's local port, else the engine's) and opens each NAME's path
// with open. Every argument is read before any path opens; on error the
// paths opened are closed.
func OpenTargets(ctx context.Context, args []string, open func(ctx context.Context, name string) (*dbpath.Path, error)) ([]Target, error) {
	names, ts := make([]string, len(args)), make([]Target, len(args))
	for i, arg := range args {
		name, port, hasPort := strings.Cut(arg, "=")
		names[i] = name
		if hasPort {
			p, err := strconv.Atoi(port)
			if err != nil || p < 0 || p > 65535 {
				return nil, setting.Invalidf("%q: the port after = must be a number 0-65535", arg)
			}
			ts[i] = Target{Port: p, AnyPort: p == 0}
		}
	}
	for i, name := range names {
		var err error
		if ts[i].Path, err = open(ctx, name); err != nil {
			CloseTargets(ts)
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return ts, nil
}

// CloseTargets closes the targets' paths.
func CloseTargets(ts []Target) {
	for _, t := range ts {
		t.Path.Close()
	}
}
