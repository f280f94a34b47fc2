package ssm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/xtaci/smux"

	"github.com/rdsgate/rdsgate/tunnel/ssm/ssmwire"
)

// How a route runs its sessions:
//
// It calls StartSession with AWS-StartPortForwardingSessionToRemoteHost
// (or AWS-StartPortForwardingSession for a database on the bastion), opens
// the data channel websocket (SigV4-signed for ssmmessages, as current
// plugins do), runs the handshake and the reliability layer of
// tunnel/ssm/ssmwire, and then, for agents that multiplex (> 3.0.196.0),
// carries every connection to one destination as an smux stream of one
// session. Older agents get basic mode: one session per connection. A
// dropped websocket is resumed with ResumeSession; a session that cannot
// be resumed is replaced for new connections. Close terminates the
// sessions.

const (
	handshakeTimeout = 30 * time.Second
	apiTimeout       = 15 * time.Second
)

// session is one Session Manager session of the dialer.
type session struct {
	d    *Dialer
	id   string
	dest string
	log  *slog.Logger
	ch   *ssmwire.Channel
	pipe *ssmwire.Pipe

	mu        sync.Mutex
	streamURL string
	token     string

	hsDone       chan struct{}
	hsErr        error
	agentVersion string
	sessionType  string
	mux          bool
	smux         *smux.Session
	gate         *openGate    // between smux and pipe: see openGate
	refused      atomic.Int64 // ConnectToPortError flags received
	resumes      atomic.Int64
	termOnce     sync.Once

	// Guarded by d.mu (see pool.go): the connections counted on the
	// session, and the timer that ends it when it stays without any.
	active  int
	idle    *time.Timer
	idleGen int
}

// start opens a session to dest: StartSession, the websocket, the
// handshake and (mux mode) the smux client.
func (d *Dialer) start(ctx context.Context, dest string) (*session, error) {
	host, port, _ := net.SplitHostPort(dest)
	params := map[string][]string{"portNumber": {port}, "localPortNumber": {"0"}}
	if d.cfg.Document != DocumentLocal {
		params["host"] = []string{host}
	}
	in := &ssm.StartSessionInput{Target: aws.String(d.cfg.Target), DocumentName: aws.String(d.cfg.Document), Parameters: params}
	if d.cfg.Reason != "" {
		in.Reason = aws.String(d.cfg.Reason)
	}
	actx, cancel := context.WithTimeout(ctx, apiTimeout)
	out, err := d.cfg.API.StartSession(actx, in)
	cancel()
	if err != nil {
		return nil, apiError("StartSession", d.cfg.Target, err)
	}
	if out.SessionId == nil || out.StreamUrl == nil || out.TokenValue == nil {
		return nil, errors.New("ssm: StartSession returned no session id, stream URL or token")
	}
	s := &session{d: d, id: *out.SessionId, dest: dest, streamURL: *out.StreamUrl, token: *out.TokenValue, hsDone: make(chan struct{})}
	s.log = d.log.With("session_id", s.id, "remote", dest)
	s.ch = ssmwire.NewChannel(ssmwire.ChannelConfig{OutType: ssmwire.TypeInputStreamData, Deliver: s.deliver,
		OnDisconnect: s.onDisconnect, Window: d.cfg.Window, Log: s.log})
	s.pipe = ssmwire.NewPipe(s.ch, ssmwire.PipeConfig{MaxPayload: d.cfg.MaxPayload})
	go func() {
		<-s.ch.Done()
		s.pipe.Close()
	}()
	c, err := d.openWebsocket(ctx, s.streamURL, s.token)
	if err != nil {
		s.terminate()
		return nil, err
	}
	s.ch.SetTransport(ssmwire.WebsocketTransport(c, true))
	timer := time.NewTimer(handshakeTimeout)
	defer timer.Stop()
	select {
	case <-s.hsDone:
	case <-ctx.Done():
		s.terminate()
		return nil, fmt.Errorf("ssm: session %s: handshake: %w", s.id, ctx.Err())
	case <-s.ch.Done():
		s.terminate()
		return nil, fmt.Errorf("ssm: session %s ended during the handshake: %w", s.id, s.ch.Err())
	case <-timer.C:
		s.terminate()
		return nil, fmt.Errorf("ssm: session %s: the bastion's agent did not complete the handshake in %s; check the SSM agent's version and logs", s.id, handshakeTimeout)
	}
	if s.hsErr != nil {
		s.terminate()
		return nil, s.hsErr
	}
	if s.mux {
		s.gate = newOpenGate(s.pipe.FullReads())
		sm, err := smux.Client(s.gate, s.smuxConfig())
		if err != nil {
			s.terminate()
			return nil, fmt.Errorf("ssm: session %s: smux: %w", s.id, err)
		}
		s.smux = sm
		go func() {
			<-s.ch.Done()
			sm.Close()
		}()
	}
	s.log.Debug("ssm session ready", "agent_version", s.agentVersion, "mux", s.mux)
	return s, nil
}

// smuxConfig matches the agent's keepalive: NOPs are always sent (they keep
// the service's idle timer from ending an idle tunnel); silence from the
// agent is fatal only when the agent itself runs keepalive.
func (s *session) smuxConfig() *smux.Config {
	cfg := smux.DefaultConfig()
	agentKeepAlive := !(ssmwire.VersionAfter(s.d.cfg.ClientVersion, ssmwire.KeepAliveOffClientAfter) &&
		ssmwire.VersionAfter(s.agentVersion, ssmwire.KeepAliveOffAgentAfter))
	ka := s.d.cfg.KeepAlive
	switch {
	case agentKeepAlive:
		cfg.KeepAliveInterval, cfg.KeepAliveTimeout = min(max(ka, time.Second), 10*time.Second), 30*time.Second
	case ka < 0:
		cfg.KeepAliveDisabled = true
	default:
		cfg.KeepAliveInterval, cfg.KeepAliveTimeout = ka, 365*24*time.Hour
	}
	return cfg
}

// deliver handles the agent's stream messages in order.
func (s *session) deliver(m *ssmwire.Message) error {
	switch m.PayloadType {
	case ssmwire.PayloadHandshakeRequest:
		go s.handshake(append([]byte(nil), m.Payload...))
	case ssmwire.PayloadHandshakeComplete:
		s.completeHandshake()
	case ssmwire.PayloadOutput:
		if err := s.pipe.Push(m.Payload); err != nil {
			return nil
		}
	case ssmwire.PayloadFlag:
		if f, err := ssmwire.ParseFlag(m.Payload); err == nil && f == ssmwire.FlagConnectToPortError {
			s.refused.Add(1)
			s.log.Warn("ssm: the bastion could not connect to the destination; check that the database listens there and that its security group admits the bastion's", "remote", s.dest)
		}
	case ssmwire.PayloadExitCode, ssmwire.PayloadStdErr, ssmwire.PayloadError:
		s.log.Info("ssm: agent message", "payload_type", m.PayloadType, "text", string(m.Payload))
	}
	return nil
}

func (s *session) handshake(raw []byte) {
	var req ssmwire.HandshakeRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		s.failHandshake(fmt.Errorf("ssm: session %s: malformed HandshakeRequest: %w", s.id, err))
		return
	}
	resp := ssmwire.HandshakeResponse{ClientVersion: s.d.cfg.ClientVersion}
	var fail error
	for _, a := range req.RequestedClientActions {
		pa := ssmwire.ProcessedAction{ActionType: a.ActionType, ActionStatus: ssmwire.StatusSuccess}
		switch a.ActionType {
		case ssmwire.ActionSessionType:
			var st ssmwire.SessionTypeRequest
			_ = json.Unmarshal(a.ActionParameters, &st)
			if st.SessionType != "Port" {
				pa.ActionStatus, pa.Error = ssmwire.StatusFailed, "rdsgate runs port sessions only"
				fail = fmt.Errorf("ssm: session %s is of type %q, not Port: use a port-forwarding document", s.id, st.SessionType)
			}
			if t, _ := st.Properties["type"].(string); t != "LocalPortForwarding" {
				s.sessionType = t
			} else {
				s.sessionType = "LocalPortForwarding"
			}
		case ssmwire.ActionKMSEncryption:
			pa.ActionStatus, pa.Error = ssmwire.StatusFailed, "KMS encryption is not supported by rdsgate"
			fail = fmt.Errorf("ssm: session %s demands KMS encryption, which rdsgate does not support yet (AWS never encrypts port sessions with KMS; check the session document's preferences)", s.id)
		default:
			pa.ActionStatus, pa.Error = ssmwire.StatusUnsupported, "unsupported action"
			fail = fmt.Errorf("ssm: session %s: the agent requested the unsupported handshake action %q", s.id, a.ActionType)
		}
		resp.ProcessedClientActions = append(resp.ProcessedClientActions, pa)
	}
	s.mu.Lock()
	s.agentVersion = req.AgentVersion
	s.mu.Unlock()
	b, _ := json.Marshal(resp)
	if err := s.ch.Send(ssmwire.PayloadHandshakeResponse, b); err != nil {
		s.failHandshake(err)
		return
	}
	if fail != nil {
		s.failHandshake(fail)
	}
}

func (s *session) failHandshake(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.hsDone:
	default:
		s.hsErr = err
		close(s.hsDone)
	}
}

func (s *session) completeHandshake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.hsDone:
		return
	default:
	}
	s.mux = s.sessionType == "LocalPortForwarding" &&
		ssmwire.VersionAfter(s.agentVersion, ssmwire.MuxAgentAfter) &&
		ssmwire.VersionAtLeast(s.d.cfg.ClientVersion, ssmwire.MuxMinClientVersion)
	close(s.hsDone)
}

// onDisconnect resumes the session on a new websocket: ResumeSession (a
// new token, maybe a new StreamUrl), dial, token frame; the channel then
// resends what the agent has not acknowledged. Attempts back off from
// ~100 ms to 5 s.
func (s *session) onDisconnect(cause error) {
	s.log.Info("ssm: data channel dropped; resuming", "err", cause)
	delay := time.Duration(100+rand.IntN(100)) * time.Millisecond
	var last error
	for attempt := 0; attempt < s.d.cfg.ResumeAttempts; attempt++ {
		select {
		case <-s.ch.Done():
			return
		default:
		}
		if attempt > 0 {
			time.Sleep(delay)
			delay = min(delay*2, 5*time.Second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
		out, err := s.d.cfg.API.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(s.id)})
		cancel()
		if err != nil {
			last = apiError("ResumeSession", s.d.cfg.Target, err)
			continue
		}
		if out.TokenValue == nil || *out.TokenValue == "" {
			s.ch.Close(fmt.Errorf("ssm: session %s timed out or was terminated; new connections start a new session", s.id))
			return
		}
		s.mu.Lock()
		s.token = *out.TokenValue
		if out.StreamUrl != nil && *out.StreamUrl != "" {
			s.streamURL = *out.StreamUrl
		}
		u, tok := s.streamURL, s.token
		s.mu.Unlock()
		ctx, cancel = context.WithTimeout(context.Background(), apiTimeout)
		c, err := s.d.openWebsocket(ctx, u, tok)
		cancel()
		if err != nil {
			last = err
			continue
		}
		s.resumes.Add(1)
		s.ch.SetTransport(ssmwire.WebsocketTransport(c, true))
		s.log.Info("ssm: session resumed", "attempt", attempt+1)
		return
	}
	s.ch.Close(fmt.Errorf("ssm: session %s could not be resumed after %d attempts: %w", s.id, s.d.cfg.ResumeAttempts, last))
}

func (s *session) alive() bool {
	select {
	case <-s.ch.Done():
		return false
	default:
	}
	return s.smux == nil || !s.smux.IsClosed()
}

// terminate ends the session: the TerminateSession flag to the agent, the
// TerminateSession API, then the channel.
func (s *session) terminate() {
	s.termOnce.Do(func() {
		if s.ch.Err() == nil && s.ch.Connected() {
			done := make(chan struct{})
			go func() {
				if !s.mux { // basic mode: the connection ends first, as the plugin does it
					_ = s.ch.Send(ssmwire.PayloadFlag, ssmwire.FlagDisconnectToPort.Bytes())
				}
				_ = s.ch.Send(ssmwire.PayloadFlag, ssmwire.FlagTerminateSession.Bytes())
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(time.Second):
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
		_, err := s.d.cfg.API.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: aws.String(s.id)})
		cancel()
		if err != nil {
			s.log.Warn("ssm: TerminateSession failed; the service ends the session after its idle timeout", "err", err)
		}
		s.ch.Close(errors.New("ssm: session terminated"))
		if s.smux != nil {
			s.smux.Close()
		}
		s.pipe.Close()
	})
}
