package mysqlfront

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/rdsgate/rdsgate/mysqlwire"
)

// What a client sees: the greeting is the backend's own (server version,
// thread id, scramble), with CLIENT_SSL added when TLS is configured and
// compression removed. A user that is IAM-enabled gets an AuthSwitchRequest
// to mysql_clear_password and must send an IAM token, only over TLS; the
// token is checked by the configured Authenticator (iamauth.Verify and the
// sandbox policy). Refusals read as on RDS:
//
//	ERROR 1045 (28000): Access denied for user 'u'@'host' (using password: YES)
//
// and the sandbox log says the precise reason (never the token). Other
// users are authenticated by the backend itself: the front forwards the
// handshake response and relays the auth exchange. After login the front
// splices bytes; the client's Ctrl-C (KILL QUERY <greeting's thread id>)
// reaches the right backend session because the ids are the backend's.

// unrelayable are greeting capabilities the front does not offer: it
// splices and inspects uncompressed packets.
const unrelayable = mysqlwire.ClientCompress | mysqlwire.ClientZstdCompression

// maxAuthRounds bounds the relayed auth exchange of a password login.
const maxAuthRounds = 8

// session is one client connection and its backend connection.
type session struct {
	srv    *Server
	client net.Conn

	mu      sync.Mutex
	backend net.Conn
	closed  bool

	// set during the handshake
	clientTLS *tls.Conn
	user      string
	db        string
}

// close closes both connections; safe to call from any goroutine, twice.
func (ss *session) close() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.closed = true
	ss.client.Close()
	if ss.backend != nil {
		ss.backend.Close()
	}
}

func (ss *session) setBackend(c net.Conn) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		c.Close()
		return false
	}
	ss.backend = c
	return true
}

// refusal is a login the front refuses with an ERR packet to the client;
// reason goes to the log only.
type refusal struct {
	pkt    *mysqlwire.ErrPacket
	reason string
}

func (r *refusal) Error() string { return r.reason }

func (ss *session) run(ctx context.Context) {
	s := ss.srv
	defer s.untrack(ss)
	defer ss.close()
	stop := context.AfterFunc(ctx, ss.close)
	defer stop()

	start := time.Now()
	clientConn, backend, iam, err := ss.handshake(ctx)
	if err != nil {
		var rf *refusal
		if errors.As(err, &rf) {
			s.refused.Add(1)
			s.log.Warn("mysqlfront: login refused", "client", ss.client.RemoteAddr().String(),
				"user", ss.user, "database", ss.db, "tls", ss.clientTLS != nil, "reason", rf.reason)
		} else {
			s.failed.Add(1)
			s.log.Warn("mysqlfront: connection dropped in handshake", "client", ss.client.RemoteAddr().String(),
				"user", ss.user, "error", err.Error())
		}
		return
	}
	if iam {
		s.iamLogins.Add(1)
	} else {
		s.pwLogins.Add(1)
	}
	s.log.Info("mysqlfront: login", "client", ss.client.RemoteAddr().String(), "user", ss.user,
		"database", ss.db, "iam", iam, "tls", ss.clientTLS != nil, "elapsed", time.Since(start).Round(time.Microsecond).String())
	ss.relay(clientConn, backend)
}

// handshake runs the connection phase on both legs. On success it returns
// the client's transport (TLS or plain) and the backend connection, both
// without deadlines, ready to splice.
func (ss *session) handshake(ctx context.Context) (client net.Conn, backend net.Conn, iam bool, err error) {
	s := ss.srv
	deadline := time.Now().Add(s.cfg.HandshakeTimeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if err := ss.client.SetDeadline(deadline); err != nil {
		return nil, nil, false, fmt.Errorf("setting client deadline: %w", err)
	}

	// Backend first: its greeting is what the client gets.
	bconn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.cfg.BackendAddr)
	if err != nil {
		return nil, nil, false, fmt.Errorf("dialing backend: %w", err)
	}
	if !ss.setBackend(bconn) {
		return nil, nil, false, errors.New("session closed")
	}
	if err := bconn.SetDeadline(deadline); err != nil {
		return nil, nil, false, fmt.Errorf("setting backend deadline: %w", err)
	}
	bc := mysqlwire.NewConn(bconn, mysqlwire.DefaultHandshakeMax)
	p, err := bc.ReadPacket()
	if err != nil {
		return nil, nil, false, fmt.Errorf("reading backend greeting: %w", err)
	}
	cc := mysqlwire.NewConn(ss.client, mysqlwire.DefaultHandshakeMax)
	if mysqlwire.IsErr(p) {
		// The backend refuses connections (e.g. too many): pass it on.
		_ = cc.WritePacket(p)
		return nil, nil, false, fmt.Errorf("backend refused the connection: %s", errText(p))
	}
	g, err := mysqlwire.DecodeGreeting(p)
	if err != nil {
		return nil, nil, false, fmt.Errorf("backend greeting: %w", err)
	}
	const need = mysqlwire.ClientProtocol41 | mysqlwire.ClientSecureConnection | mysqlwire.ClientPluginAuth
	if g.Short || !g.Capabilities.Has(need) || len(g.Scramble) < mysqlwire.ScrambleLen {
		return nil, nil, false, fmt.Errorf("backend greeting lacks %v or a 20-byte scramble", need)
	}

	offered := *g
	offered.Capabilities &^= unrelayable | mysqlwire.ClientSSL
	if s.cfg.TLS != nil {
		offered.Capabilities |= mysqlwire.ClientSSL
	}
	if err := cc.WritePacket(offered.Encode()); err != nil {
		return nil, nil, false, fmt.Errorf("writing greeting: %w", err)
	}

	p, err = cc.ReadPacket()
	if err != nil {
		return nil, nil, false, fmt.Errorf("reading handshake response: %w", err)
	}
	transport := ss.client
	if mysqlwire.IsSSLRequest(p) {
		if s.cfg.TLS == nil {
			return nil, nil, false, errors.New("client sent an SSLRequest, but TLS was not offered")
		}
		tc := tls.Server(ss.client, s.cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, false, fmt.Errorf("TLS handshake: %w", err)
		}
		ss.clientTLS, transport = tc, tc
		cc.SetTransport(tc)
		if p, err = cc.ReadPacket(); err != nil {
			return nil, nil, false, fmt.Errorf("reading handshake response over TLS: %w", err)
		}
	}
	resp, err := mysqlwire.DecodeHandshakeResponse(p)
	if err != nil {
		_ = cc.WritePacket((&mysqlwire.ErrPacket{Code: mysqlwire.ErHandshake, SQLState: mysqlwire.SQLStateHandshake, Message: "Bad handshake"}).Encode())
		return nil, nil, false, fmt.Errorf("client handshake response: %w", err)
	}
	ss.user, ss.db = resp.User, resp.Database
	if bad := resp.Capabilities & unrelayable; bad != 0 {
		return nil, nil, false, ss.refuse(cc, &mysqlwire.ErrPacket{Code: mysqlwire.ErHandshake, SQLState: mysqlwire.SQLStateHandshake, Message: "Bad handshake"},
			fmt.Sprintf("client asked for %v, which the front did not offer", bad))
	}
	// What the backend gets: the client's capabilities without TLS (the
	// backend leg is plain), so the wire format agrees on both legs.
	up := *resp
	up.Capabilities &^= mysqlwire.ClientSSL

	isIAM, err := s.isIAMUser(ctx, resp.User)
	if err != nil {
		return nil, nil, false, ss.refuse(cc, ss.accessDenied(resp), err.Error())
	}
	if isIAM {
		err = ss.loginIAM(ctx, cc, bc, g, resp, &up)
	} else {
		err = ss.loginPassword(cc, bc, resp, &up)
	}
	if err != nil {
		return nil, nil, false, err
	}
	if err := ss.client.SetDeadline(time.Time{}); err != nil {
		return nil, nil, false, err
	}
	if err := bconn.SetDeadline(time.Time{}); err != nil {
		return nil, nil, false, err
	}
	return transport, bconn, isIAM, nil
}

func (ss *session) clientHost() string {
	if h, _, err := net.SplitHostPort(ss.client.RemoteAddr().String()); err == nil {
		return h
	}
	return ss.client.RemoteAddr().String()
}

func (ss *session) accessDenied(resp *mysqlwire.HandshakeResponse) *mysqlwire.ErrPacket {
	return mysqlwire.AccessDenied(resp.User, ss.clientHost(), len(resp.AuthResponse) > 0)
}

// refuse sends pkt to the client and returns the refusal for the log.
func (ss *session) refuse(cc *mysqlwire.Conn, pkt *mysqlwire.ErrPacket, reason string) error {
	_ = cc.WritePacket(pkt.Encode())
	return &refusal{pkt: pkt, reason: reason}
}

// loginIAM asks the client for its token (mysql_clear_password), has the
// Authenticator check it, and logs in to the backend with the derived
// password.
func (ss *session) loginIAM(ctx context.Context, cc, bc *mysqlwire.Conn, g *mysqlwire.Greeting, resp, up *mysqlwire.HandshakeResponse) error {
	s := ss.srv
	denied := ss.accessDenied(resp)
	if ss.clientTLS == nil {
		// Never ask for a token over plaintext.
		return ss.refuse(cc, denied, "IAM user without TLS: RDS requires SSL for IAM authentication")
	}
	if !resp.Capabilities.Has(mysqlwire.ClientPluginAuth) {
		return ss.refuse(cc, denied, "client does not support auth plugins, cannot switch to mysql_clear_password")
	}
	var token string
	if resp.AuthPlugin == mysqlwire.PluginClearPassword {
		token = mysqlwire.DecodeClearPassword(resp.AuthResponse)
	} else {
		sw := &mysqlwire.AuthSwitchRequest{Plugin: mysqlwire.PluginClearPassword, Data: append(append([]byte{}, g.Scramble...), 0)}
		if err := cc.WritePacket(sw.Encode()); err != nil {
			return fmt.Errorf("writing auth switch request: %w", err)
		}
		p, err := cc.ReadPacket()
		if err != nil {
			return fmt.Errorf("reading the client's token: %w", err)
		}
		token = mysqlwire.DecodeClearPassword(p)
	}
	denied = mysqlwire.AccessDenied(resp.User, ss.clientHost(), token != "")
	if token == "" {
		return ss.refuse(cc, denied, "IAM user sent an empty password instead of a token")
	}
	if err := s.cfg.Auth.AuthenticateIAM(ctx, Login{User: resp.User, Database: resp.Database, Token: token, ClientAddr: ss.client.RemoteAddr()}); err != nil {
		return ss.refuse(cc, denied, "IAM authentication failed: "+err.Error())
	}

	// The backend login, as the user, with the derived password.
	derived := DerivedPassword(s.cfg.Secret, resp.User)
	up.Capabilities |= mysqlwire.ClientProtocol41 | mysqlwire.ClientSecureConnection | mysqlwire.ClientPluginAuth
	up.AuthPlugin = mysqlwire.PluginNativePassword
	up.AuthResponse = mysqlwire.NativePassword(g.Scramble, derived)
	q, err := up.Encode()
	if err != nil {
		return ss.refuse(cc, denied, fmt.Sprintf("cannot re-encode the handshake response: %v", err))
	}
	if err := bc.WritePacket(q); err != nil {
		return fmt.Errorf("writing backend handshake response: %w", err)
	}
	// The client's sequence continues from its last packet.
	for round := 0; ; round++ {
		p, err := bc.ReadPacket()
		if err != nil {
			return fmt.Errorf("reading backend auth result: %w", err)
		}
		switch {
		case mysqlwire.IsOK(p):
			if err := cc.WritePacket(p); err != nil {
				return fmt.Errorf("relaying OK: %w", err)
			}
			return nil
		case mysqlwire.IsErr(p):
			e, _ := mysqlwire.DecodeErr(p, up.Capabilities)
			if e == nil || e.Code == mysqlwire.ErAccessDenied {
				return ss.refuse(cc, denied, "backend refused the derived password: "+errText(p))
			}
			return ss.refuse(cc, e, "backend refused the IAM login: "+errText(p))
		case mysqlwire.IsAuthSwitchRequest(p) && round == 0:
			sw, err := mysqlwire.DecodeAuthSwitchRequest(p)
			if err != nil || sw.Plugin != mysqlwire.PluginNativePassword {
				return ss.refuse(cc, denied, fmt.Sprintf("backend asked the IAM user for another auth plugin (%q)", pluginOf(sw)))
			}
			if err := bc.WritePacket(mysqlwire.NativePassword(sw.Scramble(), derived)); err != nil {
				return fmt.Errorf("writing backend auth switch response: %w", err)
			}
		default:
			return ss.refuse(cc, denied, fmt.Sprintf("unexpected backend packet 0x%02x during IAM login", p[0]))
		}
	}
}

func pluginOf(sw *mysqlwire.AuthSwitchRequest) string {
	if sw == nil {
		return "?"
	}
	return sw.Plugin
}

// loginPassword forwards the client's handshake response to the backend
// and relays the auth exchange until the backend says OK or ERR.
func (ss *session) loginPassword(cc, bc *mysqlwire.Conn, resp, up *mysqlwire.HandshakeResponse) error {
	q, err := up.Encode()
	if err != nil {
		return ss.refuse(cc, ss.accessDenied(resp), fmt.Sprintf("cannot re-encode the handshake response: %v", err))
	}
	if err := bc.WritePacket(q); err != nil {
		return fmt.Errorf("writing backend handshake response: %w", err)
	}
	for round := 0; round < maxAuthRounds; round++ {
		p, err := bc.ReadPacket()
		if err != nil {
			return fmt.Errorf("reading backend auth packet: %w", err)
		}
		if mysqlwire.IsErr(p) {
			e, _ := mysqlwire.DecodeErr(p, up.Capabilities)
			if e != nil && e.Code == mysqlwire.ErAccessDenied {
				// The backend sees the front's address; the client must see
				// its own, as on RDS.
				e = mysqlwire.AccessDenied(resp.User, ss.clientHost(), strings.Contains(e.Message, "(using password: YES)"))
				return ss.refuse(cc, e, "backend refused the password login: "+errText(p))
			}
			if e == nil {
				e = ss.accessDenied(resp)
			}
			return ss.refuse(cc, e, "backend refused the login: "+errText(p))
		}
		if err := cc.WritePacket(p); err != nil {
			return fmt.Errorf("relaying backend auth packet: %w", err)
		}
		if mysqlwire.IsOK(p) {
			return nil
		}
		if mysqlwire.IsAuthMoreData(p) && len(p) == 2 && p[1] == 3 {
			continue // caching_sha2 fast-auth success: an OK follows.
		}
		c, err := cc.ReadPacket()
		if err != nil {
			return fmt.Errorf("reading client auth packet: %w", err)
		}
		if err := bc.WritePacket(c); err != nil {
			return fmt.Errorf("relaying client auth packet: %w", err)
		}
	}
	return ss.refuse(cc, ss.accessDenied(resp), fmt.Sprintf("auth exchange longer than %d rounds", maxAuthRounds))
}

// errText renders an ERR payload for the log.
func errText(p []byte) string {
	e, err := mysqlwire.DecodeErr(p, mysqlwire.ClientProtocol41)
	if err != nil {
		return "malformed ERR packet"
	}
	return e.Error()
}
