package mysql

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/rdsgate/rdsgate/grant"
	"github.com/rdsgate/rdsgate/mysqlwire"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/rdsca"
	"github.com/rdsgate/rdsgate/stage"
)

// caching_sha2_password's AuthMoreData codes.
const (
	fastAuthSuccess    = 3
	performFullAuthReq = 4
)

// maxAuthRounds bounds the upstream auth exchange.
const maxAuthRounds = 4

// needed are the capabilities a server's greeting must have: the 4.1
// protocol with auth plugins (every MySQL since 5.5 and every MariaDB).
const needed = mysqlwire.ClientProtocol41 | mysqlwire.ClientSecureConnection | mysqlwire.ClientPluginAuth

// upstreamConn is a logged-in upstream session.
type upstreamConn struct {
	conn net.Conn // TLS
	ok   []byte   // the server's OK payload, passed on to the client
	caps mysqlwire.Capability
}

// tlsError is a failure to secure the upstream leg: no TLS offered, or a
// certificate that does not verify.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// dialUpstream opens the route to the endpoint (subject to the login rate
// limit) and reads the server's greeting. A server that refuses the
// connection (ERR instead of a greeting) gives that *mysqlwire.ErrPacket.
func dialUpstream(ctx context.Context, s *proxy.Session) (_ net.Conn, _ *mysqlwire.Greeting, err error) {
	defer func() { err = stage.Wrap(stage.TLS, err) }() // the route's errors keep theirs; a greeting is the server's TLS offer
	up := s.Upstream
	addr := up.Target.Address()
	if err := up.Logins.Wait(ctx); err != nil {
		return nil, nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, s.HandshakeTimeout)
	defer cancel()
	raw, err := up.Dial(dctx)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			raw.Close()
		}
	}()
	_ = raw.SetDeadline(time.Now().Add(s.HandshakeTimeout))
	defer context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })()
	p, seq, err := mysqlwire.ReadPacket(raw, mysqlwire.DefaultHandshakeMax)
	if err != nil {
		return nil, nil, fmt.Errorf("read greeting from %s: %w", addr, err)
	}
	if seq != 0 {
		return nil, nil, fmt.Errorf("greeting from %s: %w: sequence id %d", addr, mysqlwire.ErrSequence, seq)
	}
	g, err := mysqlwire.DecodeGreeting(p)
	if err != nil {
		var ep *mysqlwire.ErrPacket
		if errors.As(err, &ep) {
			return nil, nil, ep // e.g. too many connections: the client sees it as is
		}
		return nil, nil, fmt.Errorf("greeting from %s: %w", addr, err)
	}
	if g.Short || !g.Capabilities.Has(needed) {
		return nil, nil, fmt.Errorf("%s greets with capabilities %v, not a MySQL 4.1+ protocol server with auth plugins", addr, g.Capabilities)
	}
	if !g.Capabilities.Has(mysqlwire.ClientSSL) {
		return nil, nil, &tlsError{fmt.Errorf("%s does not offer TLS (no CLIENT_SSL in its greeting); rdsgate never sends credentials in the clear", addr)}
	}
	return raw, g, nil
}

// login authenticates upstream on raw, whose greeting was g, for the
// client's handshake response resp after greeting it with offered. A
// refused cached token is replaced by a fresh one and the login retried
// once on a new connection (RDS sometimes refuses a valid new token
// transiently, and a cached one may predate a change). login closes raw
// when it fails.
func (e *Engine) login(ctx context.Context, s *proxy.Session, raw net.Conn, g *mysqlwire.Greeting,
	resp *mysqlwire.HandshakeResponse, offered *mysqlwire.Greeting, log *slog.Logger) (*upstreamConn, error) {
	user := resp.User
	iam := s.Upstream.Credentials.IAM()
	for attempt := 1; ; attempt++ {
		up, tokenSent, err := authenticate(ctx, s, raw, g, resp, offered)
		if err == nil {
			return up, nil
		}
		raw.Close()
		var ni *notIAMError
		if errors.As(err, &ni) {
			return nil, err
		}
		var ep *mysqlwire.ErrPacket
		refused := errors.As(err, &ep) && ep.Code == mysqlwire.ErAccessDenied
		switch {
		case !refused:
			return nil, err
		case iam && !tokenSent:
			return nil, notIAMUser(s, user, "refused the login without asking for an IAM token (no such account for this host, or an account with a password)")
		}
		retry := false
		if attempt == 1 {
			retry, _ = s.Upstream.Credentials.Refresh(ctx, user) // a failed re-read keeps the server's refusal as the error
		}
		if !retry {
			return nil, &mysqlwire.ErrPacket{Code: ep.Code, SQLState: ep.SQLState, Message: ep.Message + ". " + loginHint(s, user)}
		}
		if err := s.Upstream.BeforeRetry(ctx, log, ep.Message); err != nil {
			return nil, err
		}
		var g2 *mysqlwire.Greeting
		if raw, g2, err = dialUpstream(ctx, s); err != nil {
			return nil, err
		}
		if !sameFormat(g2, offered) {
			raw.Close()
			return nil, fmt.Errorf("%s changed its capabilities between login attempts (%v, then %v)", s.Upstream.Target.Address(), g.Capabilities, g2.Capabilities)
		}
		// The client was greeted with the first connection's thread id: its
		// KILL QUERY names a closed session (never another one, as thread
		// ids are not reused), so Ctrl-C cannot cancel in this session.
		log.Warn("retried login has another thread id than the client was given; client-side query cancel will not reach it",
			"greeted_id", g.ConnectionID, "thread_id", g2.ConnectionID)
		g = g2
	}
}

// sameFormat reports whether server greeting g supports everything the
// client was offered, and speaks the same dialect.
func sameFormat(g, offered *mysqlwire.Greeting) bool {
	return offered.Capabilities&^mysqlwire.ClientMySQL&^g.Capabilities == 0 &&
		offered.Capabilities&mysqlwire.ClientMySQL == g.Capabilities&mysqlwire.ClientMySQL &&
		offered.MariaDBCaps&^g.MariaDBCaps == 0
}

// upstreamCaps are the capabilities sent upstream: what the client
// negotiated with the proxy's greeting (so that every wire-format flag is
// the same on both legs), the client's MySQL/MariaDB dialect bit as it
// sent it, and what the proxy's own login needs, with TLS.
func upstreamCaps(resp *mysqlwire.HandshakeResponse, offered *mysqlwire.Greeting) (mysqlwire.Capability, mysqlwire.MariaDBCapability) {
	caps := resp.Capabilities&offered.Capabilities | resp.Capabilities&mysqlwire.ClientMySQL | needed | mysqlwire.ClientSSL
	var ext mysqlwire.MariaDBCapability
	if !caps.Has(mysqlwire.ClientMySQL) {
		ext = resp.MariaDBCaps & offered.MariaDBCaps
	}
	return caps, ext
}

// authenticate runs one upstream login on raw: TLS, the handshake
// response, and the auth exchange. tokenSent reports whether an IAM token
// went to the server.
func authenticate(ctx context.Context, s *proxy.Session, raw net.Conn, g *mysqlwire.Greeting,
	resp *mysqlwire.HandshakeResponse, offered *mysqlwire.Greeting) (_ *upstreamConn, tokenSent bool, err error) {
	defer func() {
		var te *tlsError
		if errors.As(err, &te) {
			err = stage.Wrap(stage.TLS, err)
		}
		err = stage.Wrap(stage.Login, err)
	}()
	up := s.Upstream
	addr := up.Target.Address()
	caps, ext := upstreamCaps(resp, offered)
	ssl := &mysqlwire.SSLRequest{Capabilities: caps, MariaDBCaps: ext, MaxPacketSize: resp.MaxPacketSize, Collation: resp.Collation}
	if _, err := mysqlwire.WritePacket(raw, 1, ssl.Encode()); err != nil {
		return nil, false, fmt.Errorf("request TLS from %s: %w", addr, err)
	}
	// Reads and writes below follow raw's deadline; ctx ending (the client
	// left) ends them too.
	defer context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })()
	tc := tls.Client(raw, up.TLS)
	hctx, cancel := context.WithTimeout(ctx, s.HandshakeTimeout)
	err = tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		return nil, false, &tlsError{fmt.Errorf("TLS to %s: %w", addr, rdsca.ExplainVerifyError(err, up.TLS.ServerName))}
	}
	// From here on every byte is encrypted and the server verified.
	uc := mysqlwire.NewConn(tc, mysqlwire.DefaultHandshakeMax)
	uc.SetSeq(2)

	iam := up.Credentials.IAM()
	var pw string
	password := func() error {
		if pw != "" {
			return nil
		}
		var err error
		pw, err = up.Credentials.Password(ctx, resp.User)
		return err
	}
	hr := &mysqlwire.HandshakeResponse{
		Capabilities: caps, MariaDBCaps: ext, MaxPacketSize: resp.MaxPacketSize, Collation: resp.Collation,
		User: resp.User, AuthPlugin: mysqlwire.PluginNativePassword, AuthResponse: []byte{},
	}
	if caps.Has(mysqlwire.ClientConnectWithDB) {
		hr.Database = resp.Database
	}
	if caps.Has(mysqlwire.ClientConnectAttrs) {
		hr.Attrs = resp.Attrs
	}
	if !iam {
		// A password source: answer the greeting's scramble directly.
		if err := password(); err != nil {
			return nil, false, err
		}
		hr.AuthResponse = mysqlwire.NativePassword(g.Scramble, pw)
	}
	// (An IAM user gets an auth switch to mysql_clear_password whatever
	// the first response says; the token goes only there.)
	payload, err := hr.Encode()
	if err != nil {
		return nil, false, fmt.Errorf("encode handshake response: %w", err)
	}
	if err := uc.WritePacket(payload); err != nil {
		return nil, false, fmt.Errorf("send handshake response to %s: %w", addr, err)
	}

	// The scramble that counts is the one in the auth switch request.
	plugin, switched := mysqlwire.PluginNativePassword, false
	var scramble []byte
	for range maxAuthRounds {
		p, err := uc.ReadPacket()
		if err != nil {
			return nil, tokenSent, fmt.Errorf("read login response from %s: %w", addr, err)
		}
		switch {
		case mysqlwire.IsOK(p):
			return &upstreamConn{conn: tc, ok: p, caps: caps}, tokenSent, nil
		case mysqlwire.IsErr(p):
			ep, err := mysqlwire.DecodeErr(p, caps)
			if err != nil {
				return nil, tokenSent, fmt.Errorf("login error from %s: %w", addr, err)
			}
			return nil, tokenSent, ep
		case mysqlwire.IsAuthSwitchRequest(p):
			sw, err := mysqlwire.DecodeAuthSwitchRequest(p)
			if err != nil {
				return nil, tokenSent, fmt.Errorf("auth switch from %s: %w", addr, err)
			}
			if switched {
				return nil, tokenSent, fmt.Errorf("%s asked to switch auth plugins twice (%s)", addr, sw.Plugin)
			}
			switched, plugin, scramble = true, sw.Plugin, sw.Scramble()
			if iam && plugin != mysqlwire.PluginClearPassword {
				return nil, false, notIAMUser(s, resp.User, fmt.Sprintf("asked for the %s auth plugin, not mysql_clear_password", plugin))
			}
			var data []byte
			switch plugin {
			case mysqlwire.PluginClearPassword:
				if err := password(); err != nil {
					return nil, false, err
				}
				data, tokenSent = mysqlwire.ClearPassword(pw), iam
			case mysqlwire.PluginNativePassword:
				data = mysqlwire.NativePassword(scramble, pw)
			case mysqlwire.PluginCachingSHA2:
				data = cachingSHA2Password(scramble, pw)
			default:
				return nil, false, fmt.Errorf("%s asked for the %s auth plugin, which rdsgate does not support", addr, plugin)
			}
			if err := uc.WritePacket(data); err != nil {
				return nil, tokenSent, fmt.Errorf("send auth response to %s: %w", addr, err)
			}
		case mysqlwire.IsAuthMoreData(p):
			if iam {
				return nil, false, notIAMUser(s, resp.User, fmt.Sprintf("asked for more %s auth data, not an IAM token", plugin))
			}
			if plugin != mysqlwire.PluginCachingSHA2 || len(p) != 2 {
				return nil, false, fmt.Errorf("unexpected auth data from %s for %s", addr, plugin)
			}
			switch p[1] {
			case fastAuthSuccess: // an OK follows
			case performFullAuthReq:
				// Full authentication; over TLS the password goes as is.
				if err := uc.WritePacket(mysqlwire.ClearPassword(pw)); err != nil {
					return nil, false, fmt.Errorf("send password to %s: %w", addr, err)
				}
			default:
				return nil, false, fmt.Errorf("unexpected caching_sha2_password state %d from %s", p[1], addr)
			}
		default:
			return nil, tokenSent, fmt.Errorf("unexpected packet 0x%02x from %s during login", p[0], addr)
		}
	}
	return nil, tokenSent, fmt.Errorf("login to %s took more than %d auth rounds", addr, maxAuthRounds)
}

// notIAMError is the refusal of a user the server does not log in with an
// IAM token; it unwraps to the ERR packet the client gets.
type notIAMError struct{ pkt *mysqlwire.ErrPacket }

func (e *notIAMError) Error() string { return e.pkt.Error() }
func (e *notIAMError) Unwrap() error { return e.pkt }

// Is makes the error proxy.ErrNotIAMUser.
func (e *notIAMError) Is(target error) bool { return target == proxy.ErrNotIAMUser }

// notIAMUser is the client's error for a user the server does not log in
// with an IAM token.
func notIAMUser(s *proxy.Session, user, what string) error {
	t := s.Upstream.Target
	return &notIAMError{&mysqlwire.ErrPacket{Code: mysqlwire.ErAccessDenied, SQLState: mysqlwire.SQLStateAccessDenied,
		Message: fmt.Sprintf("rdsgate: database user %q is not an IAM user: %s %s. As an admin: %s (ALTER USER for an existing user), or `%s`",
			user, t.Identifier, what, createUserSQL(user), s.Upstream.GrantCommand(user))}}
}

// createUserSQL is the statement that makes user an IAM user, with user
// quoted as a string literal (MySQL's default sql_mode; under
// NO_BACKSLASH_ESCAPES a backslash or control character in the name reads
// differently, but still inside the literal): a hint an admin copies must
// not run anything else.
func createUserSQL(user string) string {
	return "CREATE USER " + grant.QuoteMySQLLiteral(user) + " IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS';"
}

// loginHint says what usually causes a refused IAM login, with the policy
// resource to check.
func loginHint(s *proxy.Session, user string) string {
	t := s.Upstream.Target
	if h := s.Upstream.PasswordHint(user); h != "" {
		return h
	}
	arn := s.Upstream.DBUserARN(user)
	return fmt.Sprintf("rdsgate signed a valid IAM token for %s@%s. Check that the user is IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS', that IAM authentication is enabled on %s, and that your IAM policy allows rds-db:connect on %s; `rdsgate doctor %s` checks each.",
		user, t.Address(), t.Identifier, arn, t.Identifier)
}

// cachingSHA2Password is caching_sha2_password's scramble:
// SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble).
func cachingSHA2Password(scramble []byte, pw string) []byte {
	if pw == "" {
		return []byte{}
	}
	h1 := sha256.Sum256([]byte(pw))
	h2 := sha256.Sum256(h1[:])
	h := sha256.New()
	h.Write(h2[:])
	h.Write(scramble)
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= h1[i]
	}
	return out
}
