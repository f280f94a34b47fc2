// Package testharness starts throwaway real peers for tests (PostgreSQL,
// MariaDB, OpenSSH's sshd, moto_server), each on a free loopback port in its
// own temporary directory, torn down through t.Cleanup. A missing peer skips
// the test, or fails it when RDSGATE_REQUIRE_PEERS=1 (see package testpeer).
package testharness

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/internal/serverproc"
	"github.com/rdsgate/rdsgate/internal/testpeer"
)

// FreePort returns a free TCP port on 127.0.0.1. The kernel picks it; ports
// already handed out by this test binary are not handed out again, so peers
// started in parallel do not collide with one another.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := serverproc.FreePort()
	if err != nil {
		t.Fatalf("testharness: FreePort: %v", err)
	}
	return port
}

// Every start detects readiness by talking to the peer (bounded in attempts
// and time, never a fixed sleep). If the port FreePort picked was taken in
// the meantime, the first start moves to another one. When a start fails,
// the t.Fatal message carries the tail of the peer's log; when a test
// fails, the logs of the peers it started are written to the test log at
// cleanup. PostgreSQL and MariaDB are package dbserver's servers and the
// other processes package serverproc's; this package adds what a test
// wants: t.Fatal instead of errors, cleanup, logs, and skipping.

// startDB starts a dbserver server in a fresh peer directory: it skips the
// test (testpeer.Missing) when binaries or the OS user are missing, fails
// it on any other error, stops the server at cleanup and writes its log to
// the test log then if the test failed.
func startDB(t testing.TB, kind, logName string, start func(context.Context, dbserver.Options) (*dbserver.Server, error), opts dbserver.Options) (*dbserver.Server, string) {
	t.Helper()
	opts.Dir = peerDir(t, kind)
	opts.Logf = func(format string, args ...any) { t.Logf("testharness: "+format, args...) }
	var srv *dbserver.Server
	registerLogOnFailure(t, logName, func() string {
		if srv == nil {
			return ""
		}
		return srv.LogFile
	})
	srv, err := start(context.Background(), opts)
	if missing := (*dbserver.MissingError)(nil); errors.As(err, &missing) {
		testpeer.Missing(t, missing.What, missing.How)
	}
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("testharness: %v", err)
		}
	})
	return srv, opts.Dir
}

// restart starts srv again with the same data (see dbserver.Server.Restart)
// and copies its port to *port.
func restart(t testing.TB, srv *dbserver.Server, port *int, movePort bool) {
	t.Helper()
	err := srv.Restart(context.Background(), movePort)
	*port = srv.Port
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
}

// startServer starts the server c() describes on *port and waits until
// probe succeeds; if the port is taken and movePort is set, it moves to
// another (c reads *port). It fails the test otherwise.
func startServer(t testing.TB, port *int, movePort bool, c func() serverproc.Config, probe func(ctx context.Context) error) *serverproc.Process {
	t.Helper()
	p, err := serverproc.StartOnPort(port, movePort, func(format string, args ...any) { t.Logf("testharness: "+format, args...) },
		func() (*serverproc.Process, error) {
			p, err := serverproc.Start(c())
			if err != nil {
				return nil, err
			}
			return p, p.WaitReady(context.Background(), probe)
		})
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	return p
}

// Teardown: each server runs in its own process group with Pdeathsig
// SIGKILL (so it dies with a test binary killed by -timeout); cleanup sends
// the polite stop signal, SIGKILLs the group after 20 s, also kills
// descendants that left the group (sshd's per-connection processes), and
// removes the directory. Directories left by a test binary that was killed
// are removed (with a killed postgres's SysV shared memory segment) by the
// next test binary that starts a peer (sweepStale).

// stopAtCleanup stops the process *p refers to (if any) at cleanup.
func stopAtCleanup(t testing.TB, p **serverproc.Process) {
	t.Cleanup(func() {
		if *p != nil {
			if err := (*p).Stop(); err != nil {
				t.Errorf("testharness: %v", err)
			}
		}
	})
}

// stop stops p (if started), failing the test if it will not go.
func stop(t testing.TB, p *serverproc.Process) {
	t.Helper()
	if p == nil {
		return
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("testharness: %v", err)
	}
}

// peerDir makes a fresh directory under serverproc.TempBase() that other
// users can traverse (mode 0755) and removes it at cleanup.
//
// Why not t.TempDir: running as root (the usual case in containers and CI),
// PostgreSQL refuses to run as root and MariaDB should not, so their
// processes run as the "postgres" and "mysql" OS users (from the Debian
// packages), which cannot traverse t.TempDir()'s mode 0700 top directory.
// So every peer directory is made under os.TempDir() (or /tmp when TMPDIR is
// not traversable by others), mode 0755; server-owned parts are chowned, and
// the database servers keep their data and sockets in 0700 subdirectories,
// so that another local user cannot reach them. Running as an ordinary user,
// every peer runs as that user. Cleanups run
// last-in first-out, so processes registered later are stopped before it
// goes.
func peerDir(t testing.TB, kind string) string {
	t.Helper()
	sweepOnce.Do(sweepStale)
	dir, err := os.MkdirTemp(serverproc.TempBase(), "rdsgate-"+kind+"-")
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("testharness: %v", err)
	}
	writeFile(t, filepath.Join(dir, ownerFile), []byte(self+"\n"), 0o644, serverproc.Account{})
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("testharness: removing %s: %v", dir, err)
		}
	})
	return dir
}

// ownerFile in a peer directory records "pid starttime" of the test
// process that made it, so that a later test process can remove what a
// killed one (e.g. by -timeout) left behind.
const ownerFile = "rdsgate-testharness-owner"

var (
	self = func() string {
		st, _ := serverproc.StartTime(os.Getpid())
		return strconv.Itoa(os.Getpid()) + " " + st
	}()
	sweepOnce sync.Once
)

// sweepStale removes peer directories whose owning test process is gone,
// and the SysV shared memory segment a killed postgres left.
func sweepStale() {
	matches, _ := filepath.Glob(filepath.Join(serverproc.TempBase(), "rdsgate-*"))
	for _, dir := range matches {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) != 2 {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		if st, ok := serverproc.StartTime(pid); ok && st == f[1] {
			continue
		}
		removeStaleShm(filepath.Join(dir, "data", "postmaster.pid"))
		_ = os.RemoveAll(dir)
	}
}

// removeStaleShm removes the SysV segment named in line 7 of a
// postmaster.pid ("key shmid") if it still exists with that key and
// nothing is attached to it (/proc/sysvipc/shm).
func removeStaleShm(pidFile string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 7 {
		return
	}
	f := strings.Fields(lines[6])
	if len(f) != 2 {
		return
	}
	key, id := f[0], f[1]
	tab, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(tab), "\n") {
		// key shmid perms size cpid lpid nattch ...
		c := strings.Fields(l)
		if len(c) < 7 || c[1] != id || c[6] != "0" {
			continue
		}
		if k, err := strconv.ParseInt(c[0], 10, 64); err != nil || strconv.FormatInt(k, 10) != key {
			continue
		}
		n, err := strconv.Atoi(id)
		if err != nil {
			return
		}
		const ipcRMID = 0
		_, _, _ = syscall.Syscall(syscall.SYS_SHMCTL, uintptr(n), ipcRMID, 0)
		return
	}
}

// writeFile writes path with mode, owned by a.
func writeFile(t testing.TB, path string, data []byte, mode os.FileMode, a serverproc.Account) {
	t.Helper()
	if err := a.WriteFile(path, data, mode); err != nil {
		t.Fatalf("testharness: %v", err)
	}
}

// findBinary looks for the first existing executable among names in PATH
// and then in dirs (see serverproc.FindBinary). It calls testpeer.Missing
// with how when nothing is found.
func findBinary(t testing.TB, how string, names []string, dirs ...string) string {
	t.Helper()
	p, err := serverproc.FindBinary(names, dirs...)
	if err != nil {
		testpeer.Missing(t, names[0], how)
	}
	return p
}

// runSetup runs a short setup command (ssh-keygen, ...) as the current
// user and fails the test with its output if it does not succeed.
func runSetup(t testing.TB, dir string, name string, args ...string) {
	t.Helper()
	if _, err := serverproc.RunSetup(context.Background(), serverproc.Account{}, dir, nil, name, args...); err != nil {
		t.Fatalf("testharness: %v", err)
	}
}

// registerLogOnFailure writes the tail of the log logPath() names (if any)
// to the test log at cleanup if the test failed.
func registerLogOnFailure(t testing.TB, name string, logPath func() string) {
	t.Cleanup(func() {
		path := logPath()
		if _, err := os.Stat(path); err == nil && path != "" && t.Failed() {
			t.Logf("testharness: %s log %s:\n%s", name, path, serverproc.LogTail(path))
		}
	})
}
