// Package ssmagent is the sandbox's Session Manager data channel: the
// websocket endpoint behind the StreamUrl that the sandbox's StartSession
// returns, playing both the service (MGS) and the SSM agent on the bastion
// for port-forwarding sessions.
package ssmagent

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rdsgate/rdsgate/sandbox/awsapi"
	"github.com/rdsgate/rdsgate/sandbox/world"
	"github.com/rdsgate/rdsgate/tunnel/ssm/ssmwire"
)

// Defaults.
const (
	// DefaultAgentVersion is the version advertised in the handshake: new
	// enough for multiplexing with smux keepalive off (> 3.1.1511.0).
	DefaultAgentVersion = "3.3.1957.0"
	// BasicAgentVersion is an agent too old to multiplex.
	BasicAgentVersion = "3.0.161.0"
	// DefaultIdleTimeout is Session Manager's default idleSessionTimeout.
	DefaultIdleTimeout = 20 * time.Minute
	// DefaultPayloadSize and DefaultPace are the real agent's: it reads at
	// most 1 KiB per message and sleeps 1 ms after each.
	DefaultPayloadSize = 1024
	DefaultPace        = time.Millisecond
	handshakeTimeout   = 15 * time.Second
	// agentWindow is AWS's agent's outgoing buffer (100 000 messages). It
	// must dwarf the client's: the agent writes to the destination on the
	// reading goroutine, so if reading the destination also stopped at a
	// full window, a destination that only reads while its writes drain
	// (an echo, a database streaming a result) would stall both
	// directions: the client's acknowledgements wait behind its own data
	// in a socket the agent no longer reads.
	agentWindow      = 100000
	openFrameTimeout = 10 * time.Second
	defaultReconnect = time.Minute
)

// Options configure an Agent.
type Options struct {
	// API is the sandbox API server whose sessions the agent serves
	// (stream tokens, targets, parameters). Required.
	API *awsapi.Server
	// World resolves instance endpoints to their fronts. Required.
	World *world.World
	// AgentVersion advertised in the handshake (default
	// DefaultAgentVersion; BasicAgentVersion forces basic mode).
	AgentVersion string
	// Unpaced sends as fast as the window allows, with PayloadSize
	// messages, for stress tests. The default paces like the real agent.
	Unpaced bool
	// PayloadSize bounds one outgoing payload (default 1 KiB).
	PayloadSize int
	// IdleTimeout ends a session with no stream data either way for this
	// long (default 20 minutes, the service's default).
	IdleTimeout time.Duration
	// ReconnectTimeout is how long a session whose websocket dropped
	// waits for the client to resume (default 1 minute).
	ReconnectTimeout time.Duration
	// Faults to inject.
	Faults Faults
	// Log receives the agent's log (default: discard).
	Log *slog.Logger
}

// Agent is the data channel endpoint. Mount it with
// awsapi.Server.HandleDataChannel; pass its Terminate to
// awsapi.Options.OnTerminate when you build the API server (it also polls
// the session's status, so this is optional).
type Agent struct {
	opts     Options
	log      *slog.Logger
	upgrader websocket.Upgrader

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	wg       sync.WaitGroup
	stats    Stats
}

// Stats count what the agent did, for tests.
type Stats struct {
	Sessions       int // sessions started
	Resumes        int // websockets attached to an existing session
	DroppedSockets int // websockets dropped by fault injection
	Signed         int // websockets whose upgrade carried a valid SigV4 signature
	AcksLost       int // acknowledgements lost by fault injection, both ways
}

// New returns an agent. It panics without API or World, a programming error.
func New(opts Options) *Agent {
	if opts.API == nil || opts.World == nil {
		panic("ssmagent: New: Options.API and Options.World are required")
	}
	if opts.AgentVersion == "" {
		opts.AgentVersion = DefaultAgentVersion
	}
	if opts.PayloadSize <= 0 || opts.PayloadSize > ssmwire.MaxPayload {
		opts.PayloadSize = DefaultPayloadSize
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.ReconnectTimeout <= 0 {
		opts.ReconnectTimeout = defaultReconnect
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Agent{opts: opts, log: opts.Log, sessions: map[string]*session{},
		upgrader: websocket.Upgrader{ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10,
			CheckOrigin: func(*http.Request) bool { return true }}}
}

// Stats returns a snapshot of the counters.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// ServeHTTP upgrades /v1/data-channel/<sessionId> to a websocket, checks
// the opening token frame and attaches the websocket to its session (a new
// one, or an existing one being resumed).
//
// The whole path of a session: it verifies the SigV4 signature of the
// websocket upgrade when there is one (service ssmmessages, the sandbox's
// credentials; unsigned upgrades are admitted by the token alone, as older
// plugins send them), checks the opening token frame against the sandbox
// API's sessions, runs the handshake (advertising a configurable agent
// version, which decides between multiplexed and basic mode), the
// reliability layer of tunnel/ssm/ssmwire, and forwards to the session's
// destination inside the sandbox's private name space: an instance endpoint
// reaches that instance's front, a loopback address is dialled as is,
// anything else is refused. Like the real agent it paces its output (1 KiB
// messages, 1 ms apart) unless told otherwise, stops sending (new data and
// retransmissions) between pause_publication and start_publication, ends
// idle sessions, honours TerminateSession and lets a client resume on a new
// websocket; fault injection options (faults.go) let tests break the path
// on purpose.
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, awsapi.DataChannelPrefix)
	if id == "" || strings.Contains(id, "/") {
		http.NotFound(w, r)
		return
	}
	signer, ok := a.checkSignature(w, r, id)
	if !ok {
		return
	}
	if _, ok := a.opts.API.Session(id); !ok {
		http.NotFound(w, r)
		return
	}
	c, err := a.upgrader.Upgrade(w, r, nil)
	if err != nil {
		a.log.Warn("ssm data channel: websocket upgrade failed", "session_id", id, "err", err)
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(openFrameTimeout))
	typ, b, err := c.ReadMessage()
	_ = c.SetReadDeadline(time.Time{})
	var in ssmwire.OpenDataChannelInput
	if err == nil && typ == websocket.TextMessage {
		err = json.Unmarshal(b, &in)
	} else if err == nil {
		err = errNotText
	}
	refuse := func(reason string) {
		a.log.Warn("ssm data channel refused", "session_id", id, "remote", r.RemoteAddr, "reason", reason)
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "refused"), time.Now().Add(time.Second))
		c.Close()
	}
	if err != nil {
		refuse("bad opening frame: " + err.Error())
		return
	}
	if in.MessageSchemaVersion != "1.0" || len(in.RequestID) < 16 {
		refuse("opening frame needs MessageSchemaVersion 1.0 and a RequestId of at least 16 characters")
		return
	}
	sess, ok := a.opts.API.ValidateStreamToken(id, in.TokenValue)
	if !ok {
		refuse("stream token is not the session's current one (used after ResumeSession, or the session ended)")
		return
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		c.Close()
		return
	}
	if signer != "" {
		a.stats.Signed++
	}
	s := a.sessions[id]
	resume := s != nil
	if s == nil {
		s = a.newSession(sess)
		a.sessions[id] = s
		a.stats.Sessions++
	} else {
		a.stats.Resumes++
	}
	a.mu.Unlock()
	a.log.Info("ssm data channel open", "session_id", id, "resume", resume, "client_version", in.ClientVersion, "signed_by", signer)
	s.attach(c)
	if !resume {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			s.run()
			a.mu.Lock()
			delete(a.sessions, id)
			a.mu.Unlock()
		}()
	}
}

// signingName is the SigV4 service of the data channel's websocket.
const signingName = "ssmmessages"

// checkSignature verifies the SigV4 signature of a websocket upgrade that
// carries one (AWS's plugin signs since 1.2.764.0; older ones, and
// clients without credentials, do not, and the stream token alone
// admits them). A bad signature, an unknown key or a wrong scope is
// answered 403 before the upgrade, with AWS's message, and the websocket
// is not opened. It returns the signer's ARN ("" when unsigned).
func (a *Agent) checkSignature(w http.ResponseWriter, r *http.Request, id string) (string, bool) {
	if r.Header.Get("Authorization") == "" {
		return "", true
	}
	p, err := a.opts.API.VerifySigV4(r, signingName)
	if err == nil {
		return p.ARN, true
	}
	code, msg, reason := "InvalidSignatureException", err.Error(), err.Error()
	var se *awsapi.SigV4Error
	if errors.As(err, &se) {
		code, msg, reason = se.Code, se.Message, se.Reason
	}
	a.log.Warn("ssm data channel refused: bad SigV4 signature", "session_id", id, "remote", r.RemoteAddr, "reason", reason)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(http.StatusForbidden)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
	return "", false
}

// Terminate ends a session the API terminated: the client gets
// channel_closed. It fits awsapi.Options.OnTerminate.
func (a *Agent) Terminate(x awsapi.Session) {
	a.mu.Lock()
	s := a.sessions[x.ID]
	a.mu.Unlock()
	if s != nil {
		s.end("Session terminated by TerminateSession.")
	}
}

// Close ends every session and waits for them.
func (a *Agent) Close() error {
	a.mu.Lock()
	a.closed = true
	var all []*session
	for _, s := range a.sessions {
		all = append(all, s)
	}
	a.mu.Unlock()
	for _, s := range all {
		s.end("The sandbox is shutting down.")
	}
	a.wg.Wait()
	return nil
}

func (a *Agent) countAckLost() {
	a.mu.Lock()
	a.stats.AcksLost++
	a.mu.Unlock()
}

func (a *Agent) countDrop() {
	a.mu.Lock()
	a.stats.DroppedSockets++
	a.mu.Unlock()
}

type errString string

func (e errString) Error() string { return string(e) }

const errNotText = errString("the opening frame must be a text frame")
