package mysql

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/tunnel"
)

// Clients that connect and leave cost no upstream connection and no login,
// even though a MySQL server speaks first: a session waiting for the login
// rate limit (or for the route) ends when its client leaves, the route is
// not dialled for it, and the slots given back let a real client log in at
// once.
func testVanishedClients(t *testing.T, b *backend) {
	limit := proxy.NewRateLimiter(1, 1)
	var dials atomic.Int64
	e := startEnv(t, b, envOptions{logins: limit, dialer: func(d tunnel.Dialer) tunnel.Dialer {
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
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := net.Dial("tcp", e.proxy.Addr().String()); err == nil {
				c.Close()
			}
		}()
	}
	wg.Wait()
	waitFor(t, "every session ended", func() bool { st := e.proxy.Stats(); return st.Total == clients && st.Open == 0 })
	if n := dials.Load(); n != 0 {
		t.Errorf("%d upstream dials for %d clients that connected and left", n, clients)
	}

	dequeue()
	waiters.Wait()
	db := e.open(t, e.config("app_user"))
	if got := queryString(t, db, "SELECT CURRENT_USER()"); got != "app_user@%" {
		t.Errorf("CURRENT_USER() = %q", got)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d upstream dials for one login", n)
	}
}
