// Package postgres is the proxy's PostgreSQL engine: it takes a local client's
// startup as is, logs in upstream over TLS verified against the RDS CA with an
// IAM token or a password source, hands the client the server's parameters
// with a proxy-issued cancel key, and relays.
package postgres

import (
	"bufio"
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/rdsgate/rdsgate/grant"
	"github.com/rdsgate/rdsgate/pgwire"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/rdsca"
	"github.com/rdsgate/rdsgate/stage"
)

// Notes on this package:
//
// Package postgres is the proxy's PostgreSQL engine. On the local leg it
// declines GSSAPI encryption, and TLS unless the proxy has a local
// certificate (the client is on loopback; with one it accepts SSLRequest and
// PostgreSQL 17's direct TLS with ALPN "postgresql"), reads the
// client's startup packet as is — any 3.x protocol version and every
// parameter, so libpq's protocol "grease" passes through — and never asks
// for a password. On the upstream leg it opens the route, upgrades to TLS
// verified against the RDS CA with the endpoint as server name (after an
// SSLRequest, or at once with ALPN "postgresql" for PostgreSQL 17's direct
// TLS), forwards the startup, and answers the server's cleartext password
// request (the only request RDS makes of IAM users) with a token; any other
// request means the user is not IAM-enabled, and the token is never handed
// to it. Targets without IAM authentication use a password source instead,
// which also answers MD5 and SCRAM-SHA-256 (with the server's signature
// checked). It then hands the client the server's session parameters with
// a proxy-issued cancel key, and relays.

// maxStartupMessage bounds a server message during the startup phase.
const maxStartupMessage = 1 << 20

// alpnPostgres is the ALPN protocol of PostgreSQL 17's direct TLS.
const alpnPostgres = "postgresql"

// maxDerivedKeys bounds the SCRAM key cache (one entry per user and
// password in practice).
const maxDerivedKeys = 64

// Engine serves PostgreSQL clients. Its zero value is not usable; use New.
type Engine struct {
	mu      sync.Mutex
	cancels map[cancelKey]cancelTarget
	keys    map[[32]byte][]byte // SCRAM salted passwords, see derive
	reuse   *reusePool          // nil: every client logs in anew (see ReuseLogins)
}

// New returns a PostgreSQL engine.
func New() *Engine {
	return &Engine{cancels: map[cancelKey]cancelTarget{}, keys: map[[32]byte][]byte{}}
}

// cancelKey is what the proxy handed a client as BackendKeyData.
type cancelKey struct {
	pid uint32
	key string
}

// cancelTarget is the server's BackendKeyData behind a proxy-issued key,
// with the upstream it belongs to.
type cancelTarget struct {
	pid uint32
	key []byte
	up  *proxy.Upstream
}

// Name is "postgres".
func (e *Engine) Name() string { return "postgres" }

// Refuse sends a FATAL too_many_connections error and closes c.
func (e *Engine) Refuse(c net.Conn, message string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// Read the startup so the client sees the error rather than a reset.
	for range 3 {
		p, err := pgwire.ReadStartup(c)
		if err != nil {
			return
		}
		if _, ok := p.(*pgwire.StartupMessage); ok {
			break
		}
		if _, ok := p.(*pgwire.CancelRequest); ok {
			return
		}
		if _, err := c.Write([]byte{'N'}); err != nil {
			return
		}
	}
	_, _ = c.Write(pgwire.ErrorResponse(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeTooManyConnections, Message: message}))
}

// Serve handles one client connection.
func (e *Engine) Serve(ctx context.Context, s *proxy.Session) (string, error) {
	_ = s.Client.SetDeadline(s.HandshakeDeadline())
	startup, cancel, err := e.localStartup(s)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return proxy.EndClientClosed, nil
		}
		return "", err
	}
	if cancel != nil {
		return "cancel request", e.forwardCancel(ctx, cancel, s)
	}
	client := s.Client // TLS, if the client asked and --local-cert allows
	user := startup.User()
	s.Record.DBUser, s.Record.Database = user, startup.Database()
	if app, ok := startup.Param("application_name"); ok {
		s.Record.Application = app
	}
	log := s.Log.With("user", user, "database", s.Record.Database)

	// The client now waits for the login; one that leaves meanwhile (a
	// probe, a killed client) ends it, wherever it is, and frees its slot.
	lctx, stop := s.LoginContext(ctx)
	reuseKey := e.reuseKey(startup, s.Record.Principal)
	up, reused, err := e.loginOrReuse(lctx, s, startup, reuseKey, log)
	stop()
	if err != nil && proxy.ClientGone(lctx) {
		log.Debug("client left before its login", "err", err)
		return proxy.EndClientClosed, nil
	}
	if err != nil {
		var pgErr *pgwire.Error
		if errors.As(err, &pgErr) {
			_, _ = client.Write(pgwire.ErrorResponse(pgErr))
		} else {
			e.fatal(client, pgwire.CodeConnectionFailure, "rdsgate: "+err.Error(), "")
		}
		return "", err
	}
	keep := false
	defer func() {
		if !keep {
			up.close()
		}
	}()

	var key cancelKey
	if reused {
		key, err = e.greet(s, up)
	} else {
		key, err = e.finishStartup(s, up)
	}
	if err != nil {
		return "", err
	}
	defer e.forget(key)
	_ = client.SetDeadline(time.Time{})
	_ = up.conn.SetDeadline(time.Time{})
	s.LoggedIn()
	log.Debug("session started", "client", s.Record.Client, "reused_login", reused)

	var inspect proxy.Inspector
	if s.CaptureStatements {
		inspect = newStatementCapture(func(stmt string) { s.Recorder.Statement(*s.Record, stmt) }).feed
	}
	if reuseKey == "" {
		return proxy.Relay(proxy.Leg{R: client, Conn: client}, proxy.Leg{R: up.r, Conn: up.conn}, s.Counter, inspect, s.IdleTimeout, s.Done), nil
	}
	var reason string
	reason, keep = e.relayForReuse(s, client, up, reuseKey, inspect, key)
	return reason, nil
}

// relayForReuse relays a session whose login may serve another client
// after this one, and keeps it for reuseKey when it can, after forgetting
// this client's cancel key (which must not reach the next client's
// queries).
func (e *Engine) relayForReuse(s *proxy.Session, client net.Conn, up *upstreamConn, reuseKey string, inspect proxy.Inspector, key cancelKey) (reason string, kept bool) {
	if up.pump == nil {
		up.pump = startPump(up.r)
	}
	expected := false
	reason, keep := relayKeeping(s, client, up, inspect, func() {
		expected = true
		e.reuse.expect(reuseKey)
	})
	switch {
	case keep:
		e.forget(key)
		e.reuse.put(reuseKey, up)
	case expected:
		e.reuse.unexpect(reuseKey)
	}
	return reason, keep
}

// loginOrReuse takes a login kept for reuseKey, if any, else logs in.
func (e *Engine) loginOrReuse(ctx context.Context, s *proxy.Session, startup *pgwire.StartupMessage, reuseKey string, log interface {
	Warn(string, ...any)
}) (up *upstreamConn, reused bool, err error) {
	if reuseKey != "" {
		if up := e.reuse.take(ctx, reuseKey); up != nil {
			return up, true, nil
		}
	}
	up, err = e.login(ctx, s, startup, log)
	return up, false, err
}

// upstreamConn is a logged-in upstream session: the TLS conn and the reader
// that owns its read-ahead.
type upstreamConn struct {
	conn net.Conn
	r    *bufio.Reader
	// pending are server messages read during login that the client must
	// see, in order, before AuthenticationOk (NegotiateProtocolVersion,
	// notices).
	pending []byte
	// For reuse (ReuseLogins): the server's cancel key and parameters as
	// it last reported them, when the login was made, and the pump that
	// reads the session after its first client's login.
	pid      uint32
	secret   []byte
	params   []param
	loggedIn time.Time
	pump     *pump
}

// close closes the session (and stops its pump, if any).
func (up *upstreamConn) close() {
	if up.pump == nil {
		up.conn.Close()
		return
	}
	up.pump.stop(func() { up.conn.Close() })
}

// login opens the upstream and authenticates. A refused login is retried
// once when the credentials have another password to offer: a fresh token
// in place of a cached one (RDS sometimes refuses a valid new token
// transiently, and a cached one may predate a change), or a rotated secret.
func (e *Engine) login(ctx context.Context, s *proxy.Session, startup *pgwire.StartupMessage, log interface {
	Warn(string, ...any)
}) (*upstreamConn, error) {
	user := startup.User()
	creds := s.Upstream.Credentials
	for attempt := 1; ; attempt++ {
		up, err := e.tryLogin(ctx, s, startup)
		if err == nil {
			return up, nil
		}
		var pgErr *pgwire.Error
		var notIAM *notIAMError
		authFailed := errors.As(err, &pgErr) && (pgErr.Code == pgwire.CodeInvalidAuthorization || pgErr.Code == pgwire.CodeInvalidPassword)
		// A fresh token helps when RDS refused a valid one (it does so
		// transiently); it cannot help a user the server asks a password of.
		passwordAsked := errors.As(err, &notIAM) || creds.IAM() && authFailed && pgErr.Code == pgwire.CodeInvalidPassword
		retry := false
		if authFailed && attempt == 1 && !passwordAsked {
			retry, _ = creds.Refresh(ctx, user) // a failed re-read keeps the server's refusal as the error
		}
		if !retry {
			if authFailed && pgErr.Hint == "" {
				pgErr.Hint = loginHint(s, user)
			}
			return nil, err
		}
		if err := s.Upstream.BeforeRetry(ctx, log, pgErr.Message); err != nil {
			return nil, err
		}
	}
}

// loginHint says what usually causes a refused IAM login, with the policy
// resource to check.
func loginHint(s *proxy.Session, user string) string {
	t := s.Upstream.Target
	if h := s.Upstream.PasswordHint(user); h != "" {
		return h
	}
	arn := s.Upstream.DBUserARN(user)
	return fmt.Sprintf("rdsgate signed a valid IAM token for %s@%s. Check that the user is granted rds_iam (%s), that IAM authentication is enabled on %s, and that your IAM policy allows rds-db:connect on %s; `rdsgate doctor %s` checks each.",
		user, t.Address(), grantSQL(user), t.Identifier, arn, t.Identifier)
}

// notIAMError is the server asking an IAM user for a password: the user is
// not IAM-enabled, and no fresh token changes that.
type notIAMError struct{ err *pgwire.Error }

func (e *notIAMError) Error() string { return e.err.Error() }
func (e *notIAMError) Unwrap() error { return e.err }

// Is makes the error proxy.ErrNotIAMUser.
func (e *notIAMError) Is(target error) bool { return target == proxy.ErrNotIAMUser }

// grantSQL is the statement that makes user an IAM user, with user quoted
// as an identifier: a hint an admin copies must not run anything else.
func grantSQL(user string) string {
	return "GRANT rds_iam TO " + grant.QuotePGIdent(user) + ";"
}

func (e *Engine) tryLogin(ctx context.Context, s *proxy.Session, startup *pgwire.StartupMessage) (_ *upstreamConn, err error) {
	defer func() { err = stage.Wrap(stage.Login, err) }() // the route's and TLS's keep theirs
	up := s.Upstream
	if err := up.Logins.Wait(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && proxy.ClientGone(ctx) {
			up.Logins.Return() // no login happened: the client left first
		}
	}()
	conn, err := e.dialTLS(ctx, s)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	// Reads and writes below follow the conn's deadline; ctx ending (the
	// client left) ends them too.
	defer context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })()
	pkt, err := upstreamStartup(startup, s.Record.Principal).AppendTo(nil)
	if err != nil {
		return nil, fmt.Errorf("encode startup: %w", err)
	}
	if _, err := conn.Write(pkt); err != nil {
		return nil, fmt.Errorf("send startup to %s: %w", up.Target.Address(), err)
	}
	r := bufio.NewReaderSize(conn, 32<<10)
	user := startup.User()
	var pending []byte
	var scram *pgwire.SCRAMClient
	scramDone := false
	for {
		typ, body, err := pgwire.ReadMessage(r, maxStartupMessage)
		if err != nil {
			return nil, fmt.Errorf("read login response from %s: %w", up.Target.Address(), err)
		}
		switch typ {
		case pgwire.MsgErrorResponse:
			pgErr, perr := pgwire.ParseErrorResponse(body)
			if perr != nil {
				return nil, fmt.Errorf("server error during login: %w", perr)
			}
			return nil, pgErr
		case pgwire.MsgNegotiateProtocolVersion, pgwire.MsgNoticeResponse:
			// Relayed once the login succeeds, in order.
			pending = pgwire.AppendMessage(pending, typ, body)
		case pgwire.MsgAuthentication:
			code, data, err := pgwire.ParseAuthentication(body)
			if err != nil {
				return nil, err
			}
			if code == pgwire.AuthOk {
				if scram != nil && !scramDone {
					return nil, fmt.Errorf("%s ended the SCRAM exchange without proving it knows the password; refusing the session", up.Target.Address())
				}
				return &upstreamConn{conn: conn, r: r, pending: pending, loggedIn: time.Now()}, nil
			}
			reply, err := e.answerAuth(ctx, up, user, code, data, &scram, &scramDone)
			if err != nil {
				return nil, err
			}
			if reply != nil {
				if _, err := conn.Write(reply); err != nil {
					return nil, fmt.Errorf("send credentials to %s: %w", up.Target.Address(), err)
				}
			}
		default:
			return nil, fmt.Errorf("unexpected message %q during login", typ)
		}
	}
}

// answerAuth answers one authentication request of the server (over the
// verified TLS connection; there is no other). An IAM token goes only to a
// cleartext password request: any other request means the user is not
// IAM-enabled. A password from a password source answers cleartext, MD5 and
// SCRAM-SHA-256 requests. A nil reply with a nil error means nothing is to
// be sent.
func (e *Engine) answerAuth(ctx context.Context, up *proxy.Upstream, user string, code uint32, data []byte,
	scram **pgwire.SCRAMClient, scramDone *bool) ([]byte, error) {
	creds := up.Credentials
	switch code {
	case pgwire.AuthCleartextPassword, pgwire.AuthMD5Password, pgwire.AuthSASL:
		if *scram != nil {
			return nil, fmt.Errorf("%s asked for a password again in the middle of a SCRAM exchange", up.Target.Address())
		}
		if code != pgwire.AuthCleartextPassword && creds.IAM() {
			return nil, &notIAMError{&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeInvalidAuthorization,
				Message: fmt.Sprintf("rdsgate: database user %q is not IAM-enabled: %s asked for a %s password, not an IAM token", user, up.Target.Identifier, authName(code)),
				Hint:    fmt.Sprintf("as an admin: %s (or `%s`); for a user with a password, configure a password source for the target (auth: password)", grantSQL(user), up.GrantCommand(user))}}
		}
		pw, err := creds.Password(ctx, user)
		if err != nil {
			return nil, err
		}
		switch code {
		case pgwire.AuthCleartextPassword:
			return pgwire.PasswordMessage(pw), nil
		case pgwire.AuthMD5Password:
			if len(data) != 4 {
				return nil, fmt.Errorf("%s sent an MD5 password request with a %d-byte salt, want 4", up.Target.Address(), len(data))
			}
			return pgwire.MD5Password(user, pw, data), nil
		}
		mechs, err := pgwire.ParseSASLMechanisms(data)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(mechs, pgwire.SCRAMSHA256) {
			return nil, fmt.Errorf("%s offers SASL mechanisms %q; rdsgate speaks %s", up.Target.Address(), mechs, pgwire.SCRAMSHA256)
		}
		c, err := pgwire.NewSCRAMClient(pw)
		if err != nil {
			return nil, err
		}
		c.Derive = e.derive
		*scram = c
		return c.ClientFirst(), nil
	case pgwire.AuthSASLContinue:
		if *scram == nil {
			return nil, fmt.Errorf("%s sent a SASL challenge before a SASL request", up.Target.Address())
		}
		return (*scram).ClientFinal(data)
	case pgwire.AuthSASLFinal:
		if *scram == nil || *scramDone {
			return nil, fmt.Errorf("%s sent an unexpected SASL outcome", up.Target.Address())
		}
		if err := (*scram).VerifyServerFinal(data); err != nil {
			return nil, fmt.Errorf("%s: %w", up.Target.Address(), err)
		}
		*scramDone = true
		return nil, nil
	}
	return nil, fmt.Errorf("%s asked for an authentication method rdsgate does not speak (code %d: %s)", up.Target.Address(), code, authName(code))
}

func authName(code uint32) string {
	switch code {
	case pgwire.AuthCleartextPassword:
		return "cleartext"
	case pgwire.AuthMD5Password:
		return "MD5"
	case pgwire.AuthSASL:
		return "SCRAM (SASL)"
	case pgwire.AuthGSS:
		return "GSSAPI"
	case pgwire.AuthSSPI:
		return "SSPI"
	}
	return "unknown"
}

// dialTLS opens the route to the endpoint and upgrades to verified TLS.
func (e *Engine) dialTLS(ctx context.Context, s *proxy.Session) (_ net.Conn, err error) {
	defer func() { err = stage.Wrap(stage.TLS, err) }() // the route's errors keep theirs
	up := s.Upstream
	addr := up.Target.Address()
	dctx, cancel := context.WithTimeout(ctx, s.HandshakeTimeout)
	defer cancel()
	raw, err := up.Dial(dctx)
	if err != nil {
		return nil, err
	}
	_ = raw.SetDeadline(time.Now().Add(s.HandshakeTimeout))
	conf := up.TLS
	if up.DirectTLS {
		conf = conf.Clone()
		conf.NextProtos = []string{alpnPostgres}
	} else {
		ssl, _ := (&pgwire.SSLRequest{}).AppendTo(nil)
		if _, err := raw.Write(ssl); err != nil {
			raw.Close()
			return nil, fmt.Errorf("request TLS from %s: %w", addr, err)
		}
		var answer [1]byte
		if _, err := io.ReadFull(raw, answer[:]); err != nil {
			raw.Close()
			return nil, fmt.Errorf("request TLS from %s: %w", addr, err)
		}
		if answer[0] != 'S' {
			raw.Close()
			return nil, fmt.Errorf("%s refused TLS (answered %q); rdsgate never sends credentials in the clear", addr, answer[0])
		}
	}
	tc := tls.Client(raw, conf)
	if err := tc.HandshakeContext(dctx); err != nil {
		raw.Close()
		if up.DirectTLS && hungUp(err) {
			return nil, fmt.Errorf("direct TLS to %s: %w; PostgreSQL before 17 does not accept direct TLS: use ssl_negotiation: postgres (the default) for this target", addr, err)
		}
		return nil, fmt.Errorf("TLS to %s: %w", addr, rdsca.ExplainVerifyError(err, up.TLS.ServerName))
	}
	if up.DirectTLS {
		if p := tc.ConnectionState().NegotiatedProtocol; p != alpnPostgres {
			tc.Close()
			return nil, fmt.Errorf("direct TLS to %s: the server did not select ALPN protocol %q (got %q), so it is not a PostgreSQL 17+ server expecting direct TLS; use ssl_negotiation: postgres (the default) for this target", addr, alpnPostgres, p)
		}
	}
	return tc, nil
}

// hungUp reports whether a TLS handshake failed because the server closed
// the connection, which is what PostgreSQL before 17 does with a ClientHello
// it reads as a startup packet of absurd length.
func hungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// derive is PBKDF2-HMAC-SHA-256 for SCRAM, remembered by password, salt and
// iteration count: a server keeps one salt per user, so every new login
// would repeat the same thousands of HMACs (about a millisecond of CPU).
func (e *Engine) derive(pw, salt []byte, iter int) []byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(iter))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(len(salt)))
	h.Write(n[:])
	h.Write(salt)
	h.Write(pw)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	e.mu.Lock()
	key, ok := e.keys[k]
	e.mu.Unlock()
	if ok {
		return key
	}
	key, err := pbkdf2.Key(sha256.New, string(pw), salt, iter, sha256.Size)
	if err != nil { // only for impossible parameters (the key length is fixed)
		return make([]byte, sha256.Size)
	}
	e.mu.Lock()
	if len(e.keys) >= maxDerivedKeys {
		clear(e.keys)
	}
	e.keys[k] = key
	e.mu.Unlock()
	return key
}

// finishStartup forwards the server's messages up to ReadyForQuery to the
// client, with the BackendKeyData replaced by a proxy-issued key.
func (e *Engine) finishStartup(s *proxy.Session, up *upstreamConn) (cancelKey, error) {
	out := append(up.pending, pgwire.AuthenticationOk()...)
	var key cancelKey
	for {
		typ, body, err := pgwire.ReadMessage(up.r, maxStartupMessage)
		if err != nil {
			return key, fmt.Errorf("read session start from server: %w", err)
		}
		switch typ {
		case pgwire.MsgBackendKeyData:
			pid, secret, err := pgwire.ParseBackendKeyData(body)
			if err != nil {
				return key, err
			}
			key = e.issue(pid, secret, s.Upstream)
			up.pid, up.secret = pid, append([]byte(nil), secret...)
			out = append(out, pgwire.BackendKeyData(key.pid, []byte(key.key))...)
		case pgwire.MsgParameterStatus:
			if up.params, err = setParam(up.params, body); err != nil {
				return key, err
			}
			out = pgwire.AppendMessage(out, typ, body)
		case pgwire.MsgErrorResponse:
			out = pgwire.AppendMessage(out, typ, body)
			_, _ = s.Client.Write(out)
			pgErr, _ := pgwire.ParseErrorResponse(body)
			if pgErr != nil {
				return key, pgErr
			}
			return key, errors.New("server refused the session after login")
		default:
			out = pgwire.AppendMessage(out, typ, body)
		}
		if typ == pgwire.MsgReadyForQuery {
			if _, err := s.Client.Write(out); err != nil {
				return key, fmt.Errorf("write session start to client: %w", err)
			}
			return key, nil
		}
	}
}

// issue makes a proxy cancel key standing for the server's, of the same
// length (protocol 3.2 keys are longer than 4 bytes).
func (e *Engine) issue(pid uint32, secret []byte, up *proxy.Upstream) cancelKey {
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		b := make([]byte, 4+len(secret))
		_, _ = rand.Read(b)
		k := cancelKey{pid: binary.BigEndian.Uint32(b[:4]) & 0x7fffffff, key: string(b[4:])}
		if _, taken := e.cancels[k]; !taken && k.pid != 0 {
			e.cancels[k] = cancelTarget{pid: pid, key: append([]byte(nil), secret...), up: up}
			return k
		}
	}
}

func (e *Engine) forget(k cancelKey) {
	e.mu.Lock()
	delete(e.cancels, k)
	e.mu.Unlock()
}

// forwardCancel sends the server's cancel key, over a new TLS connection
// through the same route, for a proxy-issued key. Unknown keys are ignored,
// as PostgreSQL does.
func (e *Engine) forwardCancel(ctx context.Context, req *pgwire.CancelRequest, s *proxy.Session) error {
	e.mu.Lock()
	t, ok := e.cancels[cancelKey{pid: req.ProcessID, key: string(req.SecretKey)}]
	e.mu.Unlock()
	if !ok {
		s.Log.Debug("cancel request with an unknown key ignored")
		return nil
	}
	sess := *s
	sess.Upstream = t.up
	conn, err := e.dialTLS(ctx, &sess)
	if err != nil {
		return fmt.Errorf("forward cancel: %w", err)
	}
	defer conn.Close()
	pkt, err := (&pgwire.CancelRequest{ProcessID: t.pid, SecretKey: t.key}).AppendTo(nil)
	if err != nil {
		return err
	}
	if _, err := conn.Write(pkt); err != nil {
		return fmt.Errorf("forward cancel: %w", err)
	}
	// The server closes the connection when done; wait briefly for that so
	// the cancel is delivered before we close.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, conn)
	return nil
}

func (e *Engine) fatal(c net.Conn, code, msg, hint string) {
	_, _ = c.Write(pgwire.ErrorResponse(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: code, Message: msg, Hint: hint}))
}

// upstreamStartup is startup with the AWS identity the proxy logs in for
// added to application_name (proxy.AppTag), so that the server's
// pg_stat_activity ties the connection to a person.
func upstreamStartup(startup *pgwire.StartupMessage, principal string) *pgwire.StartupMessage {
	app, _ := startup.Param("application_name")
	tagged := proxy.AppTag(app, principal)
	if tagged == app {
		return startup
	}
	out := &pgwire.StartupMessage{ProtocolVersion: startup.ProtocolVersion, Params: slices.Clone(startup.Params)}
	if i := slices.IndexFunc(out.Params, func(p pgwire.Param) bool { return p.Name == "application_name" }); i >= 0 {
		out.Params[i].Value = tagged
	} else {
		out.Params = append(out.Params, pgwire.Param{Name: "application_name", Value: tagged})
	}
	return out
}
