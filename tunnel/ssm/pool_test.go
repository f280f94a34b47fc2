package ssm

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/sandbox/ssmagent"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

// echo writes n random bytes to c while reading n bytes back, and checks
// that they are the same; it runs off the test goroutine.
func echo(c net.Conn, n int64) error {
	sent := sha256.New()
	errc := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, io.TeeReader(io.LimitReader(rand.Reader, n), sent))
		errc <- err
	}()
	got := sha256.New()
	if _, err := io.CopyN(got, c, n); err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(sent.Sum(nil), got.Sum(nil)) {
		return fmt.Errorf("data corrupted: sha256 differs after %d bytes", n)
	}
	return nil
}

// parallel runs conns echo transfers of n bytes at once through d, each
// on its own connection, all dialled before any transfer starts, and
// returns the first error.
// Each is bounded by a time that allows for a quarter of one session's
// pace shared by all of them.
func parallel(d *Dialer, dest string, conns int, n int64) error {
	limit := time.Minute + time.Duration(int64(conns)*n>>10)*4*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cs := make([]net.Conn, conns)
	var wg sync.WaitGroup
	errs := make([]error, conns)
	for i := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs[i], errs[i] = d.DialContext(ctx, "tcp", dest)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range cs {
			if c != nil {
				c.Close()
			}
		}
		return err
	}
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(limit))
			errs[i] = echo(c, n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// TestPoolSpreads: parallel connections through the paced agent are
// spread over up to Config.Sessions sessions (each paced on its own, so
// the transfers go faster), arrive intact, and the extra sessions end once
// idle, leaving one; connections one after another stay on one session.
func TestPoolSpreads(t *testing.T) {
	for _, tc := range []struct {
		desc            string
		sessions, conns int
		sequential      bool
		want            int // sessions started
	}{
		{desc: "one session by default", sessions: 0, conns: 8, want: 1},
		{desc: "four sessions for eight connections", sessions: 4, conns: 8, want: 4},
		{desc: "no more sessions than connections", sessions: 8, conns: 3, want: 3},
		{desc: "one after another stays on one", sessions: 4, conns: 4, sequential: true, want: 1},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t, ssmagent.Options{})
			d := e.dialer(t, Config{Sessions: tc.sessions, SessionIdle: 300 * time.Millisecond})
			const n = 128 << 10
			if tc.sequential {
				for range tc.conns {
					if err := parallel(d, e.dest(), 1, n); err != nil {
						t.Fatal(err)
					}
				}
			} else if err := parallel(d, e.dest(), tc.conns, n); err != nil {
				t.Fatal(err)
			}
			st := d.Stats()
			if st.Started != tc.want || st.Peak != tc.want || st.Limited != 0 {
				t.Fatalf("stats %+v: want %d sessions started, all open at once", st, tc.want)
			}
			if got := e.agent.Stats().Sessions; got != tc.want {
				t.Fatalf("the agent saw %d sessions, want %d", got, tc.want)
			}
			// The extra sessions end when idle; the last one stays.
			connected := func() int {
				n := 0
				for _, s := range e.api.Sessions() {
					if s.Status == "Connected" {
						n++
					}
				}
				return n
			}
			deadline := time.Now().Add(10 * time.Second)
			for (d.Stats().Open != 1 || connected() != 1) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if st, n := d.Stats(), connected(); st.Open != 1 || n != 1 {
				t.Fatalf("stats %+v, %d connected at the service: want one session left after idling", st, n)
			}
			// The one left still carries connections, and Close ends it.
			if err := parallel(d, e.dest(), 2, 4096); err != nil {
				t.Fatal(err)
			}
			d.Close()
			for _, s := range e.api.Sessions() {
				if s.Status != "Terminated" {
					t.Fatalf("session %s is %s after Close", s.ID, s.Status)
				}
			}
		})
	}
}

// syncBuffer is a log destination for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestPoolSessionLimit: with the account's session quota (the sandbox's
// ssm-session-limit fault) below Config.Sessions, every connection still
// works on the sessions the quota allows, the dialer says so once in its
// log, and a first session refused by the quota is an error that says
// what to do.
func TestPoolSessionLimit(t *testing.T) {
	defer func(b time.Duration) { growBackoff = b }(growBackoff)
	growBackoff = 100 * time.Millisecond // ask again in the second burst: the limit is still logged once
	e := newEnv(t, ssmagent.Options{}, func(w *world.World) { w.SessionLimit = 2 })
	var logs syncBuffer
	d := e.dialer(t, Config{Sessions: 4, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	for burst := range 2 {
		if err := parallel(d, e.dest(), 8, 64<<10); err != nil {
			t.Fatalf("burst %d: %v", burst+1, err)
		}
	}
	st := d.Stats()
	if st.Started != 2 || st.Peak != 2 || st.Limited < 2 {
		t.Fatalf("stats %+v: want 2 sessions and refusals by the quota in both bursts", st)
	}
	if n := strings.Count(logs.String(), "quota is reached; carrying on"); n != 1 {
		t.Fatalf("the quota is logged %d times, want once:\n%s", n, logs.String())
	}

	// Another route in the same account, with the quota used up: every
	// connection fails, saying why, however many sessions it tried at once.
	d2 := e.dialer(t, Config{Sessions: 4})
	err := parallel(d2, e.dest(), 8, 1)
	if !errors.Is(err, ErrSessionLimit) || !strings.Contains(err.Error(), "describe-sessions") {
		t.Fatalf("first sessions over the quota: %v", err)
	}
	if st := d2.Stats(); st.Started != 0 || st.Open != 0 {
		t.Fatalf("stats %+v over the quota: want no session", st)
	}
	t.Log(strings.SplitN(err.Error(), "\n", 2)[0])
}

// TestPoolBurstOnAnOpenRoute: a burst of connections on a route whose
// first session is already open (a tunnel or proxy opens it at start)
// spreads evenly over the sessions ready and being started, rather than
// piling the overflow on the session that was there first.
func TestPoolBurstOnAnOpenRoute(t *testing.T) {
	e := newEnv(t, ssmagent.Options{})
	d := e.dialer(t, Config{Sessions: 4})
	if err := parallel(d, e.dest(), 1, 1); err != nil { // the route's first session
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conns := make([]net.Conn, 8)
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i], errs[i] = d.DialContext(ctx, "tcp", e.dest())
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	var loads []int
	for _, s := range d.pools[e.dest()].live {
		loads = append(loads, s.active)
	}
	d.mu.Unlock()
	if len(loads) != 4 || slices.Max(loads) != 2 {
		t.Fatalf("8 connections over sessions with loads %v: want 4 sessions of 2", loads)
	}
}
