// Package dbserver runs throwaway PostgreSQL and MariaDB servers from the
// binaries installed on the machine: a fresh data directory, a free loopback
// port, readiness detected by a real connection, and Close that stops the
// server and removes its directory. The sandbox uses it for its backends.
//
// Running as root, the servers run as the "postgres" and "mysql" accounts of
// the Debian packages (PostgreSQL refuses root), so their directories live
// under a world-traversable temp dir, mode 0755.
package dbserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Named limits; all waits are bounded.
const (
	startTimeout = 60 * time.Second
	stopGrace    = 15 * time.Second
	setupTimeout = 90 * time.Second
)

// ErrNotInstalled is returned (wrapped) when the server binaries are missing.
var ErrNotInstalled = errors.New("not installed")

// Server is a running throwaway database server.
type Server struct {
	// Engine is "postgres" or "mariadb".
	Engine string
	Host   string
	Port   int
	// Socket is the unix socket: PostgreSQL's socket directory, MariaDB's
	// socket file.
	Socket string
	// AdminUser and AdminPassword are the superuser's credentials (trust on
	// the socket for PostgreSQL; the password over TCP for both).
	AdminUser     string
	AdminPassword string
	Dir           string
	LogFile       string

	cmd  *exec.Cmd
	done chan struct{}
}

// Addr is 127.0.0.1:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Close stops the server (its polite signal, then SIGKILL to its process
// group) and removes its directory.
func (s *Server) Close() error {
	if s.cmd != nil && s.cmd.Process != nil {
		sig := syscall.SIGTERM
		if s.Engine == "postgres" {
			sig = syscall.SIGINT // fast shutdown
		}
		_ = syscall.Kill(-s.cmd.Process.Pid, sig)
		select {
		case <-s.done:
		case <-time.After(stopGrace):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	}
	if s.Dir != "" {
		return os.RemoveAll(s.Dir)
	}
	return nil
}

// account is the OS user a server runs as; cred is nil for the current user.
type account struct {
	name     string
	uid, gid int
	cred     *syscall.Credential
}

func serverAccount(name string) (account, error) {
	if os.Geteuid() != 0 {
		return account{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return account{}, fmt.Errorf("OS user %s (created by the Debian server package): %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return account{name: name, uid: uid, gid: gid, cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}, nil
}

func (a account) chown(paths ...string) error {
	if a.cred == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, a.uid, a.gid); err != nil {
			return err
		}
	}
	return nil
}

// makeDir creates the server's directory under base (or a traversable temp
// dir when base is empty).
func makeDir(base, prefix string) (string, error) {
	if base == "" {
		base = "/tmp"
		if st, err := os.Stat(os.TempDir()); err == nil && st.Mode().Perm()&0o001 != 0 {
			base = os.TempDir()
		}
	}
	dir, err := os.MkdirTemp(base, prefix)
	if err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o755)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func findBinary(names []string, dirs ...string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	for _, d := range dirs {
		matches, _ := filepath.Glob(d)
		for i := len(matches) - 1; i >= 0; i-- {
			for _, n := range names {
				p := filepath.Join(matches[i], n)
				if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
					return p, nil
				}
			}
		}
	}
	return "", fmt.Errorf("%s: %w", names[0], ErrNotInstalled)
}

// run runs a setup command to completion as acct.
func run(ctx context.Context, acct account, dir string, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env(dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: acct.cred}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(name), err, out)
	}
	return nil
}

func env(home string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return []string{"PATH=" + path, "HOME=" + home, "LC_ALL=C", "LANG=C"}
}

// start launches the server process in its own process group (killed with
// this process), logging to s.LogFile, and waits until ready succeeds.
func (s *Server) start(ctx context.Context, acct account, ready func(context.Context) error, argv ...string) error {
	lf, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.Dir
	cmd.Env = env(s.Dir)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: acct.cred}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", filepath.Base(argv[0]), err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var last error
	for i := 0; i < 600; i++ {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited during start-up; log %s:\n%s", s.Engine, s.LogFile, tail(s.LogFile))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (%v); log %s:\n%s", s.Engine, startTimeout, last, s.LogFile, tail(s.LogFile))
		default:
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		last = ready(pctx)
		pcancel()
		if last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready: %v", s.Engine, last)
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return string(b)
}
