package testharness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/serverproc"
)

const sshdHow = "apt-get install openssh-server openssh-client (sshd in /usr/sbin, ssh-keygen)"

// SSHDOptions configures StartSSHD.
type SSHDOptions struct {
	// AuthorizedKeys are public key lines in authorized_keys format
	// ("ssh-ed25519 AAAA... comment"), written to a private
	// AuthorizedKeysFile. More can be added later with AddAuthorizedKey.
	AuthorizedKeys []string
	// AuthorizedKeysCommand, if set, is configured with
	// AuthorizedKeysCommandUser (default "nobody"). sshd insists that the
	// command and every directory above it are owned by root and not
	// writable by group or others (StrictModes does not relax this).
	AuthorizedKeysCommand     string
	AuthorizedKeysCommandUser string
	// Extra sshd_config lines. For most keywords sshd keeps the first value
	// it reads, so lines before any "Match" line go before the harness's
	// defaults (and override them, e.g. "AllowTcpForwarding local" or
	// "UsePAM yes"); a Match block and what follows it goes at the end.
	Extra []string
}

// SSHD is a running throwaway OpenSSH server.
type SSHD struct {
	Host               string // "127.0.0.1"
	Port               int
	User               string // the OS user that may log in: the current user (root in CI)
	HostKeyPub         string // "ssh-ed25519 AAAA..." (no comment)
	HostKeyFile        string // private host key
	KnownHostsFile     string // a known_hosts file holding KnownHostsLine
	AuthorizedKeysFile string
	ConfigFile         string
	LogFile            string // sshd -e output (LogLevel VERBOSE)

	sshd string
	dir  string
	proc *serverproc.Process
}

// StartSSHD starts `sshd -D -e -f <private config>` on a free 127.0.0.1
// port with a fresh ed25519 host key. Public key authentication only (no
// passwords, no PAM, StrictModes off), PermitRootLogin prohibit-password,
// AllowTcpForwarding yes. The config is checked with `sshd -t` first. It
// returns once the server's SSH-2.0 banner is read; t.Cleanup stops it,
// including per-connection processes, and removes the directory.
//
// Gotcha: with UsePAM no, sshd refuses accounts whose password field is
// locked ("!..." in /etc/shadow); root in the Debian images has "*", which is
// fine. Pass Extra: []string{"UsePAM yes"} on systems where it is not.
func StartSSHD(t testing.TB, opts SSHDOptions) *SSHD {
	t.Helper()
	sshd := findBinary(t, sshdHow, []string{"sshd"}, "/usr/sbin", "/usr/local/sbin")
	keygen := findBinary(t, sshdHow, []string{"ssh-keygen"}, "/usr/bin", "/usr/local/bin")
	if !filepath.IsAbs(sshd) {
		t.Fatalf("testharness: sshd must be started by absolute path, got %s", sshd)
	}
	cur, err := user.Current()
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil && os.Geteuid() == 0 {
		t.Fatalf("testharness: sshd privilege separation directory: %v", err)
	}

	dir := peerDir(t, "sshd")
	s := &SSHD{
		Host:               "127.0.0.1",
		Port:               FreePort(t),
		User:               cur.Username,
		HostKeyFile:        filepath.Join(dir, "ssh_host_ed25519_key"),
		KnownHostsFile:     filepath.Join(dir, "known_hosts"),
		AuthorizedKeysFile: filepath.Join(dir, "authorized_keys"),
		ConfigFile:         filepath.Join(dir, "sshd_config"),
		LogFile:            filepath.Join(dir, "sshd.log"),
		sshd:               sshd,
		dir:                dir,
	}
	registerLogOnFailure(t, "sshd", func() string { return s.LogFile })
	runSetup(t, dir, keygen, "-q", "-t", "ed25519", "-N", "", "-C", "rdsgate-test-host", "-f", s.HostKeyFile)
	pub, err := os.ReadFile(s.HostKeyFile + ".pub")
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	f := strings.Fields(string(pub))
	if len(f) < 2 {
		t.Fatalf("testharness: bad host public key %q", pub)
	}
	s.HostKeyPub = f[0] + " " + f[1]

	var keys bytes.Buffer
	for _, k := range opts.AuthorizedKeys {
		keys.WriteString(strings.TrimSpace(k) + "\n")
	}
	writeFile(t, s.AuthorizedKeysFile, keys.Bytes(), 0o600, serverproc.Account{})

	var pre, post []string
	for i, l := range opts.Extra {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(l)), "match ") {
			post = opts.Extra[i:]
			break
		}
		pre = append(pre, l)
	}
	lines := []string{"# rdsgate testharness"}
	lines = append(lines, pre...)
	lines = append(lines,
		"ListenAddress 127.0.0.1",
		"HostKey "+s.HostKeyFile,
		"PidFile "+filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile "+s.AuthorizedKeysFile,
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"HostbasedAuthentication no",
		"UsePAM no",
		"StrictModes no",
		"PermitRootLogin prohibit-password",
		"AllowTcpForwarding yes",
		"AllowAgentForwarding no",
		"X11Forwarding no",
		"PermitTunnel no",
		"PrintMotd no",
		"PrintLastLog no",
		"UseDNS no",
		"MaxStartups 100:30:200",
		"MaxSessions 100",
		"ClientAliveInterval 0",
		"LogLevel VERBOSE",
	)
	if opts.AuthorizedKeysCommand != "" {
		cu := opts.AuthorizedKeysCommandUser
		if cu == "" {
			cu = "nobody"
		}
		lines = append(lines, "AuthorizedKeysCommand "+opts.AuthorizedKeysCommand, "AuthorizedKeysCommandUser "+cu)
	}
	lines = append(lines, post...)
	writeFile(t, s.ConfigFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644, serverproc.Account{})
	runSetup(t, dir, sshd, "-t", "-f", s.ConfigFile)

	stopAtCleanup(t, &s.proc)
	s.start(t, true)
	return s
}

// start runs sshd on s.Port (given with -p, so sshd_config has no Port
// line); newPort allows moving to another port if it is taken.
func (s *SSHD) start(t testing.TB, newPort bool) {
	t.Helper()
	s.proc = startServer(t, &s.Port, newPort, func() serverproc.Config {
		return serverproc.Config{Name: "sshd", LogFile: s.LogFile, Dir: s.dir, Env: serverproc.Env(s.dir),
			Args: []string{s.sshd, "-D", "-e", "-f", s.ConfigFile, "-p", strconv.Itoa(s.Port)}}
	}, func(ctx context.Context) error {
		return serverproc.ReadGreeting(ctx, s.Addr(), func(b []byte) bool { return bytes.HasPrefix(b, []byte("SSH-2.0-")) })
	})
	writeFile(t, s.KnownHostsFile, []byte(s.KnownHostsLine()+"\n"), 0o644, serverproc.Account{})
}

// Addr returns "127.0.0.1:port".
func (s *SSHD) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// KnownHostsLine returns "[127.0.0.1]:port ssh-ed25519 AAAA...", the line
// an OpenSSH known_hosts file (or golang.org/x/crypto/ssh/knownhosts) needs.
func (s *SSHD) KnownHostsLine() string {
	return fmt.Sprintf("[%s]:%d %s", s.Host, s.Port, s.HostKeyPub)
}

// PID returns the listening sshd's process id.
func (s *SSHD) PID() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.PID()
}

// AddAuthorizedKey appends a public key line to the AuthorizedKeysFile;
// sshd reads the file at each login, so it takes effect at once.
func (s *SSHD) AddAuthorizedKey(t testing.TB, line string) {
	t.Helper()
	f, err := os.OpenFile(s.AuthorizedKeysFile, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.TrimSpace(line) + "\n"); err != nil {
		t.Fatalf("testharness: %v", err)
	}
}

// Stop stops the listener and kills the per-connection processes, so that
// existing sessions (and port forwards) break, as when a bastion goes down.
func (s *SSHD) Stop(t testing.TB) {
	t.Helper()
	stop(t, s.proc)
}

// Restart is Stop followed by a start on the same port with the same host
// key and configuration; it returns once the new server answers.
func (s *SSHD) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.start(t, false)
}

// GenerateSSHKey makes a fresh ed25519 client key pair without passphrase
// in t.TempDir() with ssh-keygen. It returns the private key file (mode
// 0600, usable with ssh -i) and the public key line (authorized_keys
// format).
func GenerateSSHKey(t testing.TB) (privateKeyFile, publicKey string) {
	t.Helper()
	keygen := findBinary(t, sshdHow, []string{"ssh-keygen"}, "/usr/bin", "/usr/local/bin")
	privateKeyFile = filepath.Join(t.TempDir(), "id_ed25519")
	runSetup(t, "", keygen, "-q", "-t", "ed25519", "-N", "", "-C", "rdsgate-test-client", "-f", privateKeyFile)
	pub, err := os.ReadFile(privateKeyFile + ".pub")
	if err != nil {
		t.Fatalf("testharness: %v", err)
	}
	return privateKeyFile, strings.TrimSpace(string(pub))
}
