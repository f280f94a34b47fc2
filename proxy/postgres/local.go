package postgres

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/rdsgate/rdsgate/pgwire"
	"github.com/rdsgate/rdsgate/proxy"
)

// tlsRecordHandshake is the first byte of a TLS ClientHello: a client
// using PostgreSQL 17's direct TLS (sslnegotiation=direct) sends it where
// a packet length would be.
const tlsRecordHandshake = 0x16

// localStartup runs the local leg's startup phase: encryption requests,
// then a StartupMessage or a CancelRequest. TLS is declined unless the
// proxy has a local certificate (s.LocalTLS); with one, an SSLRequest is
// answered 'S' and a direct TLS ClientHello is accepted with ALPN
// "postgresql" (required, as PostgreSQL 17 requires it), and s.Client
// becomes the TLS connection. Each encryption request is allowed once. A
// client that leaves before its startup gives an error wrapping io.EOF.
func (e *Engine) localStartup(s *proxy.Session) (*pgwire.StartupMessage, *pgwire.CancelRequest, error) {
	var sslDone, gssDone bool
	var r io.Reader = s.Client
	if s.LocalTLS != nil {
		// Tell a direct TLS ClientHello from a packet length by its first
		// byte (a startup packet's length is under 10000: 0x00).
		var b [1]byte
		if _, err := io.ReadFull(s.Client, b[:]); err != nil {
			return nil, nil, fmt.Errorf("read client startup: %w", err)
		}
		if b[0] == tlsRecordHandshake {
			if err := e.acceptTLS(s, &prefixConn{Conn: s.Client, pre: b[:]}, true); err != nil {
				return nil, nil, err
			}
			sslDone = true
			r = s.Client
		} else {
			r = io.MultiReader(bytes.NewReader(b[:]), s.Client)
		}
	}
	for {
		p, err := pgwire.ReadStartup(r)
		r = s.Client // the prefix, if any, is used up
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil, fmt.Errorf("read client startup: %w", err)
			}
			e.fatal(s.Client, pgwire.CodeProtocolViolation, "rdsgate: invalid startup packet", "")
			return nil, nil, fmt.Errorf("read client startup: %w", err)
		}
		switch p := p.(type) {
		case *pgwire.SSLRequest:
			if sslDone {
				e.fatal(s.Client, pgwire.CodeProtocolViolation, "rdsgate: SSLRequest after encryption was already negotiated", "")
				return nil, nil, errors.New("client sent a second SSLRequest")
			}
			sslDone = true
			if s.LocalTLS == nil {
				// The local leg is loopback: no encryption unless the
				// user gave the proxy a certificate. The upstream leg is
				// always TLS.
				if _, err := s.Client.Write([]byte{'N'}); err != nil {
					return nil, nil, fmt.Errorf("answer SSLRequest: %w", err)
				}
				continue
			}
			// ReadStartup reads exactly the request and nothing after it, so
			// no plaintext sent ahead can end up inside the TLS session.
			if _, err := s.Client.Write([]byte{'S'}); err != nil {
				return nil, nil, fmt.Errorf("answer SSLRequest: %w", err)
			}
			if err := e.acceptTLS(s, s.Client, false); err != nil {
				return nil, nil, err
			}
			r = s.Client
		case *pgwire.GSSENCRequest:
			if gssDone || sslDone {
				e.fatal(s.Client, pgwire.CodeProtocolViolation, "rdsgate: GSSENCRequest after encryption was already negotiated", "")
				return nil, nil, errors.New("client sent a GSSENCRequest after encryption was negotiated")
			}
			gssDone = true
			if _, err := s.Client.Write([]byte{'N'}); err != nil {
				return nil, nil, fmt.Errorf("answer GSSENCRequest: %w", err)
			}
		case *pgwire.CancelRequest:
			return nil, p, nil
		case *pgwire.StartupMessage:
			return p, nil, nil
		}
	}
}

// acceptTLS runs the server side of a TLS handshake on c for the local
// leg and makes it s.Client. direct requires ALPN "postgresql".
func (e *Engine) acceptTLS(s *proxy.Session, c net.Conn, direct bool) error {
	conf := s.LocalTLS.Clone()
	conf.NextProtos = []string{alpnPostgres}
	tc := tls.Server(c, conf)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("local TLS handshake: %w", err)
	}
	if direct && tc.ConnectionState().NegotiatedProtocol != alpnPostgres {
		// As PostgreSQL 17 does: a direct TLS client must say it speaks
		// PostgreSQL, or it may be a confused HTTPS client.
		e.fatal(tc, pgwire.CodeProtocolViolation, `rdsgate: direct TLS connection without ALPN protocol "postgresql"`, "")
		tc.Close()
		return errors.New(`local direct TLS connection without ALPN protocol "postgresql"`)
	}
	s.Client = tc
	return nil
}

// prefixConn is a connection whose first reads return pre.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
