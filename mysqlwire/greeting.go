package mysqlwire

import (
	"encoding/binary"
	"fmt"
)

// ProtocolVersion10 is the only greeting protocol version in use.
const ProtocolVersion10 = 10

// ScrambleLen is the length of the auth-plugin-data (the "scramble" or
// nonce) modern servers send: 8 bytes in part 1 and 12 in part 2.
const ScrambleLen = 20

// Greeting is the server's Initial Handshake Packet, protocol version 10.
type Greeting struct {
	// ServerVersion as sent; MariaDB prefixes "5.5.5-" for old clients.
	ServerVersion string
	// ConnectionID is the server's thread id, the one KILL takes.
	ConnectionID uint32
	// Scramble is the auth-plugin-data (parts 1 and 2 joined, without the
	// terminating NUL of part 2), usually ScrambleLen bytes.
	Scramble []byte
	// Capabilities the server offers.
	Capabilities Capability
	// MariaDBCaps are MariaDB's extended capabilities. They are on the wire
	// only when ClientMySQL is clear in Capabilities.
	MariaDBCaps MariaDBCapability
	// Collation is the server's default collation id (low byte).
	Collation byte
	// Status is the server status flags.
	Status uint16
	// AuthPlugin is the default auth plugin, e.g. mysql_native_password;
	// on the wire only with ClientPluginAuth.
	AuthPlugin string
	// Short is true for an old-style greeting that ends after the low
	// capability bytes; such a greeting has only 8 scramble bytes.
	Short bool
}

// DecodeGreeting decodes a greeting payload. An ERR packet (a server that
// refuses the connection, e.g. "Too many connections") is returned as an
// *ErrPacket error.
func DecodeGreeting(p []byte) (*Greeting, error) {
	if len(p) > 0 && p[0] == ErrHeader {
		e, err := DecodeErr(p, ClientProtocol41)
		if err != nil {
			return nil, err
		}
		return nil, e
	}
	d := &decoder{b: p, what: "greeting"}
	if v := d.u8("protocol version"); d.err == nil && v != ProtocolVersion10 {
		return nil, fmt.Errorf("%w: greeting: protocol version %d, want 10", ErrMalformed, v)
	}
	g := &Greeting{}
	g.ServerVersion = d.nulString("server version", false)
	g.ConnectionID = d.u32("connection id")
	scramble := append([]byte{}, d.bytes(8, "auth-plugin-data part 1")...)
	d.u8("filler")
	g.Capabilities = Capability(d.u16("capability flags"))
	if d.err != nil {
		return nil, d.err
	}
	if d.empty() {
		g.Short = true
		g.Scramble = scramble
		return g, nil
	}
	g.Collation = d.u8("collation")
	g.Status = d.u16("status flags")
	g.Capabilities |= Capability(d.u16("capability flags (upper)")) << 16
	authLen := int(d.u8("auth-plugin-data length"))
	d.bytes(6, "reserved")
	ext := d.u32("reserved (MariaDB capabilities)")
	if !g.Capabilities.Has(ClientMySQL) {
		g.MariaDBCaps = MariaDBCapability(ext)
	}
	if g.Capabilities.Has(ClientSecureConnection) {
		n := max(13, authLen-8)
		part2 := d.bytes(n, "auth-plugin-data part 2")
		if len(part2) > 0 && part2[len(part2)-1] == 0 {
			part2 = part2[:len(part2)-1]
		}
		scramble = append(scramble, part2...)
	}
	if g.Capabilities.Has(ClientPluginAuth) {
		g.AuthPlugin = d.nulString("auth plugin name", true)
	}
	if d.err != nil {
		return nil, d.err
	}
	g.Scramble = scramble
	return g, nil
}

// Encode returns the greeting payload. A short greeting is not encoded:
// Encode always writes the full form, with ClientSecureConnection's part 2
// and, with ClientPluginAuth, the plugin name.
func (g *Greeting) Encode() []byte {
	b := make([]byte, 0, 64+len(g.ServerVersion)+len(g.AuthPlugin)+len(g.Scramble))
	b = append(b, ProtocolVersion10)
	b = append(b, g.ServerVersion...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, g.ConnectionID)
	var part1 [8]byte
	copy(part1[:], g.Scramble)
	b = append(b, part1[:]...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(g.Capabilities))
	b = append(b, g.Collation)
	b = binary.LittleEndian.AppendUint16(b, g.Status)
	b = binary.LittleEndian.AppendUint16(b, uint16(g.Capabilities>>16))
	var part2 []byte
	if len(g.Scramble) > 8 {
		part2 = g.Scramble[8:]
	}
	authLen := 0
	if g.Capabilities.Has(ClientPluginAuth) || g.Capabilities.Has(ClientSecureConnection) {
		authLen = min(255, 8+len(part2)+1)
	}
	b = append(b, byte(authLen))
	b = append(b, 0, 0, 0, 0, 0, 0)
	if g.Capabilities.Has(ClientMySQL) {
		b = append(b, 0, 0, 0, 0)
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(g.MariaDBCaps))
	}
	if g.Capabilities.Has(ClientSecureConnection) {
		n := max(13, authLen-8)
		start := len(b)
		b = append(b, part2[:min(len(part2), n-1)]...)
		for len(b)-start < n {
			b = append(b, 0)
		}
	}
	if g.Capabilities.Has(ClientPluginAuth) {
		b = append(b, g.AuthPlugin...)
		b = append(b, 0)
	}
	return b
}
