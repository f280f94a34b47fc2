package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/setting"
)

// RunOptions say how Run goes; the zero value serves until ctx ends and
// then closes sessions at once.
type RunOptions struct {
	// CheckConnections logs in through every listener once as serving
	// starts (see CheckConnections); a failure stops Run, which returns it.
	CheckConnections bool
	// Observer hears of each check that passed, as a login stage.
	Observer dbpath.Observer
	// Ready is called once the listeners serve (and the checks passed).
	Ready func()
	// Stopping is called when ctx ends, before open sessions drain.
	Stopping func()
	// DrainTimeout is how long open sessions may finish after ctx ends
	// before they are closed.
	DrainTimeout time.Duration
	// ServeError hears of a listener that failed (serving stops).
	ServeError func(error)
}

// Run serves until ctx ends or a listener fails, then stops accepting and
// drains. It returns the failed connection check, if any.
func (g *Gateway) Run(ctx context.Context, opts RunOptions) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx) }()
	var failed error
	if opts.CheckConnections {
		checked := func(l Listener, took time.Duration) {
			if p := l.Path; opts.Observer != nil {
				opts.Observer.Done(dbpath.StageLogin, took, fmt.Sprintf("%s: logged in as %s over TLS verified for %s, via %s", p.Spec.Name, p.Spec.User, p.Target.Host, p.Route.Via))
			}
		}
		if failed = g.CheckConnections(ctx, checked); failed != nil {
			stop()
		}
	}
	if failed == nil && opts.Ready != nil {
		opts.Ready()
	}
	if err := <-served; err != nil && opts.ServeError != nil {
		opts.ServeError(err)
	}
	if failed == nil && opts.Stopping != nil {
		opts.Stopping()
	}
	sctx, cancel := context.WithTimeout(context.Background(), opts.DrainTimeout)
	defer cancel()
	_ = g.Shutdown(sctx)
	return failed
}

// HealthConfig says where the health server listens and what it may do.
type HealthConfig struct {
	// Address is the loopback HOST:PORT to serve on ("": no server; the
	// Health still tracks readiness for the gateway).
	Address          string
	AllowNonLoopback bool
	// Quit, when set, is what a POST to /quitquitquit does (needs Address).
	Quit func()
	// Log hears where the server listens and of quit requests.
	Log *slog.Logger
}

// StartHealth makes the gateway's Health and, with an Address, serves it.
// stop ends the server (a no-op without one).
func StartHealth(c HealthConfig) (h *proxy.Health, stop func(), err error) {
	if c.Quit != nil && c.Address == "" {
		return nil, nil, setting.Invalidf("%s needs %s", setting.Quit, setting.HTTPAddress)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	h = proxy.NewHealth()
	if c.Quit != nil {
		h.OnQuit(func() {
			c.Log.Info("stop asked for on /quitquitquit")
			c.Quit()
		})
	}
	if c.Address == "" {
		return h, func() {}, nil
	}
	// Health and metrics give no access to a database, so they may face
	// the node (a kubelet's probes come from outside the pod); stopping
	// the proxy may not, unless non-loopback is allowed as for listeners.
	addr, stop, err := ServeHealth(h, c.Address, c.AllowNonLoopback || c.Quit == nil)
	switch {
	case errors.Is(err, proxy.ErrNonLoopback):
		return nil, nil, setting.Invalidf("%s %s with %s: anyone who reaches it could stop the proxy; keep it on 127.0.0.1 (a pod's containers share it), or pass %s",
			setting.HTTPAddress, c.Address, setting.Quit, setting.AllowNonLoopback)
	case err != nil:
		return nil, nil, setting.Errorf("%s: %w", setting.HTTPAddress, err)
	}
	c.Log.Info("health and metrics", "url", "http://"+addr.String()+"/metrics")
	return h, stop, nil
}

// ServeHealth serves h (/liveness, /readiness, /metrics and, when h has a
// quit action, /quitquitquit) on address, which must be loopback unless
// allowNonLoopback. It returns the address bound and how to stop it.
func ServeHealth(h *proxy.Health, address string, allowNonLoopback bool) (net.Addr, func(), error) {
	ln, err := proxy.Listen(proxy.ListenConfig{Address: address, AllowNonLoopback: allowNonLoopback})
	if err != nil {
		return nil, nil, err
	}
	hs := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(ln)
	}()
	return ln.Addr(), func() { hs.Close(); <-done }, nil
}
