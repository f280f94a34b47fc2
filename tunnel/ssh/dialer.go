// Package ssh is rdsgate's SSH bastion route: a tunnel.Dialer that opens one
// SSH connection per route (optionally through ProxyJump-style jump hosts) and
// one direct-tcpip channel per database connection, like `ssh -W` in process,
// with OpenSSH's host-key checks, logins and ~/.ssh/config.
package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/rdsgate/rdsgate/internal/rawsock"
)

// Notes on this package:
//
// Package ssh is rdsgate's SSH bastion route: a tunnel.Dialer that opens
// one SSH connection per route (optionally through a ProxyJump-style chain
// of jump hosts) and one direct-tcpip channel per database connection over
// it, like `ssh -W` / `ssh -L` but in process.
//
// Host keys are checked strictly against known_hosts files, read as
// OpenSSH reads them (hashed hosts, patterns and negations, [host]:port
// forms with the retry without the port): an unknown host is refused with
// its fingerprint and the command that trusts it, unless AcceptNew records
// it on first use (StrictHostKeyChecking=accept-new); a changed key is
// always refused and never overwritten. Host certificates are accepted
// when an @cert-authority line trusts their CA for the host and they are
// valid for it (host type, the host name among the principals, validity
// window); @revoked keys and CAs are refused. Where OpenSSH would fall back
// to trusting a key whose certificate from a trusted CA is invalid on first
// use, rdsgate refuses (HostCertificateError).
//
// Logins use the running ssh-agent, identity files (asking for a
// passphrase through a callback), and EC2 Instance Connect: a fresh
// ed25519 key made in memory and pushed with SendSSHPublicKey before each
// connection, used within its 60 s validity and never written anywhere.
// The relevant part of ~/.ssh/config (HostName, User, Port, IdentityFile,
// ProxyJump under Host and Match blocks, evaluated as ssh does; see
// SSHConfig) is honoured so existing setups work; commands in it (Match
// exec, ProxyCommand) are never run.
//
// The connection is kept alive with keepalive@openssh.com requests; when
// it dies, open tunnelled connections fail with ErrConnectionLost and the
// next dial reconnects. TLS to the database runs over the returned conns,
// verified against the endpoint name by the caller: the dialer never
// changes what the caller's TLS sees, only where the bastion connects
// (Options.Addresses).

// Named defaults.
const (
	DefaultKeepaliveInterval = 15 * time.Second
	DefaultKeepaliveCountMax = 3
	DefaultConnectTimeout    = 30 * time.Second
	// clientVersion is the SSH identification string sent to servers.
	clientVersion = "SSH-2.0-rdsgate"
)

// ErrConnectionLost is wrapped by the errors of tunnelled connections
// whose SSH connection ended under them. New dials reconnect.
var ErrConnectionLost = errors.New("ssh connection lost")

// Options configure a Dialer.
type Options struct {
	// Chain is USER@HOST[:PORT], or several separated by commas (each
	// reached through the one before; the last dials the database).
	// Required. Hosts may be ~/.ssh/config aliases.
	Chain string
	// Identities are private key files tried on every hop (after the agent's
	// keys and before those from ssh_config). With none given here or in
	// ssh_config, the default ~/.ssh/id_{ed25519,ecdsa,rsa} that exist are
	// tried.
	Identities []string
	// Passphrase asks for the passphrase of an encrypted identity file;
	// nil means there is no terminal, and such files are an error that says
	// to load them into the agent.
	Passphrase PassphraseFunc
	// AgentSocket is the ssh-agent socket; "" means $SSH_AUTH_SOCK.
	AgentSocket string
	// NoAgent turns the agent off.
	NoAgent bool
	// KnownHostsFiles are the known_hosts files; default
	// ~/.ssh/known_hosts. AcceptNew writes to the first one.
	KnownHostsFiles []string
	// AcceptNew records the key of a host in no file (once), as
	// StrictHostKeyChecking=accept-new does. Changed keys are still refused.
	AcceptNew bool
	// HashKnownHosts writes recorded hosts hashed (HashKnownHosts yes).
	HashKnownHosts bool
	// SSHConfigFile is the OpenSSH client config to honour; default
	// ~/.ssh/config, "none" for none.
	SSHConfigFile string
	// EIC, if set, logs in to one hop with EC2 Instance Connect.
	EIC *EIC
	// Addresses maps an address asked for (e.g. the RDS endpoint
	// host:port) to the address the last hop connects to instead (e.g. a
	// sandbox front). The caller's TLS still verifies the endpoint name.
	Addresses map[string]string
	// KeepaliveInterval is how often keepalive@openssh.com is sent
	// (default DefaultKeepaliveInterval; negative: never). The connection
	// is declared dead after KeepaliveCountMax intervals without an answer
	// (default DefaultKeepaliveCountMax).
	KeepaliveInterval time.Duration
	KeepaliveCountMax int
	// ConnectTimeout bounds connecting and logging in through the whole
	// chain (default DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// Lazy defers the first connection to the first dial; by default New
	// connects, so that host key and login problems show at once.
	Lazy bool
	// HomeDir is the user's home (default os.UserHomeDir); LocalUser the
	// login user when none is given (default the current user).
	HomeDir   string
	LocalUser string
	// Logger receives connection events (default: discard).
	Logger *slog.Logger
	// NetDial dials the first hop (default a net.Dialer).
	NetDial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Dialer is a tunnel.Dialer through SSH. Safe for concurrent use.
type Dialer struct {
	hops      []Hop
	ids       [][]identity
	hostKeys  *hostKeys
	agentSock string
	eic       *EIC
	eicHop    int // -1: none
	addresses map[string]string
	kaEvery   time.Duration
	kaMax     int
	timeout   time.Duration
	log       *slog.Logger
	netDial   func(ctx context.Context, network, address string) (net.Conn, error)

	sem    chan struct{} // held while connecting
	mu     sync.Mutex
	cur    *sshConn
	closed bool
}

// New resolves the chain (with ssh_config), loads identity files and,
// unless opts.Lazy, connects.
func New(ctx context.Context, opts Options) (*Dialer, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	home := opts.HomeDir
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	local := opts.LocalUser
	if local == "" {
		if u, err := user.Current(); err == nil {
			local = u.Username
		}
	}
	specs, err := ParseChain(opts.Chain)
	if err != nil {
		return nil, err
	}
	var cfg *SSHConfig
	cfgFile := opts.SSHConfigFile
	if cfgFile == "" && home != "" {
		cfgFile = filepath.Join(home, ".ssh", "config")
	}
	if cfgFile != "" && cfgFile != "none" {
		if cfg, err = LoadSSHConfig(cfgFile, home); err != nil {
			return nil, err
		}
		for _, w := range cfg.Warnings {
			log.Warn("ssh config: " + w)
		}
	}
	hops, err := ResolveChain(specs, cfg, local, home, func(host, note string, important bool) {
		if important {
			log.Warn("ssh config: "+note, "host", host)
		} else {
			log.Debug("ssh config: "+note, "host", host)
		}
	})
	if err != nil {
		return nil, err
	}
	d := &Dialer{
		hops: hops, eic: opts.EIC, eicHop: -1, addresses: opts.Addresses,
		kaEvery: opts.KeepaliveInterval, kaMax: opts.KeepaliveCountMax, timeout: opts.ConnectTimeout,
		log: log, netDial: opts.NetDial, sem: make(chan struct{}, 1),
	}
	if d.kaEvery == 0 {
		d.kaEvery = DefaultKeepaliveInterval
	}
	if d.kaMax <= 0 {
		d.kaMax = DefaultKeepaliveCountMax
	}
	if d.timeout <= 0 {
		d.timeout = DefaultConnectTimeout
	}
	if d.netDial == nil {
		d.netDial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	if !opts.NoAgent {
		d.agentSock = opts.AgentSocket
		if d.agentSock == "" {
			d.agentSock = os.Getenv("SSH_AUTH_SOCK")
		}
	}
	if opts.EIC != nil {
		if opts.EIC.Pusher == nil || opts.EIC.InstanceID == "" {
			return nil, errors.New("ssh: EC2 Instance Connect needs an API client and the bastion's instance id")
		}
		d.eicHop = len(hops) - 1
		if opts.EIC.Hop != "" {
			d.eicHop = -1
			for i, h := range hops {
				if h.Alias == opts.EIC.Hop || h.Host == opts.EIC.Hop || h.String() == opts.EIC.Hop {
					d.eicHop = i
				}
			}
			if d.eicHop < 0 {
				return nil, fmt.Errorf("ssh: EC2 Instance Connect hop %q is not in the chain %s", opts.EIC.Hop, chainString(hops))
			}
		}
	}
	prompt := opts.Passphrase
	if prompt != nil {
		// Ask once per file, however many hops use it.
		asked := map[string][]byte{}
		prompt = func(file string) ([]byte, error) {
			if p, ok := asked[file]; ok {
				return append([]byte(nil), p...), nil
			}
			p, err := opts.Passphrase(file)
			if err == nil {
				asked[file] = append([]byte(nil), p...)
			}
			return p, err
		}
		defer func() {
			for _, p := range asked {
				clear(p)
			}
		}()
	}
	for _, h := range hops {
		ids, err := loadIdentities(append(append([]string(nil), opts.Identities...), h.IdentityFiles...), home, prompt, log)
		if err != nil {
			return nil, err
		}
		d.ids = append(d.ids, ids)
	}
	khFiles := opts.KnownHostsFiles
	if len(khFiles) == 0 && home != "" {
		khFiles = []string{filepath.Join(home, ".ssh", "known_hosts")}
	}
	if d.hostKeys, err = newHostKeys(khFiles, opts.AcceptNew, opts.HashKnownHosts, home, log); err != nil {
		return nil, err
	}
	if !opts.Lazy {
		if _, err := d.conn(ctx); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Hops returns the resolved chain, first hop first.
func (d *Dialer) Hops() []Hop { return append([]Hop(nil), d.hops...) }

// DialContext opens a direct-tcpip channel from the last hop to address
// (or to Options.Addresses[address]). Only TCP networks are supported. If
// the SSH connection turns out dead, it reconnects once.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("ssh tunnel: network %q is not supported (tcp only)", network)
	}
	target := address
	if a, ok := d.addresses[address]; ok {
		target = a
	}
	for attempt := 0; ; attempt++ {
		sc, err := d.conn(ctx)
		if err != nil {
			return nil, err
		}
		ch, err := sc.client.DialContext(ctx, "tcp", target)
		if err == nil {
			d.log.Debug("ssh channel opened", "address", address, "target", target, "via", sc.last.String())
			return newTunnelConn(ch, sc, address), nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("ssh tunnel to %s via %s: %w", address, sc.last, ctxErr)
		}
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			return nil, d.channelError(sc.last, address, target, oce)
		}
		// Anything else means the SSH connection is broken.
		sc.fail(fmt.Errorf("opening a channel: %w", err))
		if attempt > 0 {
			return nil, fmt.Errorf("ssh tunnel to %s via %s: %w", address, sc.last, err)
		}
	}
}

func (d *Dialer) channelError(last Hop, address, target string, oce *ssh.OpenChannelError) error {
	to := address
	if target != address {
		to = fmt.Sprintf("%s (standing in for %s)", target, address)
	}
	switch oce.Reason {
	case ssh.Prohibited:
		return fmt.Errorf("ssh tunnel: %s does not allow port forwarding to %s: %w; its sshd needs AllowTcpForwarding yes (or local), and PermitOpen must allow the address",
			last, to, oce)
	case ssh.ConnectionFailed:
		return fmt.Errorf("ssh tunnel: %s could not connect to %s: %w; check the address and that the database's security group admits the bastion",
			last, to, oce)
	}
	return fmt.Errorf("ssh tunnel: %s refused a channel to %s: %w", last, to, oce)
}

// Close closes the SSH connection; tunnelled connections over it end.
func (d *Dialer) Close() error {
	d.mu.Lock()
	d.closed = true
	cur := d.cur
	d.cur = nil
	d.mu.Unlock()
	if cur != nil {
		cur.close(errDialerClosed)
	}
	return nil
}

var errDialerClosed = fmt.Errorf("ssh tunnel: %w", net.ErrClosed)

// conn returns the live SSH connection, connecting if there is none.
func (d *Dialer) conn(ctx context.Context) (*sshConn, error) {
	if sc, err := d.current(); sc != nil || err != nil {
		return sc, err
	}
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-d.sem }()
	if sc, err := d.current(); sc != nil || err != nil {
		return sc, err
	}
	sc, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		sc.close(errDialerClosed)
		return nil, errDialerClosed
	}
	d.cur = sc
	return sc, nil
}

func (d *Dialer) current() (*sshConn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errDialerClosed
	}
	if d.cur != nil && d.cur.lostErr() == nil {
		return d.cur, nil
	}
	return nil, nil
}

// connect logs in to every hop in turn.
func (d *Dialer) connect(ctx context.Context) (*sshConn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	start := time.Now()
	sc := &sshConn{chain: chainString(d.hops), last: d.hops[len(d.hops)-1], done: make(chan struct{}), log: d.log}
	for i, hop := range d.hops {
		var raw net.Conn
		var err error
		if i == 0 {
			raw, err = d.netDial(ctx, "tcp", hop.Addr())
			if err != nil {
				sc.close(err)
				return nil, fmt.Errorf("ssh: connect to %s: %w", hop, err)
			}
			// Every message of every channel crosses this socket; see
			// rawsock for the wake-up a plain Go socket call costs after idle.
			raw = rawsock.Wrap(raw)
			sc.base = raw
		} else {
			raw, err = sc.clients[i-1].DialContext(ctx, "tcp", hop.Addr())
			if err != nil {
				sc.close(err)
				return nil, fmt.Errorf("ssh: jump host %s could not reach the next hop %s: %w", d.hops[i-1], hop, err)
			}
		}
		client, err := d.handshake(ctx, i, &watchConn{Conn: raw, sc: sc, hop: hop})
		if err != nil {
			raw.Close()
			sc.close(err)
			return nil, err
		}
		sc.clients = append(sc.clients, client)
	}
	sc.client = sc.clients[len(sc.clients)-1]
	for _, c := range sc.clients {
		go func() {
			err := c.Wait()
			if err == nil || errors.Is(err, io.EOF) {
				err = errors.New("closed by the server")
			}
			sc.fail(err)
		}()
	}
	if d.kaEvery > 0 {
		go d.keepalive(sc)
	}
	d.log.Info("ssh connected", "via", sc.chain, "took", time.Since(start).Round(time.Millisecond))
	return sc, nil
}

// handshake logs in to hop i over conn.
func (d *Dialer) handshake(ctx context.Context, i int, conn net.Conn) (*ssh.Client, error) {
	hop := d.hops[i]
	behind := ""
	if i > 0 {
		behind = d.hops[i-1].String()
	}
	check, algos, err := d.hostKeys.forHop(hop, behind)
	if err != nil {
		return nil, err
	}
	var o offer
	useEIC := i == d.eicHop
	if useEIC {
		s, err := d.eic.pushKey(ctx, hop.User)
		if err != nil {
			return nil, err
		}
		o.add(s, "EC2 Instance Connect key")
		d.log.Info("pushed a one-minute ssh key with EC2 Instance Connect", "instance", d.eic.InstanceID, "os_user", hop.User,
			"fingerprint", ssh.FingerprintSHA256(s.PublicKey()))
	}
	agentSigners, closeAgent := agentKeys(d.agentSock, d.log)
	defer closeAgent()
	for _, s := range agentSigners {
		what := "agent key"
		if k, ok := s.PublicKey().(*agent.Key); ok && k.Comment != "" {
			what += " " + k.Comment
		}
		o.add(s, what)
	}
	for _, id := range d.ids[i] {
		o.add(id.signer, id.file)
	}
	var hkMu sync.Mutex
	var hkErr error
	cfg := &ssh.ClientConfig{
		User: hop.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(o.signers...)},
		HostKeyCallback: func(h string, r net.Addr, k ssh.PublicKey) error {
			err := check(h, r, k)
			hkMu.Lock()
			hkErr = err
			hkMu.Unlock()
			return err
		},
		HostKeyAlgorithms: algos,
		ClientVersion:     clientVersion,
		Timeout:           d.timeout,
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	cc, chans, reqs, err := ssh.NewClientConn(conn, hop.Addr(), cfg)
	interrupted := !stop()
	hkMu.Lock()
	hostKeyErr := hkErr
	hkMu.Unlock()
	switch {
	case err != nil && hostKeyErr != nil:
		return nil, hostKeyErr
	case err != nil && (interrupted || ctx.Err() != nil):
		return nil, fmt.Errorf("ssh: log in to %s: %w", hop, ctx.Err())
	case err != nil && strings.Contains(err.Error(), "unable to authenticate"):
		return nil, authError(hop, &o, useEIC, d.agentSock, err)
	case err != nil:
		return nil, fmt.Errorf("ssh: log in to %s: %w", hop, err)
	case interrupted:
		cc.Close()
		return nil, fmt.Errorf("ssh: log in to %s: %w", hop, ctx.Err())
	}
	return ssh.NewClient(cc, chans, reqs), nil
}

// keepalive sends keepalive@openssh.com every interval and fails sc when
// no answer comes within KeepaliveCountMax intervals.
func (d *Dialer) keepalive(sc *sshConn) {
	t := time.NewTicker(d.kaEvery)
	defer t.Stop()
	for {
		select {
		case <-sc.done:
			return
		case <-t.C:
		}
		res := make(chan error, 1)
		go func() {
			_, _, err := sc.client.SendRequest("keepalive@openssh.com", true, nil)
			res <- err
		}()
		limit := d.kaEvery * time.Duration(d.kaMax)
		timer := time.NewTimer(limit)
		select {
		case err := <-res:
			timer.Stop()
			if err != nil {
				sc.fail(fmt.Errorf("keepalive: %w", err))
				return
			}
		case <-timer.C:
			sc.fail(fmt.Errorf("no answer to keepalives for %v", limit))
			return
		case <-sc.done:
			timer.Stop()
			return
		}
	}
}

func chainString(hops []Hop) string {
	s := make([]string, len(hops))
	for i, h := range hops {
		s[i] = h.String()
	}
	return strings.Join(s, " -> ")
}

// sshConn is one SSH connection through the chain.
type sshConn struct {
	chain   string
	last    Hop
	base    net.Conn
	clients []*ssh.Client
	client  *ssh.Client // the last hop's
	log     *slog.Logger

	mu        sync.Mutex
	lost      error
	done      chan struct{}
	closeOnce sync.Once
}

// markLost records why the connection ended (the first reason wins).
func (c *sshConn) markLost(reason error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost != nil {
		return
	}
	if errors.Is(reason, errDialerClosed) {
		c.lost = reason
		return
	}
	c.lost = fmt.Errorf("%w: the SSH connection %s ended (%v); this tunnelled connection is closed, new connections reconnect",
		ErrConnectionLost, c.chain, reason)
}

func (c *sshConn) lostErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lost
}

// fail marks the connection dead (for reason) and closes it.
func (c *sshConn) fail(reason error) {
	select {
	case <-c.done:
		return
	default:
	}
	c.markLost(reason)
	c.log.Warn("ssh connection lost; the next connection reconnects", "via", c.chain, "reason", reason.Error())
	c.close(reason)
}

// close closes every hop, last first.
func (c *sshConn) close(reason error) {
	c.markLost(reason)
	c.closeOnce.Do(func() {
		close(c.done)
		for i := len(c.clients) - 1; i >= 0; i-- {
			c.clients[i].Close()
		}
		if c.base != nil {
			c.base.Close()
		}
	})
}

// watchConn is the transport under a hop: its first read or write error
// marks the SSH connection lost before the channels over it see EOF.
type watchConn struct {
	net.Conn
	sc  *sshConn
	hop Hop
}

func (w *watchConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if err != nil {
		w.sc.markLost(fmt.Errorf("reading from %s: %w", w.hop, err))
	}
	return n, err
}

func (w *watchConn) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	if err != nil {
		w.sc.markLost(fmt.Errorf("writing to %s: %w", w.hop, err))
	}
	return n, err
}
