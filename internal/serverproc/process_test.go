package serverproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sh(t *testing.T, log, script string) *Process {
	t.Helper()
	p, err := Start(Config{Name: "sh", Args: []string{"/bin/sh", "-c", script}, LogFile: log, Dir: filepath.Dir(log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

func TestStartFailureShowsLog(t *testing.T) {
	// A probe that never succeeds against a process that exits: the
	// failure must come quickly and carry the log.
	p := sh(t, filepath.Join(t.TempDir(), "log"), "echo boom-marker; exit 3")
	start := time.Now()
	err := p.WaitReady(context.Background(), func(ctx context.Context) error { return errors.New("never") })
	if err == nil || !strings.Contains(err.Error(), "boom-marker") || !strings.Contains(err.Error(), "exited during startup") {
		t.Fatalf("WaitReady error %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("WaitReady took %v to notice the exit", d)
	}
	if p.BindFailed() {
		t.Fatal("BindFailed without the message")
	}
	// A server's log may quote what clients sent: only its owner reads it.
	st, err := os.Stat(p.logFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("log file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestWaitReadyHonoursContext(t *testing.T) {
	p := sh(t, filepath.Join(t.TempDir(), "log"), "exec sleep 30")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.WaitReady(ctx, func(ctx context.Context) error { return errors.New("never") }); err == nil {
		t.Fatal("WaitReady succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("WaitReady took %v after its context ended", d)
	}
	if !p.Exited() {
		t.Fatal("a server that never got ready is still running")
	}
}

func TestStartOnPortRetriesTakenPort(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	first := port
	attempts := 0
	var said []string
	p, err := StartOnPort(&port, true, func(f string, a ...any) { said = append(said, f) }, func() (*Process, error) {
		attempts++
		script := "echo 'bind: Address already in use'; exit 1"
		if attempts > 1 {
			script = "exec sleep 30"
		}
		pr := sh(t, log, script)
		return pr, pr.WaitReady(context.Background(), func(ctx context.Context) error {
			if attempts == 1 {
				return errors.New("not yet")
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 || port == first || len(said) != 1 {
		t.Fatalf("attempts=%d port %d -> %d, said %q", attempts, first, port, said)
	}
	if p.BindFailed() {
		t.Fatal("BindFailed looks at output of an earlier start")
	}
}

func TestStartOnPortKeepsPort(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	port := 1
	attempts := 0
	_, err := StartOnPort(&port, false, nil, func() (*Process, error) {
		attempts++
		pr := sh(t, log, "echo 'bind: Address already in use'; exit 1")
		return pr, pr.WaitReady(context.Background(), func(ctx context.Context) error { return errors.New("not yet") })
	})
	if err == nil || attempts != 1 || port != 1 {
		t.Fatalf("err %v, attempts %d, port %d", err, attempts, port)
	}
}

// Stop kills what the server started, also children in a session of
// their own (as sshd's per-connection processes are).
func TestStopKillsDescendants(t *testing.T) {
	dir := t.TempDir()
	p := sh(t, filepath.Join(dir, "log"), "setsid sleep 60 & sleep 60 & wait")
	var desc []int
	for i := 0; i < 100 && len(desc) < 2; i++ {
		desc = Descendants(p.PID())
		time.Sleep(20 * time.Millisecond)
	}
	if len(desc) < 2 {
		t.Fatalf("descendants %v", desc)
	}
	starts := map[int]string{}
	for _, d := range desc {
		starts[d], _ = StartTime(d)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	// Members whose parent died first are reaped by init, a moment later.
	err := syscall.Kill(-p.PID(), 0)
	for i := 0; i < 100 && !errors.Is(err, syscall.ESRCH); i++ {
		time.Sleep(20 * time.Millisecond)
		err = syscall.Kill(-p.PID(), 0)
	}
	if !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d still has members (%v)", p.PID(), err)
	}
	for d, st := range starts {
		// A killed child of a dead parent is reaped by init a moment later.
		now, ok := StartTime(d)
		for i := 0; i < 100 && ok && now == st; i++ {
			time.Sleep(20 * time.Millisecond)
			now, ok = StartTime(d)
		}
		if ok && now == st {
			t.Errorf("descendant %d still there", d)
		}
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestFreePortNotRepeated(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 20; i++ {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if p <= 0 || p > 65535 || seen[p] {
			t.Fatalf("FreePort returned %d (seen before: %v)", p, seen[p])
		}
		seen[p] = true
	}
}
