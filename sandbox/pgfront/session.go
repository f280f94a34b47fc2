package pgfront

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rdsgate/rdsgate/pgwire"
)

// What a client sees, as on RDS:
//
//   - SSLRequest is answered 'S' and TLS (1.2 or later) follows, with the
//     certificate the configuration gives (one for the RDS-style endpoint
//     name); GSSENCRequest is answered 'N'. PostgreSQL 17's direct TLS
//     (sslnegotiation=direct) is accepted when the client negotiates ALPN
//     "postgresql", and refused otherwise, as PostgreSQL does.
//   - A user that is a member of role rds_iam in the backend is asked for a
//     cleartext password (AuthenticationCleartextPassword), which must be an
//     IAM token; the Authenticator decides. A refusal reads exactly like
//     RDS's: FATAL 28000 `PAM authentication failed for user "<user>"`.
//     Only the sandbox log says why (expired, wrong user, no policy ...).
//   - Any other user (the master user, password users) is relayed to the
//     backend's TCP port, where the backend authenticates it itself (SCRAM).
//   - With ForceSSL (rds.force_ssl=1) a session without TLS is refused with
//     `no pg_hba.conf entry for host "…", user "…", database "…", no
//     encryption`. IAM users are refused without TLS in any case, so that a
//     token never travels in the clear.
//   - CancelRequest is forwarded to the backend as is: the client holds the
//     backend's own BackendKeyData, relayed unchanged.
//
// After a successful IAM login the front logs in to the backend over its
// private unix socket (trust authentication for roles other than the
// superuser; only the server's account and root can reach it) as that
// user, with the client's startup parameters and protocol version, relays
// what the backend says (AuthenticationOk, ParameterStatus, BackendKeyData,
// ReadyForQuery) and splices the two connections. Protocol negotiation (libpq's 3.9999 grease
// and _pq_.* options) reaches the client before the password request, as
// from a real server: the front learns the backend's NegotiateProtocolVersion
// with a probe that stops before authentication.
//
// Handshakes have a deadline, every read before the splice is bounded, and
// tokens and passwords never reach a log line.

const (
	alpnPostgres = "postgresql"
	// tlsRecordHandshake is the first byte of a TLS ClientHello: a direct
	// TLS client (PostgreSQL 17 sslnegotiation=direct) sends it where a
	// startup packet's length would be.
	tlsRecordHandshake = 0x16
	// handshakeMaxMessage bounds a backend message before the splice.
	handshakeMaxMessage = 1 << 20
	// maxStartupRounds bounds SSLRequest/GSSENCRequest rounds before the
	// StartupMessage (one of each is allowed).
	maxStartupRounds = 3
)

// session is one client connection.
type session struct {
	s      *Server
	raw    net.Conn      // the accepted connection
	conn   net.Conn      // raw, or the TLS connection over it
	br     *bufio.Reader // reads conn; relayed from after the handshake
	tls    bool
	log    *slog.Logger
	client string // client IP, as PostgreSQL prints it
}

// serveConn runs one session to its end; raw is closed on return.
func (s *Server) serveConn(ctx context.Context, raw net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	defer raw.Close()

	sess := &session{s: s, raw: raw, conn: raw, client: hostOf(raw.RemoteAddr())}
	sess.log = s.log.With("client", raw.RemoteAddr().String())
	defer func() {
		if r := recover(); r != nil { // a bug, never a client's doing: keep the server up
			sess.log.Error("pgfront: session panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()

	deadline := time.Now().Add(s.timeout)
	_ = raw.SetDeadline(deadline)
	hctx, hcancel := context.WithDeadline(ctx, deadline)
	defer hcancel()

	sm, err := sess.negotiate(hctx)
	if err != nil {
		s.refused.Add(1)
		sess.log.Info("pgfront: connection closed before login", "reason", err.Error())
		return
	}
	if sm == nil {
		return // a cancel request, done
	}
	sess.log = sess.log.With("user", sm.User(), "database", sm.Database(), "tls", sess.tls)
	sess.login(ctx, hctx, sm)
}

// negotiate answers encryption requests and forwards cancels until the
// client sends its StartupMessage; nil, nil means the connection is done
// (a forwarded cancel).
func (sess *session) negotiate(ctx context.Context) (*pgwire.StartupMessage, error) {
	sess.br = bufio.NewReader(sess.raw)
	first, err := sess.br.Peek(1)
	if err != nil {
		return nil, fmt.Errorf("reading the first byte: %w", err)
	}
	sawSSL, sawGSS := false, false
	if first[0] == tlsRecordHandshake {
		if err := sess.directTLS(ctx); err != nil {
			return nil, err
		}
		sawSSL = true
	}
	for range maxStartupRounds {
		p, err := pgwire.ReadStartup(sess.br)
		if err != nil {
			sess.startupError(err)
			return nil, fmt.Errorf("reading the startup packet: %w", err)
		}
		switch p := p.(type) {
		case *pgwire.SSLRequest:
			if sawSSL || sess.tls {
				return nil, sess.fatal(pgwire.CodeProtocolViolation, "duplicate SSLRequest", "second SSLRequest")
			}
			sawSSL = true
			if sess.br.Buffered() > 0 { // CVE-2021-23214: nothing may precede the TLS handshake
				return nil, errors.New("unencrypted data after SSL request")
			}
			if sess.s.tls == nil {
				if _, err := sess.raw.Write([]byte{'N'}); err != nil {
					return nil, fmt.Errorf("answering SSLRequest: %w", err)
				}
				continue
			}
			if _, err := sess.raw.Write([]byte{'S'}); err != nil {
				return nil, fmt.Errorf("answering SSLRequest: %w", err)
			}
			if err := sess.startTLS(ctx, sess.raw); err != nil {
				return nil, err
			}
		case *pgwire.GSSENCRequest:
			if sawGSS || sess.tls {
				return nil, sess.fatal(pgwire.CodeProtocolViolation, "duplicate GSSENCRequest", "second GSSENCRequest")
			}
			sawGSS = true
			if sess.br.Buffered() > 0 {
				return nil, errors.New("unencrypted data after GSSAPI encryption request")
			}
			if _, err := sess.raw.Write([]byte{'N'}); err != nil {
				return nil, fmt.Errorf("answering GSSENCRequest: %w", err)
			}
		case *pgwire.CancelRequest:
			sess.s.cancels.Add(1)
			if err := sess.s.be.ForwardCancel(ctx, p); err != nil {
				sess.log.Warn("pgfront: cancel request not forwarded", "pid", p.ProcessID, "reason", err.Error())
			} else {
				sess.log.Info("pgfront: cancel request forwarded", "pid", p.ProcessID, "tls", sess.tls)
			}
			return nil, nil
		case *pgwire.StartupMessage:
			return p, nil
		}
	}
	return nil, sess.fatal(pgwire.CodeProtocolViolation, "too many startup packets", "too many startup packets")
}

// directTLS runs a TLS handshake on a connection whose first byte is a TLS
// record, and requires ALPN "postgresql", as PostgreSQL 17 does.
func (sess *session) directTLS(ctx context.Context) error {
	if sess.s.tls == nil {
		return errors.New("direct TLS connection, but this instance offers no TLS")
	}
	if err := sess.startTLS(ctx, &pgwire.BufferedConn{Conn: sess.raw, R: sess.br}); err != nil {
		return err
	}
	if sess.conn.(*tls.Conn).ConnectionState().NegotiatedProtocol != alpnPostgres {
		return errors.New("direct TLS connection without ALPN protocol \"postgresql\"")
	}
	return nil
}

// startTLS runs the server handshake over under and reads from TLS after it.
func (sess *session) startTLS(ctx context.Context, under net.Conn) error {
	tc := tls.Server(under, sess.s.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	sess.conn, sess.tls = tc, true
	sess.br = bufio.NewReader(tc)
	return nil
}

// startupError tells the client what was wrong with its startup packet,
// where PostgreSQL does; a bad length or a truncated packet gets no answer
// (PostgreSQL only logs those).
func (sess *session) startupError(err error) {
	switch {
	case errors.Is(err, pgwire.ErrUnsupportedProtocol):
		sess.send(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeFeatureNotSupported,
			Message: "unsupported frontend protocol: server supports protocol 3"})
	case errors.Is(err, pgwire.ErrMalformed):
		sess.send(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeProtocolViolation,
			Message: "invalid startup packet layout"})
	}
}

// fatal sends a FATAL error to the client and returns reason as an error
// for the log.
func (sess *session) fatal(code, message, reason string) error {
	sess.send(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: code, Message: message})
	return errors.New(reason)
}

// send writes an ErrorResponse; a failure only means the client is gone.
func (sess *session) send(e *pgwire.Error) {
	_, _ = sess.conn.Write(pgwire.ErrorResponse(e))
}

// refuse ends a session before the login with an error like PostgreSQL's
// pg_hba.conf refusals, and logs the reason.
func (sess *session) refuse(e *pgwire.Error, reason string) {
	sess.s.refused.Add(1)
	sess.log.Warn("pgfront: login refused", "reason", reason)
	sess.send(e)
}

// login handles a StartupMessage: the IAM path or the relay to the
// backend's password authentication.
func (sess *session) login(ctx, hctx context.Context, sm *pgwire.StartupMessage) {
	user, db := sm.User(), sm.Database()
	encryption := "no encryption"
	if sess.tls {
		encryption = "SSL encryption"
	}
	if sess.s.cfg.ForceSSL && !sess.tls {
		sess.refuse(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeInvalidAuthorization,
			Message: fmt.Sprintf("no pg_hba.conf entry for host %q, user %q, database %q, %s", sess.client, user, db, encryption)},
			"rds.force_ssl=1 and the session is not encrypted")
		return
	}
	iam, err := sess.s.be.IsIAMUser(hctx, user)
	if err != nil {
		sess.s.refused.Add(1)
		sess.log.Error("pgfront: cannot check the user against rds_iam", "reason", err.Error())
		sess.send(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeCannotConnectNow,
			Message: "the database system is not accepting connections"})
		return
	}
	if !iam {
		sess.s.password.Add(1)
		sess.relayPasswordLogin(ctx, hctx, sm)
		return
	}
	if !sess.tls {
		sess.refuse(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeInvalidAuthorization,
			Message: fmt.Sprintf("pg_hba.conf rejects connection for host %q, user %q, database %q, %s", sess.client, user, db, encryption)},
			"IAM user without TLS: a token must never travel in the clear")
		return
	}
	sess.iamLogin(ctx, hctx, sm)
}

// iamLogin asks for the token, has the Authenticator decide, then logs the
// user in over the backend's trust socket and splices.
func (sess *session) iamLogin(ctx, hctx context.Context, sm *pgwire.StartupMessage) {
	user := sm.User()
	var npv []byte
	if sm.Minor() != 0 || len(sm.ProtocolOptions()) > 0 {
		var err error
		if npv, err = sess.s.be.ProbeNegotiation(hctx, sm); err != nil {
			sess.s.refused.Add(1)
			sess.log.Error("pgfront: protocol negotiation probe failed", "reason", err.Error())
			sess.send(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeCannotConnectNow,
				Message: "the database system is not accepting connections"})
			return
		}
	}
	if _, err := sess.conn.Write(append(npv, pgwire.AuthenticationCleartextPassword()...)); err != nil {
		sess.log.Info("pgfront: client gone before the password request", "reason", err.Error())
		return
	}
	typ, body, err := pgwire.ReadMessage(sess.br, pgwire.MaxPasswordLen)
	switch {
	case errors.Is(err, io.EOF):
		// libpq does this when it has no password: it asks the user and
		// reconnects. PostgreSQL logs nothing either.
		sess.log.Info("pgfront: client closed the connection instead of sending a password")
		return
	case err != nil:
		sess.s.iamRefused.Add(1)
		sess.log.Warn("pgfront: IAM login refused", "reason", "reading the password: "+err.Error())
		if errors.Is(err, pgwire.ErrTooLong) || errors.Is(err, pgwire.ErrInvalidLength) {
			sess.send(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeProtocolViolation, Message: "invalid password packet size"})
		}
		return
	case typ != pgwire.MsgPassword:
		sess.s.iamRefused.Add(1)
		sess.log.Warn("pgfront: IAM login refused", "reason", fmt.Sprintf("expected a password message, got type %q", typ))
		sess.send(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeProtocolViolation,
			Message: fmt.Sprintf("expected password response, got message type %d", typ)})
		return
	}
	token, err := pgwire.ParsePassword(body)
	clear(body)
	if err != nil {
		sess.s.iamRefused.Add(1)
		sess.log.Warn("pgfront: IAM login refused", "reason", err.Error())
		sess.send(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeProtocolViolation, Message: "invalid password packet size"})
		return
	}
	login := Login{User: user, Database: sm.Database(), Token: token, ClientAddr: sess.raw.RemoteAddr()}
	if err := sess.s.cfg.Auth.AuthenticateIAM(hctx, login); err != nil {
		sess.s.iamRefused.Add(1)
		sess.log.Warn("pgfront: IAM login refused", "reason", err.Error())
		sess.send(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeInvalidAuthorization,
			Message: fmt.Sprintf("PAM authentication failed for user %q", user)})
		return
	}
	sess.s.iamOK.Add(1)
	sess.log.Info("pgfront: IAM login accepted")

	bc, err := sess.s.be.DialTrusted(hctx, sm)
	if err != nil {
		sess.backendFailed(err)
		return
	}
	sess.splice(ctx, hctx, bc, sm, npv, true)
}

// relayPasswordLogin sends the startup to the backend's TCP port and lets
// the client authenticate there, as RDS's master user would.
func (sess *session) relayPasswordLogin(ctx, hctx context.Context, sm *pgwire.StartupMessage) {
	bc, err := sess.s.be.DialPassword(hctx, sm)
	if err != nil {
		sess.backendFailed(err)
		return
	}
	sess.log.Info("pgfront: not an IAM user, relaying to the backend's password authentication")
	sess.splice(ctx, hctx, bc, sm, nil, false)
}

func (sess *session) backendFailed(err error) {
	sess.log.Error("pgfront: backend unavailable", "reason", err.Error())
	sess.send(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeConnectionFailure,
		Message: "could not connect to the database server"})
}

// splice sends sm to the backend bc, relays the backend's startup-phase
// messages to the client one by one until ReadyForQuery (watching for
// refusals and, when iam, for what a trust login must look like), then
// copies bytes both ways until either side ends. npv is the
// NegotiateProtocolVersion the client already got, which the backend must
// repeat.
func (sess *session) splice(ctx, hctx context.Context, bc net.Conn, sm *pgwire.StartupMessage, npv []byte, iam bool) {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			sess.raw.Close()
			bc.Close()
		})
	}
	defer closeBoth()
	stop := context.AfterFunc(ctx, closeBoth)
	defer stop()
	deadline, _ := hctx.Deadline()
	_ = bc.SetDeadline(deadline)

	// Client to backend, from the client's buffered reader so that nothing
	// it read ahead of the startup phase (a pipelined first query) is lost.
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		_, _ = io.Copy(bc, sess.br)
		closeBoth()
	}()
	defer func() {
		closeBoth()
		<-upDone
	}()

	bbr := bufio.NewReader(bc)
	if !sess.relayStartup(bbr, sm, npv, iam) {
		return
	}
	_ = sess.raw.SetDeadline(time.Time{})
	_ = bc.SetDeadline(time.Time{})
	start := time.Now()
	n, err := io.Copy(sess.conn, bbr)
	closeBoth()
	<-upDone
	sess.log.Info("pgfront: session ended", "duration", time.Since(start).Round(time.Millisecond).String(),
		"bytes_to_client", n, "end", endReason(err))
}

// relayStartup relays the backend's messages until ReadyForQuery (true) or
// a refusal or failure (false).
func (sess *session) relayStartup(bbr *bufio.Reader, sm *pgwire.StartupMessage, npv []byte, iam bool) bool {
	w := bufio.NewWriter(sess.conn)
	negotiationFailed := func() bool {
		sess.s.be.ForgetNegotiation(sm)
		sess.log.Error("pgfront: backend negotiated the protocol unlike its probe")
		_, _ = w.Write(pgwire.ErrorResponse(&pgwire.Error{Severity: pgwire.SeverityFatal,
			Code: pgwire.CodeProtocolViolation, Message: "protocol negotiation failed"}))
		_ = w.Flush()
		return false
	}
	first := true
	for ; ; first = false {
		typ, body, err := pgwire.ReadMessage(bbr, handshakeMaxMessage)
		if err != nil {
			_ = w.Flush()
			sess.log.Warn("pgfront: backend handshake failed", "reason", err.Error())
			return false
		}
		msg := pgwire.AppendMessage(nil, typ, body)
		if iam && first && npv != nil && typ != pgwire.MsgNegotiateProtocolVersion {
			return negotiationFailed() // the client was told of a negotiation that did not happen
		}
		switch typ {
		case pgwire.MsgNegotiateProtocolVersion:
			if iam {
				if !first || !bytes.Equal(msg, npv) {
					return negotiationFailed()
				}
				continue // the client had it before the password request
			}
		case pgwire.MsgAuthentication:
			code, _, err := pgwire.ParseAuthentication(body)
			if err != nil {
				sess.log.Warn("pgfront: backend handshake failed", "reason", err.Error())
				return false
			}
			if iam && code != pgwire.AuthOk {
				sess.log.Error("pgfront: the backend's socket asked an IAM user to authenticate; it must trust", "auth_code", code)
				_, _ = w.Write(pgwire.ErrorResponse(&pgwire.Error{Severity: pgwire.SeverityFatal,
					Code: pgwire.CodeConnectionFailure, Message: "could not connect to the database server"}))
				_ = w.Flush()
				return false
			}
			if !iam && code == pgwire.AuthOk {
				sess.log.Info("pgfront: password login accepted by the backend")
			}
		case pgwire.MsgErrorResponse:
			reason := "unparsable error response"
			if e, err := pgwire.ParseErrorResponse(body); err == nil {
				reason = e.Error()
			}
			sess.log.Warn("pgfront: login refused by the backend", "reason", reason)
			_, _ = w.Write(msg)
			_ = w.Flush()
			return false
		}
		if _, err := w.Write(msg); err != nil {
			return false
		}
		if typ == pgwire.MsgReadyForQuery || bbr.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				sess.log.Info("pgfront: client gone during the login", "reason", err.Error())
				return false
			}
		}
		if typ == pgwire.MsgReadyForQuery {
			return true
		}
	}
}

// endReason names how a relay ended, for the log.
func endReason(err error) string {
	switch {
	case err == nil:
		return "closed"
	case errors.Is(err, net.ErrClosed):
		return "closed by the other side or the server"
	}
	return err.Error()
}

// hostOf returns the IP of a TCP address (the whole address otherwise).
func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}
