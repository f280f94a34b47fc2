package pgfront

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/pgwire"
)

// PasswordBackendConfig describes an existing PostgreSQL server that the
// front reaches over TCP only, with no trust socket: IAM users log in to it
// with passwords only the front knows.
type PasswordBackendConfig struct {
	// Addr is the server's host:port.
	Addr string
	// Admin connects as a user that may read pg_roles (for rds_iam
	// membership).
	Admin *pgx.ConnConfig
	// Password returns the backend password of an IAM user.
	Password func(user string) string
}

// NewPasswordBackend returns a Backend for an existing server.
func NewPasswordBackend(cfg PasswordBackendConfig) (Backend, error) {
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("pgfront: backend address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("pgfront: backend address %q: want host:port", cfg.Addr)
	}
	if cfg.Admin == nil || cfg.Password == nil {
		return nil, errors.New("pgfront: PasswordBackendConfig needs Admin and Password")
	}
	b := newBackend("", cfg.Addr, port, cfg.Admin.User)
	b.adminCfg = cfg.Admin
	return &passwordBackend{backend: b, password: cfg.Password}, nil
}

type passwordBackend struct {
	*backend
	password func(string) string
}

// DialTrusted logs sm's user in with its backend password (SCRAM-SHA-256,
// MD5 or, to a loopback server only, clear text) and hands over the
// connection at AuthenticationOk, with any NegotiateProtocolVersion the
// server sent first, as a trust login would look.
func (b *passwordBackend) DialTrusted(ctx context.Context, sm *pgwire.StartupMessage) (conn net.Conn, err error) {
	c, err := b.dialTCP(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := sendStartup(c, sm); err != nil {
		return nil, err
	}
	user, pw := sm.User(), b.password(sm.User())
	br := bufio.NewReader(c)
	var replay []byte // what the front must see: NegotiateProtocolVersion, AuthenticationOk
	var scram *pgwire.SCRAMClient
	for range 8 {
		typ, body, err := pgwire.ReadMessage(br, handshakeMaxMessage)
		if err != nil {
			return nil, fmt.Errorf("pgfront: backend login as %s: %w", user, err)
		}
		switch typ {
		case pgwire.MsgNegotiateProtocolVersion:
			replay = pgwire.AppendMessage(replay, typ, body)
			continue
		case pgwire.MsgErrorResponse:
			reason := "unparsable error"
			if e, err := pgwire.ParseErrorResponse(body); err == nil {
				reason = e.Error()
			}
			return nil, fmt.Errorf("pgfront: backend refused %s: %s", user, reason)
		case pgwire.MsgAuthentication:
		default:
			return nil, fmt.Errorf("pgfront: backend login as %s: unexpected message %q", user, typ)
		}
		code, data, err := pgwire.ParseAuthentication(body)
		if err != nil {
			return nil, err
		}
		var answer []byte
		switch code {
		case pgwire.AuthOk:
			replay = pgwire.AppendMessage(replay, typ, body)
			return &replayConn{Conn: c, r: io.MultiReader(bytes.NewReader(replay), br)}, nil
		case pgwire.AuthSASL:
			if scram, err = pgwire.NewSCRAMClient(pw); err != nil {
				return nil, err
			}
			answer = scram.ClientFirst()
		case pgwire.AuthSASLContinue:
			if scram == nil {
				return nil, errors.New("pgfront: SASL continue before SASL")
			}
			if answer, err = scram.ClientFinal(data); err != nil {
				return nil, err
			}
		case pgwire.AuthSASLFinal:
			if scram == nil {
				return nil, errors.New("pgfront: SASL final before SASL")
			}
			if err := scram.VerifyServerFinal(data); err != nil {
				return nil, err
			}
			continue
		case pgwire.AuthMD5Password:
			answer = pgwire.MD5Password(user, pw, data)
		case pgwire.AuthCleartextPassword:
			if ip := net.ParseIP(hostOf(c.RemoteAddr())); ip == nil || !ip.IsLoopback() {
				return nil, errors.New("pgfront: the backend asks for a clear-text password over an unencrypted network connection; configure scram-sha-256")
			}
			answer = pgwire.PasswordMessage(pw)
		default:
			return nil, fmt.Errorf("pgfront: backend asks for unsupported authentication %d", code)
		}
		if _, err := c.Write(answer); err != nil {
			return nil, fmt.Errorf("pgfront: backend login as %s: %w", user, err)
		}
	}
	return nil, errors.New("pgfront: backend login took too many rounds")
}

// replayConn reads r (bytes already read from Conn, then Conn's reader).
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }
