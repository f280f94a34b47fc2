package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/gateway"
	"github.com/rdsgate/rdsgate/internal/cmdline"
	"github.com/rdsgate/rdsgate/internal/dbclient"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/session"
	"github.com/rdsgate/rdsgate/session/cwlogs"
	ssmtunnel "github.com/rdsgate/rdsgate/tunnel/ssm"
)

// proxyFlags are the gateway's Config (bound to it directly) and what the
// command adds around it.
type proxyFlags struct {
	route          routeFlags
	gw             gateway.Config
	sessionLog     []string
	httpAddress    string
	localCert      string
	localKey       string
	drainTimeout   time.Duration
	exitZeroOnTerm bool
	quitQuitQuit   bool
	connectionTest bool
}

func (a *app) newProxy() *cobra.Command {
	var f proxyFlags
	cmd := cmdline.Command("proxy TARGET[=PORT]...", "Give GUI tools and apps a local port with no password and no TLS settings", cobra.MinimumNArgs(1), func(ctx context.Context, args []string) error {
		return a.runProxy(ctx, args, f)
	})
	fl := cmd.Flags()
	f.route.register(fl, ssmtunnel.DefaultSessions)
	fl.StringVar(&f.gw.Listen, "listen", "127.0.0.1", "local address to listen on")
	fl.StringVar(&f.gw.UnixDir, "unix-socket", "", "also listen on a unix socket in this directory (psql: .s.PGSQL.PORT; mysql: TARGET.sock)")
	fl.BoolVar(&f.gw.AllowNonLoopback, "allow-non-loopback", false, "allow --listen on a non-loopback address: anyone who reaches it uses the database as your AWS identity")
	fl.IntVar(&f.gw.MaxConnections, "max-connections", 0, "refuse clients beyond this many open connections per target (0: no limit)")
	fl.DurationVar(&f.gw.IdleTimeout, "idle-timeout", 0, "close connections idle for this long (0: never)")
	fl.BoolVar(&f.gw.CaptureStatements, "log-statements", false, "record each statement (PostgreSQL Query/Parse, MySQL COM_QUERY/COM_STMT_PREPARE) in the session log")
	fl.StringSliceVar(&f.sessionLog, "session-log", nil, "write session records as JSON lines to FILE, - (stderr), stdout, or cloudwatch:GROUP[/STREAM] (CloudWatch Logs; stream per host and day by default; kept in a local spool while Logs is down); comma-separated or repeated")
	fl.StringVar(&f.httpAddress, "http-address", "", "serve /liveness, /readiness and /metrics (Prometheus) on this HOST:PORT (0.0.0.0:9090 for a kubelet's probes; with --quitquitquit loopback only, unless --allow-non-loopback)")
	fl.IntVar(&f.gw.LoginsPerSecond, "logins-per-second", 100, "limit new upstream logins per target (AWS advises under 200 new IAM logins/s per instance; 0: no limit)")
	fl.BoolVar(&f.gw.ReuseLogins, "reuse-logins", false, "PostgreSQL: reset a cleanly ended client's server session with DISCARD ALL and give it to the next client with the same user, database and parameters instead of a new login (its process, pid and LOADed libraries carry over)")
	fl.StringVar(&f.localCert, "local-cert", "", "serve TLS to local clients that ask for it, with this certificate (PEM; with --local-key); without it the local leg declines TLS")
	fl.StringVar(&f.localKey, "local-key", "", "the private key (PEM) of --local-cert")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "on SIGINT/SIGTERM (or /quitquitquit), how long open sessions may finish before they are closed")
	fl.BoolVar(&f.exitZeroOnTerm, "exit-zero-on-sigterm", false, "exit 0 instead of 143 after a SIGTERM (a sidecar in a Kubernetes Job)")
	fl.BoolVar(&f.quitQuitQuit, "quitquitquit", false, "with --http-address: a POST to /quitquitquit with the header X-Rdsgate-Quit (which no web page can send) stops the proxy as SIGTERM does, exit 0")
	fl.BoolVar(&f.connectionTest, "run-connection-test", false, "log in to every target once (as --user) before serving; exit 1 with the cause if one fails")
	registerPassword(fl, &f.route.o.Auth)
	fl.StringVar(&f.route.o.SSLNegotiation, "ssl-negotiation", "", "PostgreSQL upstream TLS: postgres (an SSLRequest first; the default) or direct (TLS at once with ALPN postgresql, one round trip less; PostgreSQL 17+)")
	return cmd
}

func (a *app) runProxy(ctx context.Context, args []string, f proxyFlags) error {
	rec, err := a.sessionRecorder(ctx, f.sessionLog)
	if err != nil {
		return err
	}
	defer closeRecorder(rec)

	localTLS, err := proxy.LocalTLSConfig(config.ExpandHome(f.localCert), config.ExpandHome(f.localKey))
	if err != nil {
		return err
	}
	if f.drainTimeout < 0 {
		return cmdline.Usagef("--drain-timeout must not be negative")
	}
	ctx, quit := context.WithCancel(ctx)
	defer quit()
	hc := gateway.HealthConfig{Address: f.httpAddress, AllowNonLoopback: f.gw.AllowNonLoopback, Log: a.log}
	if f.quitQuitQuit {
		hc.Quit = quit
	}
	health, stopHealth, err := gateway.StartHealth(hc)
	if err != nil {
		return err
	}
	defer stopHealth()
	gts, err := gateway.OpenTargets(ctx, args, func(ctx context.Context, name string) (*dbpath.Path, error) {
		p, err := a.openPath(ctx, name, f.route)
		if err == nil && f.connectionTest && p.Spec.User == "" {
			p.Close()
			return nil, cmdline.Usagef("--run-connection-test logs in as a database user: pass --user, or set user: for %s in the config file", name)
		}
		return p, err
	})
	if err != nil {
		return err
	}
	defer gateway.CloseTargets(gts)
	cfg := f.gw
	cfg.LocalTLS, cfg.Recorder, cfg.Health, cfg.Log = localTLS, rec, health, a.log
	g, err := gateway.New(ctx, cfg, gts)
	var inUse *gateway.PortInUseError
	if errors.As(err, &inUse) {
		return fmt.Errorf("%w: pick one with %s=PORT", err, inUse.Name)
	}
	if err != nil {
		return err
	}
	defer g.Close()
	for _, l := range g.Listeners() {
		dbclient.WriteInfo(a.stdout, dbclient.Listener{Path: l.Path, Addr: l.Addr, Socket: l.Socket, LocalTLS: localTLS != nil})
	}
	failed := g.Run(ctx, gateway.RunOptions{CheckConnections: f.connectionTest, DrainTimeout: f.drainTimeout,
		Observer:   a.progress(),
		Ready:      func() { a.log.Info("proxy ready; press Ctrl-C to stop") },
		ServeError: func(err error) { a.log.Error("listener failed", "err", err) },
		Stopping: func() {
			a.log.Info(fmt.Sprintf("stopping: no new connections; %d open sessions may finish (Ctrl-C again to cut them now)", g.Open()), "timeout", f.drainTimeout)
		},
	})
	if failed != nil {
		return fmt.Errorf("--run-connection-test: %w", failed)
	}
	if f.exitZeroOnTerm && a.sig.Terminated() {
		return exitError{ExitOK}
	}
	return nil
}

// sessionRecorder opens the session logs: files, - (stderr), stdout and
// CloudWatch Logs groups, with the AWS configuration of the global flags.
func (a *app) sessionRecorder(ctx context.Context, dests []string) (*session.Recorder, error) {
	return session.OpenDests(ctx, dests, session.OpenOptions{Log: a.log, Stderr: a.stderr, Stdout: a.stdout, ExpandPath: config.ExpandHome,
		CloudWatch: cwlogs.Opener(func(ctx context.Context) (aws.Config, error) {
			cfg, _, err := a.loadAWS(ctx)
			return cfg, err
		}, a.log)})
}

// closeRecorder sends the records still queued, for at most ten seconds;
// what a remote log has not taken by then stays in its spool for the
// next start.
func closeRecorder(rec *session.Recorder) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = rec.Close(ctx)
}
