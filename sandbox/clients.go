package sandbox

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rdsgate/rdsgate/sandbox/world"
)

// MySQLConfig returns a go-sql-driver configuration that reaches inst's
// front as a client behind a tunnel does: TLS verified against the
// endpoint name with the sandbox CA, the connection dialed to the front's
// loopback address. password is a password or an IAM token (sent as
// cleartext, inside TLS). For tests and tools built on the sandbox.
func (sb *Sandbox) MySQLConfig(inst *world.Instance, user, password, db string) (*mysql.Config, error) {
	pool, err := sb.CAPool()
	if err != nil {
		return nil, err
	}
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.DBName = user, password, db
	mc.Net, mc.Addr = "tcp", net.JoinHostPort(inst.Endpoint, strconv.Itoa(inst.Port))
	mc.TLS = &tls.Config{ServerName: inst.Endpoint, RootCAs: pool}
	mc.AllowCleartextPasswords = true
	mc.Timeout = 20 * time.Second
	front := inst.FrontAddr
	mc.DialFunc = func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", front)
	}
	return mc, nil
}
