package mysqlwire

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// SSLRequestLen is the payload length of an SSLRequest: the fixed first 32
// bytes of a HandshakeResponse41.
const SSLRequestLen = 32

// SSLRequest is the short handshake response a client sends, with
// ClientSSL set, to ask for TLS; the TLS handshake follows at once, with no
// reply from the server.
type SSLRequest struct {
	Capabilities  Capability
	MariaDBCaps   MariaDBCapability // on the wire only when ClientMySQL is clear
	MaxPacketSize uint32
	Collation     byte
}

// IsSSLRequest reports whether a client's first response payload is an
// SSLRequest (rather than a full HandshakeResponse41, which is longer).
func IsSSLRequest(p []byte) bool {
	return len(p) == SSLRequestLen && Capability(binary.LittleEndian.Uint32(p)).Has(ClientSSL)
}

// DecodeSSLRequest decodes an SSLRequest payload.
func DecodeSSLRequest(p []byte) (*SSLRequest, error) {
	if len(p) != SSLRequestLen {
		return nil, fmt.Errorf("%w: SSLRequest: %d bytes, want %d", ErrMalformed, len(p), SSLRequestLen)
	}
	r := &SSLRequest{}
	r.Capabilities, r.MariaDBCaps, r.MaxPacketSize, r.Collation = decodeFixed(p)
	if !r.Capabilities.Has(ClientSSL) {
		return nil, fmt.Errorf("%w: SSLRequest without CLIENT_SSL", ErrMalformed)
	}
	return r, nil
}

// Encode returns the SSLRequest payload (ClientSSL is set whatever
// Capabilities says).
func (r *SSLRequest) Encode() []byte {
	return appendFixed(make([]byte, 0, SSLRequestLen), r.Capabilities|ClientSSL, r.MariaDBCaps, r.MaxPacketSize, r.Collation)
}

func decodeFixed(p []byte) (Capability, MariaDBCapability, uint32, byte) {
	caps := Capability(binary.LittleEndian.Uint32(p))
	var ext MariaDBCapability
	if !caps.Has(ClientMySQL) {
		ext = MariaDBCapability(binary.LittleEndian.Uint32(p[28:]))
	}
	return caps, ext, binary.LittleEndian.Uint32(p[4:]), p[8]
}

func appendFixed(b []byte, caps Capability, ext MariaDBCapability, maxPacket uint32, collation byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(caps))
	b = binary.LittleEndian.AppendUint32(b, maxPacket)
	b = append(b, collation)
	b = append(b, make([]byte, 19)...)
	if caps.Has(ClientMySQL) {
		ext = 0
	}
	return binary.LittleEndian.AppendUint32(b, uint32(ext))
}

// Attr is one connection attribute (CLIENT_CONNECT_ATTRS), e.g.
// _client_name=libmariadb. Order is kept as sent.
type Attr struct{ Key, Value string }

// HandshakeResponse is the client's HandshakeResponse41.
type HandshakeResponse struct {
	Capabilities  Capability
	MariaDBCaps   MariaDBCapability // on the wire only when ClientMySQL is clear
	MaxPacketSize uint32
	Collation     byte
	User          string
	// AuthResponse is the first auth data, for AuthPlugin (or the
	// greeting's plugin): e.g. a native-password scramble. Length-encoded
	// with ClientPluginAuthLenEncClientData, else 1-byte length with
	// ClientSecureConnection (so at most 255 bytes), else NUL-terminated.
	AuthResponse []byte
	Database     string // with ClientConnectWithDB
	AuthPlugin   string // with ClientPluginAuth
	Attrs        []Attr // with ClientConnectAttrs
	ZstdLevel    byte   // with ClientZstdCompression
}

// DecodeHandshakeResponse decodes a HandshakeResponse41 payload. The
// pre-4.1 HandshakeResponse320 (no ClientProtocol41) is refused.
func DecodeHandshakeResponse(p []byte) (*HandshakeResponse, error) {
	if len(p) < SSLRequestLen {
		return nil, fmt.Errorf("%w: handshake response: %d bytes, want at least %d", ErrMalformed, len(p), SSLRequestLen)
	}
	r := &HandshakeResponse{}
	r.Capabilities, r.MariaDBCaps, r.MaxPacketSize, r.Collation = decodeFixed(p)
	if !r.Capabilities.Has(ClientProtocol41) {
		return nil, fmt.Errorf("%w: handshake response without CLIENT_PROTOCOL_41 (pre-4.1 clients are not supported)", ErrMalformed)
	}
	d := &decoder{b: p, pos: SSLRequestLen, what: "handshake response"}
	r.User = d.nulString("user", false)
	switch {
	case r.Capabilities.Has(ClientPluginAuthLenEncClientData):
		r.AuthResponse = clone(d.lenEncBytes("auth response"))
	case r.Capabilities.Has(ClientSecureConnection):
		r.AuthResponse = clone(d.bytes(int(d.u8("auth response length")), "auth response"))
	default:
		r.AuthResponse = []byte(d.nulString("auth response", false))
	}
	if r.Capabilities.Has(ClientConnectWithDB) && !d.empty() {
		r.Database = d.nulString("database", true)
	}
	if r.Capabilities.Has(ClientPluginAuth) && !d.empty() {
		r.AuthPlugin = d.nulString("auth plugin name", true)
	}
	if r.Capabilities.Has(ClientConnectAttrs) && !d.empty() {
		total := d.lenEncInt("connect attributes length")
		if d.err == nil && total > uint64(len(d.rest())) {
			d.fail("connect attributes length")
		}
		if d.err == nil {
			ad := &decoder{b: d.bytes(int(total), "connect attributes"), what: "connect attributes"}
			for !ad.empty() {
				k := ad.lenEncBytes("key")
				v := ad.lenEncBytes("value")
				if ad.err != nil {
					break
				}
				r.Attrs = append(r.Attrs, Attr{Key: string(k), Value: string(v)})
			}
			if ad.err != nil {
				return nil, ad.err
			}
		}
	}
	if r.Capabilities.Has(ClientZstdCompression) && !d.empty() {
		r.ZstdLevel = d.u8("zstd compression level")
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// Encode returns the HandshakeResponse41 payload. It fails when a field
// cannot be represented under the capabilities: an auth response over 255
// bytes without ClientPluginAuthLenEncClientData, a NUL in a NUL-terminated
// field, or a response without ClientProtocol41.
func (r *HandshakeResponse) Encode() ([]byte, error) {
	if !r.Capabilities.Has(ClientProtocol41) {
		return nil, fmt.Errorf("mysqlwire: encoding handshake response: CLIENT_PROTOCOL_41 not set")
	}
	for _, f := range []struct{ name, v string }{{"user", r.User}, {"database", r.Database}, {"auth plugin name", r.AuthPlugin}} {
		if bytes.IndexByte([]byte(f.v), 0) >= 0 {
			return nil, fmt.Errorf("mysqlwire: encoding handshake response: NUL byte in %s", f.name)
		}
	}
	b := make([]byte, 0, 128+len(r.User)+len(r.AuthResponse)+len(r.Database)+len(r.AuthPlugin))
	b = appendFixed(b, r.Capabilities, r.MariaDBCaps, r.MaxPacketSize, r.Collation)
	b = append(append(b, r.User...), 0)
	switch {
	case r.Capabilities.Has(ClientPluginAuthLenEncClientData):
		b = AppendLenEncString(b, r.AuthResponse)
	case r.Capabilities.Has(ClientSecureConnection):
		if len(r.AuthResponse) > 255 {
			return nil, fmt.Errorf("mysqlwire: encoding handshake response: %d-byte auth response needs CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA", len(r.AuthResponse))
		}
		b = append(append(b, byte(len(r.AuthResponse))), r.AuthResponse...)
	default:
		if bytes.IndexByte(r.AuthResponse, 0) >= 0 {
			return nil, fmt.Errorf("mysqlwire: encoding handshake response: NUL byte in auth response without CLIENT_SECURE_CONNECTION")
		}
		b = append(append(b, r.AuthResponse...), 0)
	}
	if r.Capabilities.Has(ClientConnectWithDB) {
		b = append(append(b, r.Database...), 0)
	}
	if r.Capabilities.Has(ClientPluginAuth) {
		b = append(append(b, r.AuthPlugin...), 0)
	}
	if r.Capabilities.Has(ClientConnectAttrs) {
		var attrs []byte
		for _, a := range r.Attrs {
			attrs = AppendLenEncString(attrs, []byte(a.Key))
			attrs = AppendLenEncString(attrs, []byte(a.Value))
		}
		b = AppendLenEncString(b, attrs)
	}
	if r.Capabilities.Has(ClientZstdCompression) {
		b = append(b, r.ZstdLevel)
	}
	return b, nil
}

// SSLRequest returns the SSLRequest a client sends before this response
// over TLS: the same capabilities (with ClientSSL), max packet size and
// collation.
func (r *HandshakeResponse) SSLRequest() *SSLRequest {
	return &SSLRequest{Capabilities: r.Capabilities | ClientSSL, MariaDBCaps: r.MariaDBCaps, MaxPacketSize: r.MaxPacketSize, Collation: r.Collation}
}

// Attr returns the value of the first connection attribute named key.
func (r *HandshakeResponse) Attr(key string) (string, bool) {
	for _, a := range r.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}
