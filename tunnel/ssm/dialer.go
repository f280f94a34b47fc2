// Package ssm is rdsgate's native AWS Systems Manager Session Manager port
// forwarding: a tunnel.Dialer that reaches hosts in a private network
// through a managed bastion, with no session-manager-plugin and no AWS CLI.
package ssm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/rdsgate/rdsgate/tunnel"
)

// Documents.
const (
	DocumentRemoteHost = "AWS-StartPortForwardingSessionToRemoteHost"
	DocumentLocal      = "AWS-StartPortForwardingSession"
)

// ClientVersion is the version reported to the agent: the Session Manager
// plugin release whose protocol behaviour this client matches. It is
// protocol-significant: >= 1.1.70 makes the agent multiplex, > 1.2.331.0
// makes a new agent turn smux keepalive off.
const ClientVersion = "1.2.764.0"

// API is the part of the SSM API the dialer calls; *ssm.Client has it.
type API interface {
	StartSession(ctx context.Context, in *ssm.StartSessionInput, optFns ...func(*ssm.Options)) (*ssm.StartSessionOutput, error)
	ResumeSession(ctx context.Context, in *ssm.ResumeSessionInput, optFns ...func(*ssm.Options)) (*ssm.ResumeSessionOutput, error)
	TerminateSession(ctx context.Context, in *ssm.TerminateSessionInput, optFns ...func(*ssm.Options)) (*ssm.TerminateSessionOutput, error)
}

// Config configures a Dialer.
type Config struct {
	// API is the SSM client (endpoint and credentials as configured). Required.
	API API
	// Target is the bastion's instance id. Required.
	Target string
	// Document is the session document (default DocumentRemoteHost). With
	// DocumentLocal the destination must be on the bastion itself and only
	// its port is sent.
	Document string
	// Reason is recorded with the session (optional).
	Reason string
	// Region and Credentials sign the websocket upgrade (service
	// ssmmessages). NewFromClient fills them from the SSM client. Without
	// credentials the websocket is opened unsigned.
	Region      string
	Credentials aws.CredentialsProvider
	// ClientVersion reported in the handshake (default ClientVersion). A
	// version below 1.1.70 makes the agent use basic mode.
	ClientVersion string
	// MaxPayload bounds one message's payload (default 1024, what AWS's
	// agent and plugin send; larger ones are fine with the sandbox).
	MaxPayload int
	// Window bounds unacknowledged messages per session (default 1000).
	Window int
	// KeepAlive is the smux keepalive interval (default 10 s): NOPs keep
	// an idle tunnel from the service's idle timeout. Negative disables
	// them unless the agent requires them.
	KeepAlive time.Duration
	// ResumeAttempts bounds ResumeSession attempts after the websocket
	// drops (default 10; AWS's plugin makes 5).
	ResumeAttempts int
	// Sessions bounds the sessions per destination that new connections
	// are spread over (default 1). The service paces each session's data
	// (about 1 KiB/ms per direction), so parallel bulk transfers go about
	// Sessions times faster; DefaultSessions is the value measured for a
	// proxy or tunnel. Sessions beyond the first open on demand (see
	// StreamsPerSession) and end after SessionIdle without a connection.
	// Basic-mode agents (one connection per session) ignore it.
	Sessions int
	// StreamsPerSession is the load that opens another session: a new
	// connection starts one (up to Sessions) when every open session
	// carries at least this many connections (default 1); otherwise it
	// goes to the least-loaded session.
	StreamsPerSession int
	// SessionIdle is how long a session beyond the first may carry no
	// connection before it is terminated (default DefaultSessionIdle).
	SessionIdle time.Duration
	// Log receives the dialer's log (default: discard).
	Log *slog.Logger
}

// Dialer opens connections through Session Manager sessions on one
// bastion. It is safe for concurrent use.
type Dialer struct {
	cfg      Config
	log      *slog.Logger
	creds    aws.CredentialsProvider
	clientID string

	mu    sync.Mutex
	pools map[string]*pool // by destination
	all   map[*session]struct{}
	stats Stats
	// limitLogged: the service's session limit is logged once per dialer.
	limitLogged bool
	closed      bool
	// wg counts the goroutines that terminate sessions (idle ones,
	// unusable ones); Close waits for them.
	wg sync.WaitGroup
}

// New returns a dialer. Nothing is dialled until DialContext.
func New(cfg Config) (*Dialer, error) {
	if cfg.API == nil {
		return nil, errors.New("ssm: no SSM API client configured")
	}
	if cfg.Target == "" {
		return nil, ErrNoBastion
	}
	if cfg.Document == "" {
		cfg.Document = DocumentRemoteHost
	}
	if cfg.ClientVersion == "" {
		cfg.ClientVersion = ClientVersion
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 10 * time.Second
	}
	if cfg.ResumeAttempts <= 0 {
		cfg.ResumeAttempts = 10
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.Sessions = max(cfg.Sessions, 1)
	cfg.StreamsPerSession = max(cfg.StreamsPerSession, 1)
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	return &Dialer{cfg: cfg, log: cfg.Log.With("bastion", cfg.Target), creds: cfg.Credentials, clientID: newClientID(),
		pools: map[string]*pool{}, all: map[*session]struct{}{}}, nil
}

// NewFromClient returns a dialer using an SDK SSM client, with its region
// and credentials for signing the websocket.
func NewFromClient(c *ssm.Client, cfg Config) (*Dialer, error) {
	cfg.API = c
	o := c.Options()
	if cfg.Region == "" {
		cfg.Region = o.Region
	}
	if cfg.Credentials == nil {
		cfg.Credentials = o.Credentials
	}
	return New(cfg)
}

// DialContext opens a connection to address (host:port as the bastion
// resolves it, e.g. the RDS endpoint) through a session on the bastion.
// Connections to one address share up to Config.Sessions multiplexed
// sessions when the agent supports it (see pool.go). network must be tcp,
// tcp4 or tcp6.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("ssm: dial %s %s: Session Manager forwards TCP only", network, address)
	}
	if _, _, err := net.SplitHostPort(address); err != nil {
		return nil, fmt.Errorf("ssm: dial %s: %w", address, err)
	}
	for attempt := 0; attempt < 2; attempt++ {
		s, err := d.pick(ctx, address)
		if err != nil {
			return nil, err
		}
		if !s.mux {
			return s.basicConn(), nil
		}
		c, err := s.openStream()
		if err == nil {
			return c, nil
		}
		d.release(s)
		d.log.Info("ssm: session unusable; starting a new one", "session_id", s.id, "err", err)
		d.forget(s)
	}
	return nil, fmt.Errorf("ssm: dial %s through %s: the Session Manager session keeps failing; check the bastion's SSM agent (debug logs say more)", address, d.cfg.Target)
}

// forget drops s from the dialer and terminates it in the background
// (Close waits for that).
func (d *Dialer) forget(s *session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p := d.pools[s.dest]; p != nil {
		p.remove(s)
	}
	if _, ok := d.all[s]; !ok {
		return // Close or another forget has it
	}
	delete(d.all, s)
	d.terminateLocked(s)
}

// terminateLocked terminates s in a goroutine that Close waits for. d.mu
// must be held and s already dropped from d.all.
func (d *Dialer) terminateLocked(s *session) {
	d.stats.Open = len(d.all)
	if s.idle != nil {
		s.idle.Stop()
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		s.terminate()
	}()
}

// Sessions returns the ids of the dialer's open sessions.
func (d *Dialer) Sessions() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	for s := range d.all {
		ids = append(ids, s.id)
	}
	return ids
}

// Stats says how many Session Manager sessions a dialer used.
type Stats struct {
	// Started counts the sessions started (StartSession and handshake
	// done), Peak the most open at once, Open those open now.
	Started, Peak, Open int
	// Limited counts the sessions the service refused because the
	// account's session quota was reached while others were open; the
	// dialer then carried on with the sessions it had.
	Limited int
}

// Stats returns the dialer's session counts, for doctor and session
// records ("used 4 sessions").
func (d *Dialer) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// PeakSessions is Stats().Peak: the most sessions open at once so far.
func (d *Dialer) PeakSessions() int { return d.Stats().Peak }

var _ tunnel.SessionCounter = (*Dialer)(nil)

// Close terminates every session (TerminateSession) and closes their
// connections, and waits for sessions ending in the background.
func (d *Dialer) Close() error {
	d.mu.Lock()
	d.closed = true
	for s := range d.all {
		d.terminateLocked(s)
	}
	d.all, d.pools = map[*session]struct{}{}, map[string]*pool{}
	d.stats.Open = 0
	d.mu.Unlock()
	d.wg.Wait()
	return nil
}

// Target is the bastion's instance id.
func (d *Dialer) Target() string { return d.cfg.Target }
