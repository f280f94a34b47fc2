// Package dbserver runs throwaway PostgreSQL and MariaDB servers from the
// binaries installed on the machine, each private to the user who runs it,
// with a fresh data directory, a free loopback port and readiness detected
// by a real connection. The sandbox uses it for its backends, the test
// harness for its database peers.
package dbserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/rdsgate/rdsgate/internal/serverproc"
)

// ErrNotInstalled matches (errors.Is) every MissingError.
var ErrNotInstalled = serverproc.ErrNotInstalled

// MissingError is returned when something a server needs is not on the
// machine: a binary, or the OS user it runs as.
type MissingError struct {
	What string // "initdb", "OS user postgres"
	How  string // how to get it
}

func (e *MissingError) Error() string { return e.What + " is not available: " + e.How }

// Is makes a MissingError match ErrNotInstalled.
func (e *MissingError) Is(target error) bool { return target == ErrNotInstalled }

// Options configure a server. The zero value is a plain server.
type Options struct {
	// BaseDir is where the server's directory (mode 0700, owned by the
	// server's account) is made; default a temp dir every user can
	// traverse, so that the server's account can reach its directory.
	BaseDir string
	// Dir, if set, is an existing directory (the server's account must be
	// able to traverse it) to put the server's files in instead of making
	// one; what needs privacy goes in 0700 subdirectories. Close then
	// leaves it to its owner.
	Dir string
	// TLS turns TLS on with copies of these files, made in the server's
	// directory and owned by its OS user (so any readable files will do);
	// nil leaves TLS off.
	TLS *TLSFiles
	// HBA lines go into PostgreSQL's pg_hba.conf after the superuser's
	// line and before the default rules:
	//   local all <superuser> scram-sha-256
	//   <HBA>
	//   local all all scram-sha-256 (trust with TrustLocal)
	//   host  all all 127.0.0.1/32 scram-sha-256
	// ("host" matches TLS and plain connections). MariaDB ignores HBA.
	HBA []string
	// TrustLocal lets roles other than the superuser log in over the unix
	// socket without a password: the sandbox's front logs IAM users in
	// there. Only the server's account and root can reach the socket.
	// MariaDB ignores it.
	TrustLocal bool
	// Conf holds extra server settings, which override dbserver's.
	// PostgreSQL: postgresql.conf values, written quoted ('...'), which
	// PostgreSQL accepts for every type, so pass them bare:
	// {"log_connections": "on"}; the port is given on the command line (a
	// "port" here is ignored); listen_addresses, unix_socket_directories
	// and unix_socket_permissions are dbserver's. MariaDB: options of the
	// private option file's [mysqld] group, written as key=value after
	// dbserver's, except bind-address, socket and port, which stay
	// dbserver's; an empty value writes the bare key (a flag such as
	// "skip-ssl").
	Conf map[string]string
	// Logf, if set, is told when the port picked was taken and another one
	// is tried.
	Logf func(format string, args ...any)
}

// socketMode is the unix sockets' mode: only the server's account (and
// root) may connect, whatever the directory around them.
const socketMode = 0o700

// TLSFiles names the PEM files a server uses for TLS. CAFile is optional:
// the CA the server trusts for client certificates (PostgreSQL
// ssl_ca_file, MariaDB ssl-ca).
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
}

// Server is a running throwaway database server.
type Server struct {
	// Engine is "postgres" or "mariadb".
	Engine string
	Host   string // "127.0.0.1"
	Port   int
	// Socket is the unix socket: PostgreSQL's socket directory, MariaDB's
	// socket file.
	Socket string
	// AdminUser and AdminPassword are the superuser's credentials, on the
	// socket and over TCP. The password is random per server and never
	// written to a log; pass it only to what connects as the superuser.
	AdminUser     string
	AdminPassword string
	Dir           string
	DataDir       string
	LogFile       string    // the server's stdout and stderr
	ConfigFile    string    // MariaDB's private option file (--defaults-file); "" for PostgreSQL
	BinDir        string    // where the server binary was found
	TLS           *TLSFiles // the copies the server uses; nil without TLS

	acct    serverproc.Account
	ownDir  bool // Close removes Dir
	logf    func(format string, args ...any)
	stopSig syscall.Signal
	argv    func() []string                                        // the server's command line for s.Port
	ready   func(ctx context.Context, p *serverproc.Process) error // waits until the server answers
	proc    *serverproc.Process
}

// Addr is 127.0.0.1:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// PID returns the server's (PostgreSQL: the postmaster's) process id; 0
// before the first start.
func (s *Server) PID() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.PID()
}

// Stop shuts the server down (PostgreSQL: fast shutdown; MariaDB:
// SIGTERM), SIGKILLing its process group after serverproc.StopGrace. The
// directory stays, so Restart works. Stopping a stopped server does
// nothing.
func (s *Server) Stop() error {
	if s.proc == nil {
		return nil
	}
	if err := s.proc.Stop(); err != nil {
		return fmt.Errorf("%s: %w", s.Engine, err)
	}
	return nil
}

// Restart stops the server if it runs and starts it again with the same
// data on the same port and waits until it answers. When that port is
// taken by then, movePort starts it on a free one instead (Port says
// which); without movePort that is an error.
func (s *Server) Restart(ctx context.Context, movePort bool) error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.start(ctx, movePort)
}

// Close stops the server and removes its directory (unless it was given
// as Options.Dir).
func (s *Server) Close() error {
	err := s.Stop()
	if s.ownDir && s.Dir != "" {
		err = errors.Join(err, os.RemoveAll(s.Dir))
	}
	return err
}

// newServer makes the server's directory and looks up its OS account.
//
// The servers are private to the user who runs them: their directories
// (data, socket, TLS copies) are mode 0700, the sockets too, TCP is on
// loopback only, and the superuser needs its password (random per server,
// kept in memory) on the socket and over TCP. Running as root, the servers
// run as the "postgres" and "mysql" accounts of the Debian packages
// (PostgreSQL refuses root): their directories belong to that account,
// under a temp dir it can traverse.
func newServer(engine, account, how string, opts Options) (*Server, error) {
	acct, err := serverproc.ServerAccount(account)
	if err != nil {
		return nil, &MissingError{What: "OS user " + account, How: how}
	}
	s := &Server{Engine: engine, Host: "127.0.0.1", AdminPassword: randomHex(16), Dir: opts.Dir, acct: acct, logf: opts.Logf}
	if s.Dir == "" {
		base := opts.BaseDir
		if base == "" {
			base = serverproc.TempBase()
		}
		if s.Dir, err = os.MkdirTemp(base, "rdsgate-"+engine+"-"); err != nil {
			return nil, err
		}
		s.ownDir = true
		// Private to the server's account (and root, which runs it then).
		if err := os.Chmod(s.Dir, 0o700); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("%s: make %s private: %w", engine, s.Dir, err)
		}
		if err := acct.Chown(s.Dir); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("%s: give %s to the server: %w", engine, s.Dir, err)
		}
	}
	if s.Port, err = serverproc.FreePort(); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// copyTLS copies opts.TLS into Dir/tls for the server's account and sets
// s.TLS to the copies.
func (s *Server) copyTLS(files *TLSFiles) error {
	dir := filepath.Join(s.Dir, "tls")
	if err := s.acct.Mkdir(dir, 0o700); err != nil {
		return err
	}
	s.TLS = &TLSFiles{CertFile: filepath.Join(dir, "server.crt"), KeyFile: filepath.Join(dir, "server.key")}
	if files.CAFile != "" {
		s.TLS.CAFile = filepath.Join(dir, "ca.crt")
	}
	for _, c := range []struct {
		src, dst string
		mode     os.FileMode
	}{{files.CertFile, s.TLS.CertFile, 0o644}, {files.KeyFile, s.TLS.KeyFile, 0o600}, {files.CAFile, s.TLS.CAFile, 0o644}} {
		if c.src == "" {
			continue
		}
		if err := s.acct.CopyFile(c.src, c.dst, c.mode); err != nil {
			return err
		}
	}
	return nil
}

// setup runs a setup command as the server's account.
func (s *Server) setup(ctx context.Context, name string, args ...string) error {
	_, err := serverproc.RunSetup(ctx, s.acct, s.Dir, serverproc.Env(s.Dir), name, args...)
	return err
}

// start runs the server on s.Port and waits until it is ready; movePort
// allows moving to another port if that one is taken.
func (s *Server) start(ctx context.Context, movePort bool) error {
	p, err := serverproc.StartOnPort(&s.Port, movePort, s.logf, func() (*serverproc.Process, error) {
		p, err := serverproc.Start(serverproc.Config{Name: filepath.Base(s.argv()[0]), Args: s.argv(), LogFile: s.LogFile,
			StopSignal: s.stopSig, Account: s.acct, Dir: s.Dir, Env: serverproc.Env(s.Dir)})
		if err != nil {
			return nil, err
		}
		return p, s.ready(ctx, p)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", s.Engine, err)
	}
	s.proc = p
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
