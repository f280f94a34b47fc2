package doctor

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"time"

	"github.com/rdsgate/rdsgate/mysqlwire"
	"github.com/rdsgate/rdsgate/pgwire"
	"github.com/rdsgate/rdsgate/target"
	"github.com/rdsgate/rdsgate/tunnel"
)

// probeTLS opens the route and does only the engine's TLS upgrade and the
// handshake, to look at the server certificate without logging in.
func probeTLS(ctx context.Context, d tunnel.Dialer, t target.Target, conf *tls.Config) (tls.ConnectionState, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", t.Address())
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	switch t.Family() {
	case target.FamilyPostgres:
		pkt, _ := (&pgwire.SSLRequest{}).AppendTo(nil)
		if _, err := conn.Write(pkt); err != nil {
			return tls.ConnectionState{}, err
		}
		var b [1]byte
		if _, err := io.ReadFull(conn, b[:]); err != nil {
			return tls.ConnectionState{}, err
		}
		if b[0] != 'S' {
			return tls.ConnectionState{}, fmt.Errorf("the server does not offer TLS (answered %q)", b[0])
		}
	case target.FamilyMySQL:
		p, _, err := mysqlwire.ReadPacket(conn, mysqlwire.DefaultHandshakeMax)
		if err != nil {
			return tls.ConnectionState{}, fmt.Errorf("read server greeting: %w", err)
		}
		g, err := mysqlwire.DecodeGreeting(p)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		if !g.Capabilities.Has(mysqlwire.ClientSSL) {
			return tls.ConnectionState{}, fmt.Errorf("the server does not offer TLS")
		}
		req := &mysqlwire.SSLRequest{Capabilities: mysqlwire.ClientProtocol41 | mysqlwire.ClientSecureConnection | mysqlwire.ClientPluginAuth,
			MaxPacketSize: 1 << 24, Collation: g.Collation}
		if _, err := mysqlwire.WritePacket(conn, 1, req.Encode()); err != nil {
			return tls.ConnectionState{}, err
		}
	default:
		return tls.ConnectionState{}, fmt.Errorf("engine %s is not supported", t.Engine)
	}
	tc := tls.Client(conn, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		return tls.ConnectionState{}, err
	}
	return tc.ConnectionState(), nil
}
