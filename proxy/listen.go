package proxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/rdsgate/rdsgate/setting"
)

// ListenConfig says where a proxy listens.
type ListenConfig struct {
	// Network is "tcp" or "unix".
	Network string
	// Address is host:port for tcp (default host 127.0.0.1) or the socket
	// path for unix (its directory is created 0700, the socket is 0600).
	Address string
	// AllowNonLoopback must be set to listen on anything but loopback: the
	// local leg carries no password, so anyone who can reach the port can
	// use the database as the proxy's AWS identity.
	AllowNonLoopback bool
}

// ErrNonLoopback is returned for a non-loopback address without
// AllowNonLoopback.
var ErrNonLoopback = errors.New("non-loopback address")

// Listen opens the listener cfg describes, enforcing the loopback rule.
func Listen(cfg ListenConfig) (net.Listener, error) {
	switch cfg.Network {
	case "", "tcp", "tcp4", "tcp6":
		host, port, err := net.SplitHostPort(cfg.Address)
		if err != nil {
			return nil, fmt.Errorf("proxy: listen address %q: %w", cfg.Address, err)
		}
		if host == "" {
			host = "127.0.0.1"
		}
		if !isLoopback(host) && !cfg.AllowNonLoopback {
			return nil, setting.Errorf("proxy: refusing to listen on %s: %w; the local port needs no password, so anyone who reaches it uses the database as you: pass %s to accept that", host, ErrNonLoopback, setting.AllowNonLoopback)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, fmt.Errorf("proxy: listen on %s: %w", net.JoinHostPort(host, port), err)
		}
		return ln, nil
	case "unix":
		dir := filepath.Dir(cfg.Address)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("proxy: socket directory: %w", err)
		}
		if st, err := os.Lstat(cfg.Address); err == nil && st.Mode()&os.ModeSocket != 0 {
			// A stale socket from a previous run; a live one makes Listen fail below.
			if c, err := net.Dial("unix", cfg.Address); err == nil {
				c.Close()
				return nil, fmt.Errorf("proxy: %s is in use by another process", cfg.Address)
			}
			_ = os.Remove(cfg.Address)
		}
		old := umask(0o177)
		ln, err := net.Listen("unix", cfg.Address)
		umask(old)
		if err != nil {
			return nil, fmt.Errorf("proxy: listen on %s: %w", cfg.Address, err)
		}
		if err := os.Chmod(cfg.Address, 0o600); err != nil {
			ln.Close()
			return nil, fmt.Errorf("proxy: %w", err)
		}
		return &peerCheckListener{UnixListener: ln.(*net.UnixListener)}, nil
	}
	return nil, fmt.Errorf("proxy: unknown network %q: use tcp or unix", cfg.Network)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// peerCheckListener accepts only connections from processes of this user
// (or root): the socket's mode already says so, and this holds even if the
// mode is changed.
type peerCheckListener struct{ *net.UnixListener }

func (l *peerCheckListener) Accept() (net.Conn, error) {
	for {
		c, err := l.UnixListener.AcceptUnix()
		if err != nil {
			return nil, err
		}
		uid, err := peerUID(c)
		if err == nil && (uid == os.Getuid() || uid == 0) {
			return c, nil
		}
		c.Close()
	}
}
