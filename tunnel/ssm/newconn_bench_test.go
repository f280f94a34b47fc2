package ssm

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/sandbox/ssmagent"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

// Sizes of a PostgreSQL IAM login's messages after TLS: the startup
// message, the server's cleartext-password request, the password (a token
// with a session token is ~1.2 kB) and the server's AuthenticationOk,
// ParameterStatus, BackendKeyData and ReadyForQuery.
const (
	loginStartup  = 80
	loginAskPass  = 9
	loginPassword = 1300
	loginReady    = 400
)

// loginServer is a stand-in for a database front: SSLRequest, TLS, then
// a login's two exchanges with the sizes above, then it waits for EOF.
func loginServer(tb testing.TB, cert tls.Certificate) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(time.Minute))
				buf := make([]byte, loginPassword)
				if _, err := io.ReadFull(c, buf[:8]); err != nil {
					return
				}
				if _, err := c.Write([]byte{'S'}); err != nil {
					return
				}
				tc := tls.Server(c, cfg)
				for _, x := range [][2]int{{loginStartup, loginAskPass}, {loginPassword, loginReady}} {
					if _, err := io.ReadFull(tc, buf[:x[0]]); err != nil {
						return
					}
					if _, err := tc.Write(make([]byte, x[1])); err != nil {
						return
					}
				}
				_, _ = io.Copy(io.Discard, tc)
			}()
		}
	}()
	return ln.Addr().String()
}

// stages is one new connection's time, by stage.
type stages struct{ dial, sslRequest, tls, login, total time.Duration }

func newConnection(ctx context.Context, dial func(context.Context) (net.Conn, error), cfg *tls.Config) (stages, error) {
	var st stages
	t0 := time.Now()
	c, err := dial(ctx)
	if err != nil {
		return st, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	t1 := time.Now()
	one := make([]byte, loginPassword)
	if _, err := c.Write(one[:8]); err != nil {
		return st, err
	}
	if _, err := io.ReadFull(c, one[:1]); err != nil {
		return st, err
	}
	t2 := time.Now()
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return st, err
	}
	t3 := time.Now()
	for _, x := range [][2]int{{loginStartup, loginAskPass}, {loginPassword, loginReady}} {
		if _, err := tc.Write(one[:x[0]]); err != nil {
			return st, err
		}
		if _, err := io.ReadFull(tc, one[:x[1]]); err != nil {
			return st, err
		}
	}
	t4 := time.Now()
	return stages{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3), t4.Sub(t0)}, nil
}

// BenchmarkNewConnection: where a new connection's time goes on the ssm
// route against the paced sandbox agent, beside a direct connection to
// the same stand-in front: the dial (an smux stream open), the first
// round trip (PostgreSQL's SSLRequest; the agent dials the destination
// meanwhile), the TLS handshake (TLS 1.3, ECDSA certificate) and an IAM
// login's two exchanges. Metrics are medians in ms, the route warm (its
// session open), one connection at a time.
func BenchmarkNewConnection(b *testing.B) {
	ca := testharness.NewCA(b, "bench CA")
	name := world.Endpoint("demo-login", world.DefaultRegion)
	_, _, cert := ca.Leaf(b, "", name)
	front := loginServer(b, cert)
	cfg := &tls.Config{RootCAs: ca.Pool, ServerName: name}
	e := newEnv(b, ssmagent.Options{}, func(w *world.World) {
		w.Instances = append(w.Instances, world.Instance{Identifier: "demo-login", Engine: "postgres", Endpoint: name, Port: 5432,
			Status: "available", FrontAddr: front})
	})
	d := e.dialer(b, Config{})
	var nd net.Dialer
	for _, route := range []struct {
		name string
		dial func(context.Context) (net.Conn, error)
	}{
		{"direct", func(ctx context.Context) (net.Conn, error) { return nd.DialContext(ctx, "tcp", front) }},
		{"ssm", func(ctx context.Context) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", net.JoinHostPort(name, "5432"))
		}},
	} {
		b.Run(route.name, func(b *testing.B) {
			ctx := context.Background()
			if _, err := newConnection(ctx, route.dial, cfg); err != nil { // warm: the session
				b.Fatal(err)
			}
			var all []stages
			for b.Loop() {
				st, err := newConnection(ctx, route.dial, cfg)
				if err != nil {
					b.Fatal(err)
				}
				all = append(all, st)
			}
			med := func(f func(stages) time.Duration) float64 {
				v := make([]time.Duration, len(all))
				for i, s := range all {
					v[i] = f(s)
				}
				slices.Sort(v)
				return float64(v[len(v)/2].Microseconds()) / 1000
			}
			b.ReportMetric(med(func(s stages) time.Duration { return s.dial }), "dial-ms")
			b.ReportMetric(med(func(s stages) time.Duration { return s.sslRequest }), "first-rtt-ms")
			b.ReportMetric(med(func(s stages) time.Duration { return s.tls }), "tls-ms")
			b.ReportMetric(med(func(s stages) time.Duration { return s.login }), "login-ms")
			b.ReportMetric(med(func(s stages) time.Duration { return s.total }), "total-ms")
		})
	}
}
