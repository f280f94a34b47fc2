package mysqlwire

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/testharness"
)

// TestAgainstMariaDB speaks the connection phase to a real MariaDB 10.11
// with this package alone: decode its greeting, log in with a native
// password (right and wrong), ping, and compare NativePasswordHash with the
// server's PASSWORD().
func TestAgainstMariaDB(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB")
	}
	m := testharness.StartMariaDB(t, testharness.MariaDBOptions{})
	m.Exec(t, "CREATE USER 'wire'@'%' IDENTIFIED BY 's3cr''et'")

	var hash string
	if err := m.DB(t, "").QueryRow("SELECT PASSWORD('s3cr''et')").Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if got := NativePasswordHash("s3cr'et"); got != hash {
		t.Errorf("NativePasswordHash = %s, server PASSWORD() = %s", got, hash)
	}

	login := func(password string) (*Greeting, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		c := NewConn(nc, DefaultHandshakeMax)
		p, err := c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		g, err := DecodeGreeting(p)
		if err != nil {
			t.Fatal(err)
		}
		r := &HandshakeResponse{
			Capabilities: g.Capabilities & (ClientMySQL | ClientLongFlag | ClientProtocol41 | ClientSecureConnection |
				ClientPluginAuth | ClientPluginAuthLenEncClientData | ClientConnectAttrs | ClientDeprecateEOF | ClientTransactions),
			MariaDBCaps:   g.MariaDBCaps & MariaDBClientCacheMetadata,
			MaxPacketSize: 1 << 24,
			Collation:     45,
			User:          "wire",
			AuthResponse:  NativePassword(g.Scramble, password),
			AuthPlugin:    PluginNativePassword,
			Attrs:         []Attr{{"_client_name", "mysqlwire-test"}},
		}
		q, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WritePacket(q); err != nil {
			t.Fatal(err)
		}
		p, err = c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		if IsErr(p) {
			e, err := DecodeErr(p, r.Capabilities)
			if err != nil {
				t.Fatal(err)
			}
			return g, e
		}
		if _, err := DecodeOK(p, r.Capabilities); err != nil {
			t.Fatalf("after login: %v (%x)", err, p)
		}
		// COM_PING answers OK in a new command.
		c.ResetSeq()
		if err := c.WritePacket([]byte{0x0E}); err != nil {
			t.Fatal(err)
		}
		if p, err = c.ReadPacket(); err != nil || !IsOK(p) {
			t.Fatalf("ping: %x %v", p, err)
		}
		return g, nil
	}

	g, err := login("s3cr'et")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if g.Capabilities.Has(ClientMySQL) {
		t.Errorf("MariaDB greeting sets CLIENT_MYSQL; caps %v", g.Capabilities)
	}
	if g.MariaDBCaps == 0 || len(g.Scramble) != ScrambleLen || g.AuthPlugin != PluginNativePassword || g.ConnectionID == 0 {
		t.Errorf("greeting %+v", g)
	}
	t.Logf("MariaDB greeting: version %q caps %v mariadb caps %v collation %d", g.ServerVersion, g.Capabilities, g.MariaDBCaps, g.Collation)

	_, err = login("wrong")
	var e *ErrPacket
	if !errors.As(err, &e) || e.Code != ErAccessDenied || e.SQLState != SQLStateAccessDenied {
		t.Fatalf("wrong password: %v", err)
	}
}
