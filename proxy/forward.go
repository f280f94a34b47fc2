package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/rdsgate/rdsgate/internal/netaccept"
	"github.com/rdsgate/rdsgate/internal/rawsock"
	"github.com/rdsgate/rdsgate/session"
	"github.com/rdsgate/rdsgate/tunnel"
)

// ForwardDialTimeout bounds opening the route for one forwarded connection.
const ForwardDialTimeout = 60 * time.Second

// Forward is a plain port forward: each connection ln accepts is relayed,
// byte for byte, to address through d. It returns when ctx ends or ln
// closes, after the open relays have ended.
func Forward(ctx context.Context, ln net.Listener, d tunnel.Dialer, address string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	defer func() { close(done); wg.Wait() }()
	err := netaccept.Loop(ctx, ln, netaccept.Options{Log: log}, func(c net.Conn) {
		c = rawsock.Wrap(c) // see rawsock: a wake-up less per message after idle
		wg.Add(1)
		go func() {
			defer wg.Done()
			dctx, cancel := context.WithTimeout(ctx, ForwardDialTimeout)
			up, err := d.DialContext(dctx, "tcp", address)
			cancel()
			if err != nil {
				log.Warn("could not open the route", "remote", address, "err", err)
				c.Close()
				return
			}
			var counter session.Counter
			reason := Relay(Leg{R: c, Conn: c}, Leg{R: up, Conn: up}, &counter, nil, 0, done)
			in, out := counter.Totals()
			log.Debug("forwarded connection ended", "reason", reason, "bytes_in", in, "bytes_out", out)
		}()
	})
	if err != nil {
		return fmt.Errorf("proxy: accept on %s: %w", ln.Addr(), err)
	}
	return nil
}
