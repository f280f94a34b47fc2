package mysqlwire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sampleGreeting() *Greeting {
	return &Greeting{
		ServerVersion: "5.5.5-10.11.19-MariaDB-0+deb12u1",
		ConnectionID:  42,
		Scramble:      []byte("abcdefgh12345678ijkl"),
		Capabilities: (ClientLongFlag | ClientConnectWithDB | ClientProtocol41 | ClientSSL |
			ClientSecureConnection | ClientPluginAuth | ClientConnectAttrs | ClientPluginAuthLenEncClientData |
			ClientSessionTrack | ClientDeprecateEOF | ClientTransactions | ClientMultiResults),
		MariaDBCaps: MariaDBClientProgress | MariaDBClientCacheMetadata,
		Collation:   45,
		Status:      StatusAutocommit,
		AuthPlugin:  PluginNativePassword,
	}
}

func TestGreetingRoundTrip(t *testing.T) {
	g := sampleGreeting()
	p := g.Encode()
	// Layout spot checks: version, thread id, the 10 reserved bytes with
	// the MariaDB caps at the end, 13 bytes of part 2.
	if p[0] != 10 || !bytes.HasPrefix(p[1:], []byte(g.ServerVersion+"\x00")) {
		t.Fatalf("bad prefix %q", p[:40])
	}
	off := 1 + len(g.ServerVersion) + 1
	if p[off] != 42 {
		t.Errorf("connection id byte = %d", p[off])
	}
	reserved := off + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1
	if !bytes.Equal(p[reserved:reserved+10], []byte{0, 0, 0, 0, 0, 0, 0x11, 0, 0, 0}) {
		t.Errorf("reserved bytes = %x", p[reserved:reserved+10])
	}
	if p[reserved-1] != 21 {
		t.Errorf("auth data length = %d, want 21", p[reserved-1])
	}
	got, err := DecodeGreeting(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(g, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}

	// A MySQL-mode greeting (CLIENT_MYSQL set) carries no MariaDB caps.
	g.Capabilities |= ClientMySQL
	got, err = DecodeGreeting(g.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.MariaDBCaps != 0 {
		t.Errorf("MariaDB caps %v decoded from a MySQL greeting", got.MariaDBCaps)
	}
}

func TestGreetingDecodeErrors(t *testing.T) {
	p := sampleGreeting().Encode()
	for i := 0; i < len(p)-len(PluginNativePassword)-1; i++ {
		if _, err := DecodeGreeting(p[:i]); err == nil && i < 1+33+4+8+1+2 {
			t.Errorf("truncated at %d accepted", i)
		}
	}
	bad := append([]byte{9}, p[1:]...)
	if _, err := DecodeGreeting(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("protocol 9: err = %v", err)
	}
	// A server refusing with ERR instead of a greeting.
	e := (&ErrPacket{Code: 1040, SQLState: "08004", Message: "Too many connections"}).Encode()
	_, err := DecodeGreeting(e)
	var ep *ErrPacket
	if !errors.As(err, &ep) || ep.Code != 1040 {
		t.Errorf("ERR greeting: err = %v", err)
	}
}

func FuzzGreeting(f *testing.F) {
	f.Add(sampleGreeting().Encode())
	g := sampleGreeting()
	g.Capabilities |= ClientMySQL
	f.Add(g.Encode())
	f.Add([]byte{10, 'v', 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0xFF, 0xF7})
	f.Fuzz(func(t *testing.T, p []byte) {
		g, err := DecodeGreeting(p)
		if err != nil {
			return
		}
		if len(g.Scramble) > len(p) || len(g.ServerVersion) > len(p) {
			t.Fatal("decoded more than the input")
		}
		if g.Short {
			return
		}
		// Encoding normalises; after one round trip it is stable.
		g1, err := DecodeGreeting(g.Encode())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		g2, err := DecodeGreeting(g1.Encode())
		if err != nil {
			t.Fatalf("re-decode 2: %v", err)
		}
		if diff := cmp.Diff(g1, g2); diff != "" {
			t.Fatalf("unstable round trip:\n%s", diff)
		}
	})
}
