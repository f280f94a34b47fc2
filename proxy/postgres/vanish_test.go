package postgres

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rdsgate/rdsgate/pgwire"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/tunnel"
)

// Clients that send their startup and leave while their login waits for
// the login rate limit cost no upstream login: each wait ends when its
// client leaves, the route is never dialled, and the slots they gave back
// let a real client log in at once.
func TestVanishedClientsCostNoLogin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	limit := proxy.NewRateLimiter(1, 1)
	var dials atomic.Int64
	e := startEnv(t, envOptions{logins: limit, dialer: func(d tunnel.Dialer) tunnel.Dialer {
		return tunnel.DialerFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		})
	}})
	// A queue of half a minute ahead of the clients: waiters of the
	// test's own, gone when the test says.
	if err := limit.Wait(context.Background()); err != nil { // the burst
		t.Fatal(err)
	}
	queue, dequeue := context.WithCancel(context.Background())
	var waiters sync.WaitGroup
	for range 30 {
		waiters.Add(1)
		go func() { defer waiters.Done(); _ = limit.Wait(queue) }()
	}
	defer func() { dequeue(); waiters.Wait() }()

	const clients = 20
	startup, err := (&pgwire.StartupMessage{ProtocolVersion: pgwire.ProtocolVersion30, Params: []pgwire.Param{{Name: "user", Value: "app_user"}, {Name: "database", Value: "postgres"}}}).AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	for range clients {
		c, err := net.Dial("tcp", e.proxy.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(startup); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	waitFor(t, func() bool { st := e.proxy.Stats(); return st.Total == clients && st.Open == 0 })
	if n := dials.Load(); n != 0 {
		t.Errorf("%d upstream dials for %d clients that left before their login", n, clients)
	}

	dequeue()
	waiters.Wait()
	conn := connect(t, e, "app_user", "postgres")
	var one int
	if err := conn.QueryRow(context.Background(), "select 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("select 1 after the burst: %d %v", one, err)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d upstream dials for one login", n)
	}
}
