package ssm

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/sandbox/ssmagent"
)

func sizeFromEnv(def int64) int64 {
	if v := os.Getenv("SSM_TEST_MIB"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return int64(n) << 20
		}
	}
	if raceEnabled {
		return def / 4
	}
	return def
}

func TestMuxEcho(t *testing.T) {
	e := newEnv(t, ssmagent.Options{})
	d := e.dialer(t, Config{})
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		c, err := d.DialContext(ctx, "tcp", e.dest())
		if err != nil {
			t.Fatal(err)
		}
		transfer(t, c, 64<<10)
		c.Close()
	}
	if n := len(e.api.Sessions()); n != 1 {
		t.Fatalf("%d sessions for two connections; want one multiplexed session", n)
	}
	if st := e.agent.Stats(); st.Signed != 1 {
		t.Fatalf("stats %+v: the websocket upgrade was not SigV4-signed (ssmmessages) or not verified", st)
	}
}

func TestBulkMuxUnpaced(t *testing.T) {
	n := sizeFromEnv(256 << 20)
	e := newEnv(t, ssmagent.Options{Unpaced: true, PayloadSize: 32 << 10})
	d := e.dialer(t, Config{MaxPayload: 32 << 10})
	c, err := d.DialContext(context.Background(), "tcp", e.dest())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	el := transfer(t, c, n)
	t.Logf("mux unpaced: %d MiB each way in %s: %.1f MB/s per direction", n>>20, el.Round(time.Millisecond), float64(n)/el.Seconds()/1e6)
}

func TestBulkBasicUnpaced(t *testing.T) {
	n := sizeFromEnv(256 << 20)
	e := newEnv(t, ssmagent.Options{Unpaced: true, PayloadSize: 32 << 10, AgentVersion: ssmagent.BasicAgentVersion})
	d := e.dialer(t, Config{MaxPayload: 32 << 10})
	c, err := d.DialContext(context.Background(), "tcp", e.dest())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	el := transfer(t, c, n)
	t.Logf("basic unpaced: %d MiB each way in %s: %.1f MB/s per direction", n>>20, el.Round(time.Millisecond), float64(n)/el.Seconds()/1e6)
	c.Close()
	c2, err := d.DialContext(context.Background(), "tcp", e.dest())
	if err != nil {
		t.Fatal(err)
	}
	transfer(t, c2, 10000)
	c2.Close()
	if got := e.agent.Stats().Sessions; got != 2 {
		t.Fatalf("basic mode: %d sessions for two connections, want 2", got)
	}
}

func TestPacedTransfer(t *testing.T) {
	e := newEnv(t, ssmagent.Options{})
	d := e.dialer(t, Config{})
	c, err := d.DialContext(context.Background(), "tcp", e.dest())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 2 << 20
	el := transfer(t, c, n)
	t.Logf("paced agent: %d MiB each way in %s: %.2f MB/s", n>>20, el.Round(time.Millisecond), float64(n)/el.Seconds()/1e6)
}

func TestConcurrent200(t *testing.T) {
	e := newEnv(t, ssmagent.Options{Unpaced: true})
	d := e.dialer(t, Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.DialContext(context.Background(), "tcp", e.dest())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
			transfer(t, c, int64(16<<10+i*97))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := e.agent.Stats().Sessions; n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
}

// TestFaultsResume: an echo transfer through an agent that drops the
// websocket twice (at about a third and two thirds of the upload), loses
// 1% of the acknowledgements both ways, reorders 2% and duplicates 1% of
// its messages arrives intact, by resuming the one session. The size is
// 8 MiB each way; SSM_FAULT_MIB=256 runs it at 256 MiB.
func TestFaultsResume(t *testing.T) {
	n := int64(8 << 20)
	if v := os.Getenv("SSM_FAULT_MIB"); v != "" {
		mib, err := strconv.Atoi(v)
		if err != nil || mib <= 0 {
			t.Fatalf("SSM_FAULT_MIB=%q: want a number of MiB", v)
		}
		n = int64(mib) << 20
	}
	msgs := int(n / 1024) // client messages carry up to 1 KiB
	e := newEnv(t, ssmagent.Options{Unpaced: true, Faults: ssmagent.Faults{
		DropWebsocketAfter: msgs / 3, DropWebsocketTimes: 2, AckLoss: 0.01, Reorder: 0.02, Duplicate: 0.01, Seed: 7}})
	d := e.dialer(t, Config{})
	c, err := d.DialContext(context.Background(), "tcp", e.dest())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	el := transfer(t, c, n)
	st := e.agent.Stats()
	if st.DroppedSockets != 2 || st.Resumes < 2 || st.Sessions != 1 || st.AcksLost == 0 {
		t.Fatalf("stats %+v: want 2 drops, ≥2 resumes, one session and lost acknowledgements", st)
	}
	t.Logf("%d MiB each way with faults in %s (%.1f MB/s per direction): %+v, byte-identical", n>>20, el.Round(time.Millisecond), float64(n)/el.Seconds()/1e6, st)
}

// TestPacedFaults: at AWS's pace (where the client batches its reads with
// the socket's low-water mark), reordered, duplicated and lost messages
// and acknowledgements and a dropped websocket still give an intact echo,
// without stalls.
func TestPacedFaults(t *testing.T) {
	e := newEnv(t, ssmagent.Options{Faults: ssmagent.Faults{
		DropWebsocketAfter: 300, AckLoss: 0.02, Reorder: 0.05, Duplicate: 0.02, Seed: 11}})
	d := e.dialer(t, Config{})
	c, err := d.DialContext(context.Background(), "tcp", e.dest())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	const n = 1 << 20
	el := transfer(t, c, n)
	st := e.agent.Stats()
	if st.DroppedSockets != 1 || st.Resumes < 1 || st.Sessions != 1 {
		t.Fatalf("stats %+v: want a drop, a resume and one session", st)
	}
	t.Logf("paced with faults: %d MiB each way in %s: %+v", n>>20, el.Round(time.Millisecond), st)
}

func TestErrors(t *testing.T) {
	e := newEnv(t, ssmagent.Options{})
	d := e.dialer(t, Config{Target: "i-0sandbox00000000b2"})
	_, err := d.DialContext(context.Background(), "tcp", e.dest())
	if !errors.Is(err, ErrAgentOffline) {
		t.Fatalf("offline bastion: %v", err)
	}
	t.Log(err)
	// A destination the bastion cannot reach.
	d2 := e.dialer(t, Config{})
	c, err := d2.DialContext(context.Background(), "tcp", "10.1.2.3:5432")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte("hello"))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 10))
	if !errors.Is(err, ErrDestinationRefused) {
		t.Fatalf("unreachable destination: %v", err)
	}
	t.Log(err)
	c.Close()
}

func TestTerminateOnClose(t *testing.T) {
	e := newEnv(t, ssmagent.Options{})
	d := e.dialer(t, Config{})
	c, err := d.DialContext(context.Background(), "tcp", e.dest())
	if err != nil {
		t.Fatal(err)
	}
	transfer(t, c, 1000)
	d.Close()
	for _, s := range e.api.Sessions() {
		if s.Status != "Terminated" {
			t.Fatalf("session %s is %s after Close", s.ID, s.Status)
		}
	}
}

// TestIdleKeepAlive: the agent ends sessions idle for longer than its
// timeout; the client's smux keepalive (NOPs are stream data) keeps an idle
// tunnel open, and without it the same idle period ends the session.
func TestIdleKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keepAlive time.Duration
		survive   bool
	}{{"keepalive", 200 * time.Millisecond, true}, {"no keepalive", -1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, ssmagent.Options{IdleTimeout: time.Second})
			d := e.dialer(t, Config{KeepAlive: tc.keepAlive})
			c, err := d.DialContext(context.Background(), "tcp", e.dest())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			transfer(t, c, 1000)
			time.Sleep(2500 * time.Millisecond)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, werr := c.Write([]byte("ping"))
			buf := make([]byte, 4)
			_, rerr := io.ReadFull(c, buf)
			alive := werr == nil && rerr == nil && string(buf) == "ping"
			if alive != tc.survive {
				t.Fatalf("after 2.5 s idle (agent timeout 1 s): alive=%v (write %v, read %v), want %v", alive, werr, rerr, tc.survive)
			}
			if !tc.survive {
				s := e.api.Sessions()[0]
				t.Logf("session %s ended as expected: %v", s.ID, rerr)
			}
		})
	}
}
