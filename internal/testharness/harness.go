// Package testharness starts throwaway real peers for tests: PostgreSQL,
// MariaDB, OpenSSH's sshd and moto_server (a local AWS API), each on a free
// loopback port in its own temporary directory, and tears them down through
// t.Cleanup (process group killed, directory removed).
//
// Peers that are not installed make the test skip (or fail when
// RDSGATE_REQUIRE_PEERS=1, see package testpeer) with a hint how to install
// them.
//
// Running as root (the usual case in containers and CI): PostgreSQL refuses
// to run as root and MariaDB should not, so their processes run as the
// "postgres" and "mysql" OS users (from the Debian packages). Therefore
// every peer directory is made under os.TempDir() (or /tmp when TMPDIR is
// not traversable by others), mode 0755, not in t.TempDir(), whose top
// directory is mode 0700; server-owned parts are chowned. Running as an
// ordinary user, every peer runs as that user.
//
// Every start detects readiness by talking to the peer (bounded in attempts
// and time, never a fixed sleep). If the port FreePort picked was taken in
// the meantime, the first start moves to another one. When a start fails,
// the t.Fatal message carries the tail of the peer's log; when a test
// fails, the logs of the peers it started are written to the test log at
// cleanup.
//
// Teardown: each server runs in its own process group with Pdeathsig
// SIGKILL (so it dies with a test binary killed by -timeout); cleanup sends
// the polite stop signal, SIGKILLs the group after 20 s, also kills
// descendants that left the group (sshd's per-connection processes), and
// removes the directory. Directories left by a test binary that was killed
// are removed (with a killed postgres's SysV shared memory segment) by the
// next test binary that starts a peer.
package testharness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/testpeer"
)

// Limits of readiness polling. Every wait loop is bounded by both.
const (
	startTimeout   = 60 * time.Second
	maxProbes      = 3000
	probeTimeout   = 2 * time.Second
	stopGrace      = 20 * time.Second
	killWait       = 10 * time.Second
	logTailBytes   = 4096
	setupCmdTimout = 60 * time.Second
)

var (
	portMu   sync.Mutex
	portUsed = map[int]bool{}
)

// FreePort returns a free TCP port on 127.0.0.1. The kernel picks it; ports
// already handed out by this test binary are not handed out again, so peers
// started in parallel do not collide with one another.
func FreePort(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testharness: FreePort: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portUsed[port] {
			portUsed[port] = true
			return port
		}
	}
	t.Fatalf("testharness: FreePort: no unused port after 50 tries")
	return 0
}

// osUser is the account a server process runs as. cred is nil when it is
// the current user (no switch needed).
type osUser struct {
	name     string
	uid, gid int
	cred     *syscall.Credential
}

// serverUser returns the account to run a server as: the named system
// account when running as root, the current user otherwise.
func serverUser(t testing.TB, name, how string) osUser {
	t.Helper()
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			t.Fatalf("testharness: current user: %v", err)
		}
		return osUser{name: u.Username, uid: os.Geteuid(), gid: os.Getegid()}
	}
	u, err := lookupUser(name)
	if err != nil {
		testpeer.Missing(t, "OS user "+name, how)
	}
	return u
}

// lookupUser returns the named account with a credential to switch to it.
func lookupUser(name string) (osUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return osUser{}, err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return osUser{}, err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return osUser{}, err
	}
	return osUser{name: name, uid: uid, gid: gid,
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}, nil
}

// chown gives path to u (a no-op when u is the current user).
func (u osUser) chown(t testing.TB, paths ...string) {
	t.Helper()
	if u.cred == nil {
		return
	}
	for _, p := range paths {
		if err := os.Lchown(p, u.uid, u.gid); err != nil {
			t.Fatalf("testharness: chown %s to %s: %v", p, u.name, err)
		}
	}
}

// peerDir makes a fresh directory under peerBase() that other users can
// traverse (mode 0755) and removes it at cleanup. Cleanups run last-in
// first-out, so processes registered later are stopped before it goes.
func peerDir(t testing.TB, kind string) string {
	t.Helper()
	sweepOnce.Do(sweepStale)
	dir, err := os.MkdirTemp(peerBase(), "rdsgate-"+kind+"-")
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("testharness: %v", err)
	}
	writeFile(t, filepath.Join(dir, ownerFile), []byte(strconv.Itoa(self.pid)+" "+self.start+"\n"), 0o644, osUser{})
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
	self      = func() procID { _, st, _ := readStat(os.Getpid()); return procID{pid: os.Getpid(), start: st} }()
	sweepOnce sync.Once
)

// sweepStale removes peer directories whose owning test process is gone,
// and the SysV shared memory segment a killed postgres left.
func sweepStale() {
	matches, _ := filepath.Glob(filepath.Join(peerBase(), "rdsgate-*"))
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
		if err != nil || (procID{pid: pid, start: f[1]}).alive() {
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

// peerBase returns os.TempDir() if every directory on its path can be
// traversed by other users (a TMPDIR made by mktemp -d is mode 0700, and
// then the postgres/mysql users could not reach their files), else the
// first such of /tmp and /var/tmp.
func peerBase() string {
	for _, d := range []string{os.TempDir(), "/tmp", "/var/tmp"} {
		if traversable(d) {
			return d
		}
	}
	return os.TempDir()
}

func traversable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

func mkdirOwned(t testing.TB, path string, mode os.FileMode, u osUser) string {
	t.Helper()
	if err := os.Mkdir(path, mode); err != nil {
		t.Fatalf("testharness: %v", err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask
		t.Fatalf("testharness: %v", err)
	}
	u.chown(t, path)
	return path
}

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode, u osUser) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatalf("testharness: %v", err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatalf("testharness: %v", err)
	}
	u.chown(t, path)
}

// copyFile copies src to dst owned by u with mode.
func copyFile(t testing.TB, src, dst string, mode os.FileMode, u osUser) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	writeFile(t, dst, data, mode, u)
}

// findBinary looks for the first existing executable among names in PATH
// and then in dirs (globs allowed; among several matches the last in sort
// order, i.e. usually the highest version, wins). It calls
// testpeer.Missing with how when nothing is found.
func findBinary(t testing.TB, how string, names []string, dirs ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				return abs
			}
			return p
		}
	}
	for _, d := range dirs {
		matches, _ := filepath.Glob(d)
		for i := len(matches) - 1; i >= 0; i-- {
			for _, n := range names {
				p := filepath.Join(matches[i], n)
				if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
					return p
				}
			}
		}
	}
	testpeer.Missing(t, names[0], how)
	return ""
}

// logTail returns the last bytes of a log file, for failure messages.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	off := st.Size() - logTailBytes
	if off < 0 {
		off = 0
	}
	buf := make([]byte, st.Size()-off)
	n, _ := f.ReadAt(buf, off)
	s := string(buf[:n])
	if off > 0 {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
		s = "...\n" + s
	}
	return s
}

// runSetup runs a short setup command (initdb, ssh-keygen, ...) and fails
// the test with its output if it does not succeed.
func runSetup(t testing.TB, u *osUser, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupCmdTimout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if u != nil && u.cred != nil {
		cmd.SysProcAttr.Credential = u.cred
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("testharness: %s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.Bytes()
}

// serverEnv is a small, predictable environment for server processes.
func serverEnv(home string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return []string{"PATH=" + path, "HOME=" + home, "LC_ALL=C", "LANG=C"}
}

// proc is a server process running in its own process group.
type proc struct {
	name      string
	logPath   string
	logOffset int64 // log size when this process started
	stopSig   syscall.Signal

	cmd     *exec.Cmd
	cancel  context.CancelFunc
	done    chan struct{}
	waitErr error
}

// startProc starts argv as a server whose stdout and stderr go (appended)
// to logPath. The process gets its own process group, is killed if the
// test binary dies (Pdeathsig) and is stopped by stop (stopSig first, then
// SIGKILL to the whole group).
func startProc(t testing.TB, name, logPath string, stopSig syscall.Signal, u *osUser, dir string, env []string, argv ...string) *proc {
	t.Helper()
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	defer lf.Close()
	var off int64
	if st, err := lf.Stat(); err == nil {
		off = st.Size()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if u != nil && u.cred != nil {
		cmd.SysProcAttr.Credential = u.cred
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("testharness: starting %s: %v", name, err)
	}
	p := &proc{name: name, logPath: logPath, logOffset: off, stopSig: stopSig, cmd: cmd, cancel: cancel, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process: stopSig to the group, then after stopGrace
// SIGKILL to the group; finally SIGKILL to whatever is left in the group.
// It returns an error if the process is still there after all that.
func (p *proc) stop() error {
	// Note descendants that may have left the process group (sshd puts each
	// connection in its own session) while the tree can still be walked.
	var desc []procID
	if !p.exited() {
		desc = descendants(p.pid())
		_ = syscall.Kill(-p.pid(), p.stopSig)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
		}
	}
	p.cancel() // SIGKILL to the group if still running
	select {
	case <-p.done:
	case <-time.After(killWait):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.pid())
	}
	// Stragglers that left the leader behind (ESRCH when there are none).
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	for _, d := range desc {
		if d.alive() {
			_ = syscall.Kill(d.pid, syscall.SIGKILL)
		}
	}
	return nil
}

// procID identifies a process across pid reuse: pid plus start time.
type procID struct {
	pid   int
	start string
}

func (d procID) alive() bool {
	_, start, ok := readStat(d.pid)
	return ok && start == d.start
}

// readStat returns the parent pid and start time of pid from /proc.
func readStat(pid int) (ppid int, start string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may contain spaces
	if i < 0 {
		return 0, "", false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); ppid is field 4, starttime field 22.
	if len(f) < 20 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, "", false
	}
	return ppid, f[19], true
}

// descendants lists the processes below pid (Linux /proc; none elsewhere).
func descendants(pid int) []procID {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]procID{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, start, ok := readStat(n); ok {
			children[ppid] = append(children[ppid], procID{n, start})
		}
	}
	var out []procID
	queue := []int{pid}
	for len(queue) > 0 && len(out) < 10000 {
		c := children[queue[0]]
		queue = queue[1:]
		for _, d := range c {
			out = append(out, d)
			queue = append(queue, d.pid)
		}
	}
	return out
}

// waitReady polls probe until it succeeds, the process exits, or the
// attempt/time budget is spent. On failure it stops the process and
// returns an error with the last probe error and the log tail.
func (p *proc) waitReady(probe func(ctx context.Context) error) error {
	deadline := time.Now().Add(startTimeout)
	delay := 10 * time.Millisecond
	var last error
	for i := 0; i < maxProbes && time.Now().Before(deadline); i++ {
		if p.exited() {
			return fmt.Errorf("%s exited during startup (%v); last probe error: %v\nlog %s:\n%s",
				p.name, p.waitErr, last, p.logPath, logTail(p.logPath))
		}
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		last = probe(ctx)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(delay)
		if delay < 200*time.Millisecond {
			delay = delay * 3 / 2
		}
	}
	_ = p.stop()
	return fmt.Errorf("%s not ready within %v: %v\nlog %s:\n%s",
		p.name, startTimeout, last, p.logPath, logTail(p.logPath))
}

// bindFailed reports whether the server's output since this start says its
// port was taken (another process got the port FreePort handed out).
func (p *proc) bindFailed() bool {
	b, err := os.ReadFile(p.logPath)
	if err != nil || int64(len(b)) < p.logOffset {
		return false
	}
	return bytes.Contains(b[p.logOffset:], []byte("Address already in use"))
}

// startOnPort runs launch (which starts a server on *port and waits until
// it is ready). If the server could not bind its port and newPort is true,
// it picks another port and tries again (at most 3 times); any other
// failure fails the test.
func startOnPort(t testing.TB, port *int, newPort bool, launch func() (*proc, error)) *proc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p, err := launch()
		if err == nil {
			return p
		}
		if newPort && attempt < 3 && p != nil && p.bindFailed() {
			t.Logf("testharness: %s: port %d taken, retrying on another", p.name, *port)
			*port = FreePort(t)
			continue
		}
		t.Fatalf("testharness: %v", err)
	}
}

// registerLogOnFailure writes the log tail to the test log at cleanup if
// the test failed.
func registerLogOnFailure(t testing.TB, name, logPath string) {
	t.Cleanup(func() {
		if _, err := os.Stat(logPath); err == nil && t.Failed() {
			t.Logf("testharness: %s log %s:\n%s", name, logPath, logTail(logPath))
		}
	})
}

// dialBanner connects to addr and reads until prefix is seen (or n bytes).
func dialBanner(ctx context.Context, addr string, check func([]byte) bool) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	buf := make([]byte, 256)
	got := 0
	for got < len(buf) {
		n, err := c.Read(buf[got:])
		got += n
		if check(buf[:got]) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading banner from %s: %w (got %q)", addr, err, buf[:got])
		}
	}
	return fmt.Errorf("unexpected banner from %s: %q", addr, buf[:got])
}
