package testharness

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/serverproc"
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

// descendants maps the processes below pid to their start times.
func descendants(pid int) map[int]string {
	m := map[int]string{}
	for _, d := range serverproc.Descendants(pid) {
		if st, ok := serverproc.StartTime(d); ok {
			m[d] = st
		}
	}
	return m
}

func TestCleanupStopsProcesses(t *testing.T) {
	var pgPID, sshdPID int
	var pgDesc, sshdDesc map[int]string // pid -> start time
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
	for _, desc := range []map[int]string{pgDesc, sshdDesc} {
		for pid, start := range desc {
			if st, ok := serverproc.StartTime(pid); ok && st == start && alive(pid) {
				t.Errorf("descendant %d still running after cleanup", pid)
			}
		}
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("directory %s not removed: %v", d, err)
		}
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
	restart(t, pg.srv, &pg.Port, true)
	if pg.Port == old {
		t.Fatal("postgres did not move")
	}
	pg.Exec(t, "SELECT 1")

	m := StartMariaDB(t, MariaDBOptions{})
	m.Stop(t)
	old = m.Port
	hold(old)
	restart(t, m.srv, &m.Port, true)
	if m.Port == old {
		t.Fatal("mariadb did not move")
	}
	m.Exec(t, "SELECT 1")
}
