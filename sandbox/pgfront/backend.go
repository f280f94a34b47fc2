package pgfront

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/pgwire"
)

// iamRoleQuery tells whether $1 is a member (directly or not) of rds_iam;
// false when the user or the role does not exist.
const iamRoleQuery = `SELECT COALESCE((
  SELECT pg_has_role(u.oid, g.oid, 'MEMBER')
  FROM pg_roles u, pg_roles g
  WHERE u.rolname = $1 AND g.rolname = 'rds_iam'), false)`

// cancelWait bounds how long a forwarded cancel waits for the backend to
// close the connection.
const cancelWait = 5 * time.Second

// Backend is the database behind the front.
type Backend interface {
	// IsIAMUser reports whether user is IAM-enabled (a member of rds_iam).
	IsIAMUser(ctx context.Context, user string) (bool, error)
	// DialTrusted connects and logs sm's user in without the client's
	// password (the front checked the IAM token); what the connection
	// yields next is the backend's login answer, from AuthenticationOk on.
	DialTrusted(ctx context.Context, sm *pgwire.StartupMessage) (net.Conn, error)
	// DialPassword connects and sends sm; the backend authenticates the
	// client.
	DialPassword(ctx context.Context, sm *pgwire.StartupMessage) (net.Conn, error)
	// ProbeNegotiation returns the NegotiateProtocolVersion message the
	// backend answers sm with (nil when none); see backend.ProbeNegotiation.
	ProbeNegotiation(ctx context.Context, sm *pgwire.StartupMessage) ([]byte, error)
	// ForgetNegotiation drops what ProbeNegotiation remembered for sm.
	ForgetNegotiation(sm *pgwire.StartupMessage)
	// ForwardCancel delivers a CancelRequest.
	ForwardCancel(ctx context.Context, cr *pgwire.CancelRequest) error
	Close() error
}

// backend is a real PostgreSQL server behind the front.
type backend struct {
	socketPath    string // <dir>/.s.PGSQL.<port>: trust, but for the superuser
	socketDir     string
	port          int
	tcpAddr       string // scram-sha-256
	adminUser     string
	adminPassword string          // adminUser's, over the socket
	adminCfg      *pgx.ConnConfig // when set, the admin connection's config (over TCP)

	mu    sync.Mutex // guards admin, used by one query at a time
	admin *pgx.Conn  // superuser over the socket, opened on first use

	npvMu    sync.Mutex
	npvCache map[string][]byte // negotiationKey -> the backend's answer (nil: none)
}

// maxNegotiationCache bounds the probe cache; past it, probes are not
// remembered.
const maxNegotiationCache = 64

func newBackend(socketDir, tcpAddr string, port int, adminUser string) *backend {
	return &backend{
		socketPath: filepath.Join(socketDir, ".s.PGSQL."+strconv.Itoa(port)),
		socketDir:  socketDir,
		port:       port,
		tcpAddr:    tcpAddr,
		adminUser:  adminUser,
	}
}

// IsIAMUser reports whether user is a member of role rds_iam. It reuses one
// superuser connection; after a failure it reconnects once.
func (b *backend) IsIAMUser(ctx context.Context, user string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if b.admin == nil || b.admin.IsClosed() {
			if b.admin, err = b.connectAdmin(ctx); err != nil {
				return false, err
			}
		}
		var member bool
		if err = b.admin.QueryRow(ctx, iamRoleQuery, user).Scan(&member); err == nil {
			return member, nil
		}
		_ = b.admin.Close(context.Background())
		b.admin = nil
		if ctx.Err() != nil {
			break
		}
	}
	return false, fmt.Errorf("pgfront: is %q a member of rds_iam: %w", user, err)
}

func (b *backend) connectAdmin(ctx context.Context) (*pgx.Conn, error) {
	if b.adminCfg != nil {
		c, err := pgx.ConnectConfig(ctx, b.adminCfg.Copy())
		if err != nil {
			return nil, fmt.Errorf("pgfront: connect to the backend as %s: %w", b.adminCfg.User, err)
		}
		return c, nil
	}
	cfg, err := pgx.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, fmt.Errorf("pgfront: backend admin config: %w", err)
	}
	cfg.Host, cfg.Port = b.socketDir, uint16(b.port)
	cfg.User, cfg.Database, cfg.Password = b.adminUser, "postgres", b.adminPassword
	cfg.TLSConfig, cfg.Fallbacks = nil, nil
	cfg.RuntimeParams = map[string]string{"application_name": "rdsgate-sandbox-pgfront"}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgfront: connect to the backend as %s over %s: %w", b.adminUser, b.socketPath, err)
	}
	return c, nil
}

func (b *backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.admin == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := b.admin.Close(ctx)
	b.admin = nil
	return err
}

// DialTrusted sends sm over the trust socket.
func (b *backend) DialTrusted(ctx context.Context, sm *pgwire.StartupMessage) (net.Conn, error) {
	c, err := b.dialSocket(ctx)
	if err != nil {
		return nil, err
	}
	return sendStartup(c, sm)
}

// DialPassword sends sm to the backend's TCP port.
func (b *backend) DialPassword(ctx context.Context, sm *pgwire.StartupMessage) (net.Conn, error) {
	c, err := b.dialTCP(ctx)
	if err != nil {
		return nil, err
	}
	return sendStartup(c, sm)
}

// sendStartup writes sm on c; c is closed on failure.
func sendStartup(c net.Conn, sm *pgwire.StartupMessage) (net.Conn, error) {
	pkt, err := sm.AppendTo(nil)
	if err == nil {
		_, err = c.Write(pkt)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("pgfront: send the startup message to the backend: %w", err)
	}
	return c, nil
}

// dialSocket connects to the trust socket.
func (b *backend) dialSocket(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", b.socketPath)
	if err != nil {
		return nil, fmt.Errorf("pgfront: dial backend socket: %w", err)
	}
	return c, nil
}

// dialTCP connects to the backend's TCP port.
func (b *backend) dialTCP(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", b.tcpAddr)
	if err != nil {
		return nil, fmt.Errorf("pgfront: dial backend %s: %w", b.tcpAddr, err)
	}
	return c, nil
}

// ProbeNegotiation sends sm to the backend's TCP port and returns the
// NegotiateProtocolVersion message the backend answers with (the whole
// message), or nil when the backend goes straight to authentication. It
// hangs up before authenticating, so no session is created: the backend
// sends NegotiateProtocolVersion while reading the startup packet, before
// pg_hba.conf or authentication.
//
// The answer depends only on the version and the protocol options' names
// (in order), so it is cached per those: an unauthenticated client cannot
// make the front open a backend connection per attempt.
func (b *backend) ProbeNegotiation(ctx context.Context, sm *pgwire.StartupMessage) ([]byte, error) {
	key := negotiationKey(sm)
	b.npvMu.Lock()
	npv, ok := b.npvCache[key]
	b.npvMu.Unlock()
	if ok {
		return npv, nil
	}
	npv, err := b.probe(ctx, sm)
	if err != nil {
		return nil, err
	}
	b.npvMu.Lock()
	if b.npvCache == nil {
		b.npvCache = map[string][]byte{}
	}
	if len(b.npvCache) < maxNegotiationCache {
		b.npvCache[key] = npv
	}
	b.npvMu.Unlock()
	return npv, nil
}

// ForgetNegotiation drops the cached probe answer for sm, after the
// backend answered a real login differently (it was upgraded, say).
func (b *backend) ForgetNegotiation(sm *pgwire.StartupMessage) {
	b.npvMu.Lock()
	delete(b.npvCache, negotiationKey(sm))
	b.npvMu.Unlock()
}

func negotiationKey(sm *pgwire.StartupMessage) string {
	return strconv.FormatUint(uint64(sm.ProtocolVersion), 10) + "\x00" + strings.Join(sm.ProtocolOptions(), "\x00")
}

// probe asks the backend, see ProbeNegotiation.
func (b *backend) probe(ctx context.Context, sm *pgwire.StartupMessage) ([]byte, error) {
	c, err := b.dialTCP(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	pkt, err := sm.AppendTo(nil)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(pkt); err != nil {
		return nil, fmt.Errorf("pgfront: negotiation probe: %w", err)
	}
	typ, body, err := pgwire.ReadMessage(bufio.NewReader(c), handshakeMaxMessage)
	if err != nil {
		return nil, fmt.Errorf("pgfront: negotiation probe: %w", err)
	}
	if typ != pgwire.MsgNegotiateProtocolVersion {
		return nil, nil
	}
	return pgwire.AppendMessage(nil, typ, body), nil
}

// ForwardCancel sends cr unchanged to the backend's TCP port (the backend
// checks neither pg_hba.conf nor TLS for cancels) and waits, bounded, for
// the backend to hang up, as a cancel requires.
func (b *backend) ForwardCancel(ctx context.Context, cr *pgwire.CancelRequest) error {
	ctx, cancel := context.WithTimeout(ctx, cancelWait)
	defer cancel()
	c, err := b.dialTCP(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	pkt, err := cr.AppendTo(nil)
	if err != nil {
		return err
	}
	if _, err := c.Write(pkt); err != nil {
		return fmt.Errorf("pgfront: forward cancel: %w", err)
	}
	var one [1]byte
	if _, err := c.Read(one[:]); err != nil && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("pgfront: forward cancel: backend did not hang up: %w", err)
		}
	}
	return nil
}
