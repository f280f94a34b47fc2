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

	mu       sync.Mutex
	sessions map[string]*session // mux sessions by destination
	all      map[*session]struct{}
	pending  map[string]*startCall // session starts in progress, by destination
	closed   bool
}

// startCall is one session start that concurrent dials to the same
// destination wait for, so that they share one multiplexed session.
type startCall struct {
	done chan struct{}
	s    *session
	err  error
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
	return &Dialer{cfg: cfg, log: cfg.Log.With("bastion", cfg.Target), creds: cfg.Credentials, clientID: newClientID(),
		sessions: map[string]*session{}, all: map[*session]struct{}{}, pending: map[string]*startCall{}}, nil
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
// Connections to one address share a multiplexed session when the agent
// supports it. network must be tcp, tcp4 or tcp6.
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
		s, err := d.session(ctx, address)
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
		d.log.Info("ssm: session unusable; starting a new one", "session_id", s.id, "err", err)
		d.forget(s)
	}
	return nil, fmt.Errorf("ssm: dial %s through %s: the Session Manager session keeps failing; check the bastion's SSM agent (debug logs say more)", address, d.cfg.Target)
}

// session returns the live mux session for address, or a new session
// (which, in basic mode, belongs to the caller's one connection).
// Concurrent callers for one address wait for a single start.
func (d *Dialer) session(ctx context.Context, address string) (*session, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, errors.New("ssm: dialer closed")
	}
	if s := d.sessions[address]; s != nil && s.alive() {
		d.mu.Unlock()
		return s, nil
	}
	if call := d.pending[address]; call != nil {
		d.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("ssm: dial %s: %w", address, ctx.Err())
		}
		if call.err != nil {
			return nil, call.err
		}
		if call.s.mux {
			return call.s, nil
		}
		return d.session(ctx, address) // basic: each connection its own session
	}
	call := &startCall{done: make(chan struct{})}
	d.pending[address] = call
	d.mu.Unlock()

	s, err := d.start(ctx, address)
	d.mu.Lock()
	delete(d.pending, address)
	if err == nil && d.closed {
		err = errors.New("ssm: dialer closed")
		go s.terminate()
	} else if err == nil {
		d.all[s] = struct{}{}
		if s.mux {
			d.sessions[address] = s
		}
	}
	call.s, call.err = s, err
	close(call.done)
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (d *Dialer) forget(s *session) {
	d.mu.Lock()
	if d.sessions[s.dest] == s {
		delete(d.sessions, s.dest)
	}
	delete(d.all, s)
	d.mu.Unlock()
	go s.terminate()
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

// Close terminates every session (TerminateSession) and closes their
// connections.
func (d *Dialer) Close() error {
	d.mu.Lock()
	d.closed = true
	var all []*session
	for s := range d.all {
		all = append(all, s)
	}
	d.all, d.sessions = map[*session]struct{}{}, map[string]*session{}
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.terminate()
		}()
	}
	wg.Wait()
	return nil
}

// Target is the bastion's instance id.
func (d *Dialer) Target() string { return d.cfg.Target }
