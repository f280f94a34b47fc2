// Package mysql is the proxy's MySQL/MariaDB engine: it greets a local client
// with the server's own identity, logs in upstream over verified TLS with an
// IAM token or a password source, then relays, refusing COM_CHANGE_USER.
package mysql

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/rdsgate/rdsgate/mysqlwire"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/setting"
)

// Notes on this package:
//
// Package mysql is the proxy's MySQL/MariaDB engine.
//
// For each client it first opens the route to the database and reads the
// server's greeting, then greets the client with the server's own version
// and thread id — so that the KILL QUERY <id> a client sends on Ctrl-C
// (over a second connection through the proxy) reaches the right server
// session — a fresh scramble, mysql_native_password, and the server's
// capabilities without compression, without TLS unless the proxy has a
// local certificate (the local leg is loopback; with one, a client's
// SSLRequest is answered with a TLS handshake and the login goes on inside
// it), and without LOAD DATA LOCAL unless Engine.LocalInfile. Whatever
// password the client sends is ignored: the local leg needs none.
//
// Upstream it asks for TLS with the capabilities the client negotiated —
// every flag that changes the wire format (DEPRECATE_EOF, SESSION_TRACK,
// QUERY_ATTRIBUTES, MariaDB's extended capabilities...) the same on both
// legs, so that bytes can then be relayed as they are — verifies the
// server's certificate against the RDS CA and the endpoint name, and logs
// in as the client's user with the client's database, collation and
// connect attributes. The IAM token goes only to the mysql_clear_password
// request an IAM user gets (over TLS, always); any other request means the
// user is not an IAM user, and the token is never handed to it. A refused
// cached token is replaced by a fresh one and the login retried once.
//
// After the login the engine relays, watching the client's command
// packets: COM_CHANGE_USER is refused (it would log in as someone else on
// the proxy's credentials), and with statement capture on, the text of
// COM_QUERY and COM_STMT_PREPARE is recorded (never statement parameters).

// Error codes the proxy itself sends to clients.
const (
	erConCount      = 1040 // ER_CON_COUNT_ERROR: too many connections
	crConnHostError = 2003 // CR_CONN_HOST_ERROR: cannot reach the server
	crSSLConnError  = 2026 // CR_SSL_CONNECTION_ERROR
)

// Engine serves MySQL and MariaDB clients. Use New; set options before
// serving.
type Engine struct {
	// LocalInfile offers CLIENT_LOCAL_FILES to clients, allowing LOAD DATA
	// LOCAL INFILE. It is off by default: with it, a compromised or
	// malicious server can ask the client for any file the client can read.
	LocalInfile bool
}

// New returns a MySQL/MariaDB engine with the default options.
func New() *Engine { return &Engine{} }

// Name is "mysql".
func (e *Engine) Name() string { return "mysql" }

// Refuse answers a client that cannot be served with ERR 1040 (too many
// connections) in place of a greeting, as mysqld itself does, and closes c.
func (e *Engine) Refuse(c net.Conn, message string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = mysqlwire.WritePacket(c, 0, (&mysqlwire.ErrPacket{Code: erConCount, SQLState: "08004", Message: message}).Encode())
}

// Serve handles one client connection.
func (e *Engine) Serve(ctx context.Context, s *proxy.Session) (string, error) {
	client := s.Client
	_ = client.SetDeadline(s.HandshakeDeadline())
	cc := mysqlwire.NewConn(client, mysqlwire.DefaultHandshakeMax)

	// The server's greeting first: the client is greeted with the
	// server's version, capabilities and thread id. A greeting of the
	// proxy's own would let a client that connects and leaves cost nothing
	// upstream, but its thread id would not be the session's: the KILL
	// QUERY a client sends on Ctrl-C would miss its query, or hit another
	// session's. So the route is opened before the client says anything,
	// and a client that is gone when accepted, or leaves while the login
	// limit or the route keeps it waiting, ends that at once (LoginContext):
	// no dial, or a dialled connection closed before any login.
	lctx, stop := s.LoginContext(ctx)
	raw, g, err := dialUpstream(lctx, s)
	stop()
	if err != nil && proxy.ClientGone(lctx) {
		return proxy.EndClientClosed, nil
	}
	if err != nil {
		sendErr(cc, err, crConnHostError)
		return "", err
	}
	closeRaw := true
	defer func() {
		if closeRaw {
			raw.Close()
			// The route was opened for a login that never came (the
			// client left or failed before its handshake response).
			s.Upstream.Logins.Return()
		}
	}()

	offered := e.offer(g)
	if s.LocalTLS != nil {
		offered.Capabilities |= mysqlwire.ClientSSL
	}
	if err := cc.WritePacket(offered.Encode()); err != nil {
		return "", fmt.Errorf("greet client: %w", err)
	}
	p, err := cc.ReadPacket()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return proxy.EndClientClosed, nil
		}
		return "", fmt.Errorf("read client handshake response: %w", err)
	}
	if mysqlwire.IsSSLRequest(p) {
		if s.LocalTLS == nil {
			// Not offered; a client that insists on TLS cannot be served.
			err := &mysqlwire.ErrPacket{Code: mysqlwire.ErHandshake, SQLState: mysqlwire.SQLStateHandshake,
				Message: fmt.Sprintf("rdsgate: the local connection is plain (loopback); connect without TLS (mysql --ssl-mode=DISABLED, mariadb --skip-ssl), or start the proxy with %s and %s; the proxy's connection to the database is TLS",
					setting.LocalCert, setting.LocalKey)}
			sendErr(cc, err, 0)
			return "", err
		}
		// The handshake response follows inside TLS, its sequence id
		// going on from the SSLRequest's.
		tc := tls.Server(client, s.LocalTLS)
		if err := tc.Handshake(); err != nil {
			return "", fmt.Errorf("local TLS handshake: %w", err)
		}
		client, s.Client = tc, tc
		cc.SetTransport(tc)
		if p, err = cc.ReadPacket(); err != nil {
			return "", fmt.Errorf("read client handshake response: %w", err)
		}
	}
	resp, err := mysqlwire.DecodeHandshakeResponse(p)
	if err != nil {
		sendErr(cc, &mysqlwire.ErrPacket{Code: mysqlwire.ErHandshake, SQLState: mysqlwire.SQLStateHandshake, Message: "Bad handshake"}, 0)
		return "", fmt.Errorf("client handshake response: %w", err)
	}
	s.Record.DBUser, s.Record.Database = resp.User, resp.Database
	if app, ok := resp.Attr("program_name"); ok {
		s.Record.Application = app
	}
	log := s.Log.With("user", resp.User, "database", resp.Database)
	fastAuth, err := localAuth(cc, resp, offered.Scramble)
	if err != nil {
		return "", err
	}

	lctx, stop = s.LoginContext(ctx)
	up, err := e.login(lctx, s, raw, g, resp, offered, log)
	stop()
	closeRaw = false // login owns raw from here (and closes it on failure)
	if err != nil && proxy.ClientGone(lctx) {
		log.Debug("client left before its login", "err", err)
		return proxy.EndClientClosed, nil
	}
	if err != nil {
		sendErr(cc, err, crConnHostError)
		return "", err
	}
	defer up.conn.Close()

	if fastAuth {
		if err := cc.WritePacket(mysqlwire.EncodeAuthMoreData([]byte{fastAuthSuccess})); err != nil {
			return "", fmt.Errorf("write auth result to client: %w", err)
		}
	}
	if err := cc.WritePacket(up.ok); err != nil {
		return "", fmt.Errorf("write OK to client: %w", err)
	}
	_ = client.SetDeadline(time.Time{})
	_ = up.conn.SetDeadline(time.Time{})
	s.LoggedIn()
	log.Debug("session started", "client", s.Record.Client, "thread_id", g.ConnectionID)

	cr := &clientReader{conn: client, w: commandWalker{
		localInfile: up.caps.Has(mysqlwire.ClientLocalFiles),
		queryAttrs:  up.caps.Has(mysqlwire.ClientQueryAttributes),
	}}
	if s.CaptureStatements {
		cr.w.emit = func(stmt string) { s.Recorder.Statement(*s.Record, stmt) }
	}
	cr.onRefuse = func() { log.Warn("refused COM_CHANGE_USER: the proxy logs in as one user only") }
	reason := proxy.Relay(proxy.Leg{R: cr, Conn: client}, proxy.Leg{R: up.conn, Conn: up.conn}, s.Counter, nil, s.IdleTimeout, s.Done)
	return reason, nil
}

// localAuth completes the client's side of authentication, up to the OK
// (sent once the upstream login succeeded): whatever password the client
// sends is accepted, the local leg needs none. A client that answered the
// greeting with mysql_native_password (or no plugin) is done. A
// caching_sha2_password scramble is accepted too; the client then expects
// the fast path's "auth ok" (fastAuth) before the OK. Any other plugin —
// usually a client that starts with its own default plugin and, the
// greeting being for another, with no data (MySQL 8+ clients,
// --default-auth) — is asked to switch to mysql_native_password, as a
// MariaDB server does for an account of that plugin, and its answer
// ignored.
func localAuth(cc *mysqlwire.Conn, resp *mysqlwire.HandshakeResponse, scramble []byte) (fastAuth bool, _ error) {
	switch {
	case resp.AuthPlugin == "" || resp.AuthPlugin == mysqlwire.PluginNativePassword:
		return false, nil
	case resp.AuthPlugin == mysqlwire.PluginCachingSHA2 && len(resp.AuthResponse) == sha256.Size:
		return true, nil
	}
	sw := &mysqlwire.AuthSwitchRequest{Plugin: mysqlwire.PluginNativePassword, Data: append(append([]byte{}, scramble...), 0)}
	if err := cc.WritePacket(sw.Encode()); err != nil {
		return false, fmt.Errorf("ask client to switch to %s: %w", sw.Plugin, err)
	}
	if _, err := cc.ReadPacket(); err != nil {
		return false, fmt.Errorf("read client auth switch response: %w", err)
	}
	return false, nil
}

// notOffered are server capabilities the local greeting never offers:
// TLS and compression (the local leg is plain and relayed as is), and
// flags whose exchanges the proxy does not implement.
const notOffered = mysqlwire.ClientSSL | mysqlwire.ClientCompress | mysqlwire.ClientZstdCompression |
	mysqlwire.ClientMultiFactorAuth | mysqlwire.ClientCapabilityExtension |
	mysqlwire.ClientSSLVerifyServerCert | mysqlwire.ClientRememberOptions

// mariaDBOffered are the MariaDB extended capabilities passed on; others
// (COM_MULTI, which could hide a COM_CHANGE_USER inside another command,
// and bits defined after this was written) are not.
const mariaDBOffered = mysqlwire.MariaDBClientProgress | mysqlwire.MariaDBClientStmtBulkOperations |
	mysqlwire.MariaDBClientExtendedMetadata | mysqlwire.MariaDBClientCacheMetadata |
	mysqlwire.MariaDBClientBulkUnitResults

// offer returns the greeting the client gets for the server's greeting g.
func (e *Engine) offer(g *mysqlwire.Greeting) *mysqlwire.Greeting {
	caps := g.Capabilities &^ notOffered
	if !e.LocalInfile {
		caps &^= mysqlwire.ClientLocalFiles
	}
	return &mysqlwire.Greeting{
		ServerVersion: g.ServerVersion,
		ConnectionID:  g.ConnectionID,
		Scramble:      newScramble(),
		Capabilities:  caps,
		MariaDBCaps:   g.MariaDBCaps & mariaDBOffered,
		Collation:     g.Collation,
		Status:        g.Status,
		AuthPlugin:    mysqlwire.PluginNativePassword,
	}
}

// newScramble returns a fresh auth-plugin-data of printable bytes, as
// servers make them (some clients stop at a NUL).
func newScramble() []byte {
	b := make([]byte, mysqlwire.ScrambleLen)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = '!' + b[i]%('~'-'!') // 0x21..0x7d
	}
	return b
}

// sendErr tells the client why it cannot be served: an *ErrPacket in err
// as it is, anything else as code with the error's text. Errors never
// carry a credential.
func sendErr(cc *mysqlwire.Conn, err error, code uint16) {
	var ep *mysqlwire.ErrPacket
	if !errors.As(err, &ep) {
		ep = &mysqlwire.ErrPacket{Code: code, SQLState: "HY000", Message: "rdsgate: " + err.Error()}
		var te *tlsError
		if errors.As(err, &te) {
			ep.Code = crSSLConnError
		}
	}
	_ = cc.WritePacket(ep.Encode())
}
