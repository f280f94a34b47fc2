package testharness

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

func TestCleanupStopsProcesses(t *testing.T) {
	var pgPID, sshdPID int
	var pgDesc, sshdDesc []procID
	var dirs []string
	t.Run("peers", func(t *testing.T) {
		pg := StartPostgres(t, PostgresOptions{})
		pgPID = pg.PID()
		pgDesc = descendants(pgPID)
		if len(pgDesc) == 0 {
			t.Fatal("postgres has no child processes?")
		}
		dirs = append(dirs, pg.dir)

		s := StartSSHD(t, SSHDOptions{})
		sshdPID = s.PID()
		// An open connection gets its own sshd process, in its own session.
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 8)
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100 && len(sshdDesc) == 0; i++ {
			sshdDesc = descendants(sshdPID)
			time.Sleep(20 * time.Millisecond)
		}
		if len(sshdDesc) == 0 {
			t.Fatal("no per-connection sshd process")
		}
		dirs = append(dirs, s.dir)
	})
	if pgPID == 0 || sshdPID == 0 {
		t.Fatal("peers did not start")
	}
	for _, pid := range []int{pgPID, sshdPID} {
		if alive(pid) {
			t.Errorf("pid %d still running after cleanup", pid)
		}
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process group %d still has members (%v)", pid, err)
		}
	}
	for _, d := range append(pgDesc, sshdDesc...) {
		if d.alive() && alive(d.pid) {
			t.Errorf("descendant %d still running after cleanup", d.pid)
		}
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("directory %s not removed: %v", d, err)
		}
	}
}

func TestStartFailureShowsLog(t *testing.T) {
	// A probe that never succeeds against a process that exits: the
	// failure must come quickly and carry the log.
	dir := t.TempDir()
	p := startProc(t, "sh", dir+"/log", syscall.SIGTERM, nil, dir, nil, "/bin/sh", "-c", "echo boom-marker; exit 3")
	start := time.Now()
	err := p.waitReady(func(ctx context.Context) error { return errors.New("never") })
	if err == nil || !strings.Contains(err.Error(), "boom-marker") || !strings.Contains(err.Error(), "exited during startup") {
		t.Fatalf("waitReady error %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("waitReady took %v to notice the exit", d)
	}
	if p.bindFailed() {
		t.Fatal("bindFailed without the message")
	}
}

func TestStartOnPortRetriesTakenPort(t *testing.T) {
	dir := t.TempDir()
	port := FreePort(t)
	first := port
	attempts := 0
	p := startOnPort(t, &port, true, func() (*proc, error) {
		attempts++
		script := "echo 'bind: Address already in use'; exit 1"
		if attempts > 1 {
			script = "exec sleep 30"
		}
		pr := startProc(t, "sh", dir+"/log", syscall.SIGTERM, nil, dir, nil, "/bin/sh", "-c", script)
		return pr, pr.waitReady(func(ctx context.Context) error {
			if attempts == 1 {
				return errors.New("not yet")
			}
			return nil
		})
	})
	defer p.stop()
	if attempts != 2 || port == first {
		t.Fatalf("attempts=%d port %d -> %d", attempts, first, port)
	}
	if p.bindFailed() {
		t.Fatal("bindFailed looks at output of an earlier start")
	}
}

// The real servers say "Address already in use" when their port is taken,
// and the first start then moves to another port.
func TestServersMoveOffTakenPort(t *testing.T) {
	t.Parallel()
	hold := func(port int) {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	}
	pg := StartPostgres(t, PostgresOptions{})
	pg.Stop(t)
	old := pg.Port
	hold(old)
	pg.start(t, true)
	if pg.Port == old {
		t.Fatal("postgres did not move")
	}
	pg.Exec(t, "SELECT 1")

	m := StartMariaDB(t, MariaDBOptions{})
	m.Stop(t)
	old = m.Port
	hold(old)
	m.start(t, true)
	if m.Port == old {
		t.Fatal("mariadb did not move")
	}
	m.Exec(t, "SELECT 1")
}
