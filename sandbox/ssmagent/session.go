package ssmagent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/xtaci/smux"

	"github.com/rdsgate/rdsgate/sandbox/awsapi"
	"github.com/rdsgate/rdsgate/tunnel/ssm/ssmwire"
)

// session is one port-forwarding session on the agent side.
type session struct {
	a    *Agent
	info awsapi.Session
	log  *slog.Logger
	ch   *ssmwire.Channel
	dest string // host:port as the client asked
	flt  *faultState

	hsResp       chan []byte
	handshakeOK  atomic.Bool
	lastActivity atomic.Int64 // unix nanos
	disconnected atomic.Int64 // unix nanos since the websocket dropped; 0 when attached

	mux              bool
	smuxKeepAliveOff bool
	pipe             *ssmwire.Pipe

	bmu   sync.Mutex // basic mode destination connection
	bconn net.Conn

	endOnce sync.Once
	endMsg  string
	ended   chan struct{}
}

func (a *Agent) newSession(info awsapi.Session) *session {
	s := &session{a: a, info: info, log: a.log.With("session_id", info.ID), hsResp: make(chan []byte, 1), ended: make(chan struct{})}
	s.flt = newFaultState(a.opts.Faults, a)
	host := "localhost"
	if h := first(info.Parameters["host"]); h != "" {
		host = h
	}
	s.dest = net.JoinHostPort(host, first(info.Parameters["portNumber"]))
	s.touch()
	s.ch = ssmwire.NewChannel(ssmwire.ChannelConfig{
		OutType: ssmwire.TypeOutputStreamData,
		Deliver: s.deliver,
		OnDisconnect: func(err error) {
			s.disconnected.Store(time.Now().UnixNano())
			s.log.Info("ssm data channel: websocket dropped; waiting for the client to resume", "err", err)
		},
		OnReceive: func(m *ssmwire.Message) {
			if m.Type == ssmwire.TypeInputStreamData || m.Type == ssmwire.TypeAcknowledge {
				s.touch()
			}
			if m.Type == ssmwire.TypeInputStreamData {
				s.flt.received()
			}
		},
		DropAck: s.flt.dropAck,
		Window:  agentWindow,
		// AWS's agent honours pause_publication; it acknowledges at once.
		Publication: true,
		Log:         s.log,
	})
	return s
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (s *session) touch() { s.lastActivity.Store(time.Now().UnixNano()) }

// attach makes c the session's websocket.
func (s *session) attach(c *websocket.Conn) {
	s.disconnected.Store(0)
	s.ch.SetTransport(s.flt.wrap(ssmwire.WebsocketTransport(c, false), c))
}

// end sends channel_closed with msg (as the service does) and closes the
// session.
func (s *session) end(msg string) {
	s.endOnce.Do(func() {
		s.endMsg = msg
		cc, _ := json.Marshal(ssmwire.ChannelClosed{MessageID: ssmwire.NewUUID().String(), CreatedDate: time.Now().UTC().Format(time.RFC3339Nano),
			DestinationID: s.info.Target, SessionID: s.info.ID, MessageType: ssmwire.TypeChannelClosed, SchemaVersion: 1, Output: msg})
		if s.ch.SendControl(&ssmwire.Message{Type: ssmwire.TypeChannelClosed, ID: ssmwire.NewUUID(), Payload: cc}) == nil {
			s.ch.Flush(500 * time.Millisecond)
		}
		s.ch.Close(errors.New(msg))
		close(s.ended)
	})
}

// run drives the session until it ends: handshake, then the port plugin in
// mux or basic mode, while a watchdog checks idleness, termination and
// reconnection.
func (s *session) run() {
	defer s.cleanup()
	go s.watchdog()
	if err := s.handshake(); err != nil {
		s.log.Warn("ssm session failed", "err", err)
		s.end(err.Error())
		return
	}
	if s.mux {
		s.serveMux()
	}
	<-s.ended
}

func (s *session) cleanup() {
	if s.pipe != nil {
		s.pipe.Close()
	}
	s.bmu.Lock()
	if s.bconn != nil {
		s.bconn.Close()
	}
	s.bmu.Unlock()
	s.ch.Wait()
	s.flt.stop()
}

func (s *session) watchdog() {
	t := time.NewTicker(watchdogTick(s.a.opts.IdleTimeout))
	defer t.Stop()
	for {
		select {
		case <-s.ended:
			return
		case <-s.ch.Done():
			s.end("The data channel closed: " + errText(s.ch.Err()))
			return
		case <-t.C:
		}
		if x, ok := s.a.opts.API.Session(s.info.ID); !ok || x.Status != awsapi.SessionConnected {
			s.end("Session terminated by TerminateSession.")
			return
		}
		if idle := time.Since(time.Unix(0, s.lastActivity.Load())); idle > s.a.opts.IdleTimeout {
			s.log.Info("ssm session idle; ending it", "idle", idle.Round(time.Millisecond))
			s.end(fmt.Sprintf("Your session timed out due to inactivity (%s).", s.a.opts.IdleTimeout))
			return
		}
		if d := s.disconnected.Load(); d != 0 && time.Since(time.Unix(0, d)) > s.a.opts.ReconnectTimeout {
			s.end("The client did not reconnect in time.")
			return
		}
	}
}

func watchdogTick(idle time.Duration) time.Duration {
	return min(max(idle/10, 10*time.Millisecond), time.Second)
}

func errText(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}

// handshake sends HandshakeRequest, waits for the response (15 s like the
// agent), decides the mode from the client's version and sends
// HandshakeComplete.
func (s *session) handshake() error {
	start := time.Now()
	props := map[string]any{
		"portNumber":      first(s.info.Parameters["portNumber"]),
		"type":            "LocalPortForwarding",
		"localPortNumber": first(s.info.Parameters["localPortNumber"]),
	}
	if h := first(s.info.Parameters["host"]); h != "" {
		props["host"] = h
	}
	params, _ := json.Marshal(ssmwire.SessionTypeRequest{SessionType: "Port", Properties: props})
	req, _ := json.Marshal(ssmwire.HandshakeRequest{AgentVersion: s.a.opts.AgentVersion,
		RequestedClientActions: []ssmwire.RequestedAction{{ActionType: ssmwire.ActionSessionType, ActionParameters: params}}})
	if err := s.ch.Send(ssmwire.PayloadHandshakeRequest, req); err != nil {
		return err
	}
	var raw []byte
	select {
	case raw = <-s.hsResp:
	case <-time.After(handshakeTimeout):
		return errors.New("Handshake timed out. Please ensure that you have the latest version of the session manager plugin.")
	case <-s.ended:
		return errors.New("session ended during the handshake")
	}
	var resp ssmwire.HandshakeResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return fmt.Errorf("malformed HandshakeResponse: %v", err)
	}
	for _, a := range resp.ProcessedClientActions {
		if a.ActionStatus != ssmwire.StatusSuccess {
			return fmt.Errorf("the client failed handshake action %s: %s", a.ActionType, a.Error)
		}
	}
	clientVersion := resp.ClientVersion
	s.mux = ssmwire.VersionAtLeast(clientVersion, ssmwire.MuxMinClientVersion) &&
		ssmwire.VersionAfter(s.a.opts.AgentVersion, ssmwire.MuxAgentAfter)
	keepAliveOff := ssmwire.VersionAfter(clientVersion, ssmwire.KeepAliveOffClientAfter) &&
		ssmwire.VersionAfter(s.a.opts.AgentVersion, ssmwire.KeepAliveOffAgentAfter)
	s.log.Info("ssm handshake", "client_version", clientVersion, "agent_version", s.a.opts.AgentVersion, "mux", s.mux, "smux_keepalive", !keepAliveOff, "destination", s.dest)
	if !s.mux {
		// The real agent dials the destination right after the handshake.
		if err := s.dialBasic(); err != nil {
			return err
		}
	} else {
		pace := time.Duration(0)
		if !s.a.opts.Unpaced {
			pace = DefaultPace
		}
		s.pipe = ssmwire.NewPipe(s.ch, ssmwire.PipeConfig{MaxPayload: s.a.opts.PayloadSize, Pace: pace})
		s.smuxKeepAliveOff = keepAliveOff
	}
	s.handshakeOK.Store(true)
	done, _ := json.Marshal(ssmwire.HandshakeComplete{HandshakeTimeToComplete: int64(time.Since(start)), CustomerMessage: ""})
	return s.ch.Send(ssmwire.PayloadHandshakeComplete, done)
}

// deliver handles the client's stream messages in order.
func (s *session) deliver(m *ssmwire.Message) error {
	if !s.handshakeOK.Load() {
		if m.PayloadType == ssmwire.PayloadHandshakeResponse {
			select {
			case s.hsResp <- append([]byte(nil), m.Payload...):
			default:
			}
		}
		// Like the agent: data before the handshake completes is dropped.
		return nil
	}
	switch m.PayloadType {
	case ssmwire.PayloadOutput:
		if s.mux {
			if err := s.pipe.Push(m.Payload); err != nil {
				return nil
			}
			return nil
		}
		return s.writeBasic(m.Payload)
	case ssmwire.PayloadFlag:
		f, err := ssmwire.ParseFlag(m.Payload)
		if err != nil {
			return nil
		}
		switch f {
		case ssmwire.FlagDisconnectToPort:
			if !s.mux {
				s.closeBasic()
			}
		case ssmwire.FlagTerminateSession:
			go s.end("Session terminated by the client.")
		}
	}
	return nil
}

// smuxConfig is smux's default configuration, keepalive per the version
// rules, as the agent uses it.
func smuxConfig(keepAliveOff bool) *smux.Config {
	cfg := smux.DefaultConfig()
	cfg.KeepAliveDisabled = keepAliveOff
	return cfg
}
