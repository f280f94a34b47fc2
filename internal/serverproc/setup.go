package serverproc

import (
	"bytes"
	"context"
	"errors"
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
	"time"
)

// SetupTimeout bounds one setup command (initdb, ssh-keygen, ...).
const SetupTimeout = 90 * time.Second

// ErrNotInstalled is returned (wrapped) by FindBinary when no binary is
// found.
var ErrNotInstalled = errors.New("not installed")

var (
	portMu   sync.Mutex
	portUsed = map[int]bool{}
)

// FreePort returns a free TCP port on 127.0.0.1. The kernel picks it; ports
// already handed out by this process are not handed out again, so servers
// started in parallel do not collide with one another.
func FreePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portUsed[port] {
			portUsed[port] = true
			return port, nil
		}
	}
	return 0, errors.New("free port: no unused port after 50 tries")
}

// FindBinary returns the first existing executable among names in PATH
// and then in dirs (globs allowed; among several matches the last in sort
// order, i.e. usually the highest version, wins). The error wraps
// ErrNotInstalled and names names[0].
func FindBinary(names []string, dirs ...string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				return abs, nil
			}
			return p, nil
		}
	}
	for _, d := range dirs {
		matches, _ := filepath.Glob(d)
		for i := len(matches) - 1; i >= 0; i-- {
			for _, n := range names {
				if p := filepath.Join(matches[i], n); IsExecutable(p) {
					return p, nil
				}
			}
		}
	}
	return "", fmt.Errorf("%s: %w", names[0], ErrNotInstalled)
}

// IsExecutable reports whether p is a regular file someone may execute.
func IsExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// Account is the OS user a server runs as. Cred is nil when it is the
// current user (no switch needed); the zero Account is the current user.
type Account struct {
	Name     string
	UID, GID int
	Cred     *Credential
}

// Credential is the user and group a command is switched to (Unix only).
type Credential struct{ Uid, Gid uint32 }

// LookupAccount returns the named OS user with a credential to switch to
// it.
func LookupAccount(name string) (Account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return Account{}, err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return Account{}, err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return Account{}, err
	}
	return Account{Name: name, UID: uid, GID: gid,
		Cred: &Credential{Uid: uint32(uid), Gid: uint32(gid)}}, nil
}

// ServerAccount returns the account to run a server as: the named system
// account when running as root (PostgreSQL refuses root, MariaDB should
// not run as root), the current user otherwise.
func ServerAccount(name string) (Account, error) {
	if os.Geteuid() != 0 {
		a := Account{UID: os.Geteuid(), GID: os.Getegid()}
		if u, err := user.Current(); err == nil {
			a.Name = u.Username
		}
		return a, nil
	}
	return LookupAccount(name)
}

// Chown gives paths to a (a no-op for the current user).
func (a Account) Chown(paths ...string) error {
	if a.Cred == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Lchown(p, a.UID, a.GID); err != nil {
			return fmt.Errorf("chown %s to %s: %w", p, a.Name, err)
		}
	}
	return nil
}

// Mkdir makes the directory path with mode (whatever the umask) owned by a.
func (a Account) Mkdir(path string, mode os.FileMode) error {
	if err := os.Mkdir(path, mode); err != nil {
		return err
	}
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	return a.Chown(path)
}

// WriteFile writes path with mode (whatever the umask) owned by a.
func (a Account) WriteFile(path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	return a.Chown(path)
}

// CopyFile copies src to dst with mode, owned by a.
func (a Account) CopyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return a.WriteFile(dst, data, mode)
}

// RunSetup runs a short setup command as a and returns its combined
// output; the error carries the output.
func RunSetup(ctx context.Context, a Account, dir string, env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, SetupTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = sysProcAttr(a.Cred)
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.Bytes(), nil
}

// Env is a small, predictable environment for server processes.
func Env(home string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return []string{"PATH=" + path, "HOME=" + home, "LC_ALL=C", "LANG=C"}
}

// TempBase returns os.TempDir() if every directory on its path can be
// traversed by other users (a TMPDIR made by mktemp -d is mode 0700, and
// then servers running as the postgres or mysql user could not reach their
// files), else the first such of /tmp and /var/tmp.
func TempBase() string {
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

// ReadGreeting connects to addr and reads until check accepts what the
// server sent first (at most 256 bytes): a readiness probe for servers
// that greet (SSH's banner, MySQL's handshake).
func ReadGreeting(ctx context.Context, addr string, check func([]byte) bool) error {
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
			return fmt.Errorf("reading greeting from %s: %w (got %q)", addr, err, buf[:got])
		}
	}
	return fmt.Errorf("unexpected greeting from %s: %q", addr, buf[:got])
}
