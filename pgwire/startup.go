package pgwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Three rules shape this package's API:
//
//   - Every read is an exact-length read (io.ReadFull) of a length that was
//     checked against a bound first, so no hostile length field makes the
//     reader allocate more than the bound, and no byte beyond the current
//     packet is consumed. Callers own their bufio.Reader and relay from it
//     once the startup phase is over, so nothing read ahead is lost.
//   - Any protocol version with major 3 is accepted (3.0, 3.2, libpq's
//     "grease" 3.9999), with every parameter, _pq_.* included, kept in
//     order, so that a proxy can forward the client's exact startup upstream
//     and relay the server's NegotiateProtocolVersion.
//   - Secrets (passwords, cancel keys) never appear in an error's text.

// Bounds and codes of the untyped startup packets (int32 length including
// itself, then int32 code).
const (
	// MaxStartupLen is the largest startup packet accepted, PostgreSQL's own
	// limit (MAX_STARTUP_PACKET_LENGTH).
	MaxStartupLen = 10000
	// MinStartupLen is the smallest: a length and a code.
	MinStartupLen = 8

	SSLRequestCode    uint32 = 80877103 // 1234.5679
	GSSENCRequestCode uint32 = 80877104 // 1234.5680
	CancelRequestCode uint32 = 80877102 // 1234.5678

	// MinCancelKeyLen and MaxCancelKeyLen bound a CancelRequest's secret key:
	// 4 bytes in protocol 3.0, up to 256 in 3.2 (PostgreSQL 18 sends 32).
	MinCancelKeyLen = 4
	MaxCancelKeyLen = 256

	// ProtocolVersion30 and ProtocolVersion32 are the versions PostgreSQL
	// speaks; any 3.x is read and forwarded.
	ProtocolVersion30 uint32 = 3 << 16
	ProtocolVersion32 uint32 = 3<<16 | 2

	// ProtocolOptionPrefix starts the names of protocol-extension parameters.
	ProtocolOptionPrefix = "_pq_."
)

// Startup is one of the packets a client may send before any typed message:
// *SSLRequest, *GSSENCRequest, *CancelRequest or *StartupMessage.
type Startup interface {
	// AppendTo appends the packet's wire form, length included, to dst.
	AppendTo(dst []byte) ([]byte, error)
	startup()
}

// SSLRequest asks the server to switch to TLS; it answers one byte, 'S' or 'N'.
type SSLRequest struct{}

// GSSENCRequest asks for GSSAPI encryption; a server without it answers 'N'.
type GSSENCRequest struct{}

// CancelRequest asks the server to cancel the query running in the session
// with ProcessID, proven by SecretKey (both from that session's
// BackendKeyData). The key is a secret: never log it.
type CancelRequest struct {
	ProcessID uint32
	SecretKey []byte // 4..256 bytes
}

// Param is one StartupMessage parameter.
type Param struct{ Name, Value string }

// StartupMessage opens a session: a protocol version (major 3, any minor)
// and parameters in the order the client sent them. "user" is required;
// names are unique and non-empty; _pq_.* names are protocol options.
type StartupMessage struct {
	ProtocolVersion uint32
	Params          []Param
}

func (*SSLRequest) startup()     {}
func (*GSSENCRequest) startup()  {}
func (*CancelRequest) startup()  {}
func (*StartupMessage) startup() {}

// AppendTo appends the 8-byte SSLRequest.
func (*SSLRequest) AppendTo(dst []byte) ([]byte, error) {
	return appendCodeOnly(dst, SSLRequestCode), nil
}

// AppendTo appends the 8-byte GSSENCRequest.
func (*GSSENCRequest) AppendTo(dst []byte) ([]byte, error) {
	return appendCodeOnly(dst, GSSENCRequestCode), nil
}

func appendCodeOnly(dst []byte, code uint32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, MinStartupLen)
	return binary.BigEndian.AppendUint32(dst, code)
}

// AppendTo appends the CancelRequest; the key must be 4..256 bytes.
func (c *CancelRequest) AppendTo(dst []byte) ([]byte, error) {
	if n := len(c.SecretKey); n < MinCancelKeyLen || n > MaxCancelKeyLen {
		return dst, fmt.Errorf("pgwire: encode CancelRequest: secret key of %d bytes, want %d..%d", n, MinCancelKeyLen, MaxCancelKeyLen)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(12+len(c.SecretKey)))
	dst = binary.BigEndian.AppendUint32(dst, CancelRequestCode)
	dst = binary.BigEndian.AppendUint32(dst, c.ProcessID)
	return append(dst, c.SecretKey...), nil
}

// AppendTo appends the StartupMessage with its version and parameters as
// they are (in order). It refuses what ReadStartup would refuse: a major
// version other than 3, a missing user, empty or duplicate names, NUL bytes,
// or a packet longer than MaxStartupLen.
func (m *StartupMessage) AppendTo(dst []byte) ([]byte, error) {
	if err := m.validate(); err != nil {
		return dst, fmt.Errorf("pgwire: encode StartupMessage: %w", err)
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, m.ProtocolVersion)
	for _, p := range m.Params {
		dst = append(dst, p.Name...)
		dst = append(dst, 0)
		dst = append(dst, p.Value...)
		dst = append(dst, 0)
	}
	dst = append(dst, 0)
	n := len(dst) - start
	if n > MaxStartupLen {
		return dst[:start], fmt.Errorf("pgwire: encode StartupMessage: %d bytes, more than %d: %w", n, MaxStartupLen, ErrTooLong)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	return dst, nil
}

// validate checks the invariants ReadStartup guarantees.
func (m *StartupMessage) validate() error {
	if m.ProtocolVersion>>16 != 3 {
		return fmt.Errorf("%w %d.%d: server supports 3.x", ErrUnsupportedProtocol, m.ProtocolVersion>>16, m.ProtocolVersion&0xffff)
	}
	seen := make(map[string]bool, len(m.Params))
	for _, p := range m.Params {
		switch {
		case p.Name == "":
			return fmt.Errorf("%w: empty parameter name", ErrMalformed)
		case strings.IndexByte(p.Name, 0) >= 0:
			return fmt.Errorf("%w: NUL in parameter name", ErrMalformed)
		case strings.IndexByte(p.Value, 0) >= 0:
			return fmt.Errorf("%w: NUL in the value of parameter %s", ErrMalformed, quoteShort(p.Name))
		case seen[p.Name]:
			return fmt.Errorf("%w: parameter %s given twice", ErrMalformed, quoteShort(p.Name))
		}
		seen[p.Name] = true
	}
	if u, _ := m.Param("user"); u == "" {
		return fmt.Errorf("%w: no PostgreSQL user name specified in startup packet", ErrMalformed)
	}
	return nil
}

// Major returns the major protocol version (3).
func (m *StartupMessage) Major() uint16 { return uint16(m.ProtocolVersion >> 16) }

// Minor returns the minor protocol version (0, 2, 9999, ...).
func (m *StartupMessage) Minor() uint16 { return uint16(m.ProtocolVersion) }

// Param returns the value of the parameter name and whether it was sent.
func (m *StartupMessage) Param(name string) (string, bool) {
	for _, p := range m.Params {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}

// User returns the "user" parameter.
func (m *StartupMessage) User() string {
	u, _ := m.Param("user")
	return u
}

// Database returns the "database" parameter, or the user name when it is
// absent or empty, as PostgreSQL does.
func (m *StartupMessage) Database() string {
	if d, _ := m.Param("database"); d != "" {
		return d
	}
	return m.User()
}

// ProtocolOptions returns the names of the _pq_.* parameters, in order.
func (m *StartupMessage) ProtocolOptions() []string {
	var opts []string
	for _, p := range m.Params {
		if strings.HasPrefix(p.Name, ProtocolOptionPrefix) {
			opts = append(opts, p.Name)
		}
	}
	return opts
}

// EncodeStartup returns p's wire form.
func EncodeStartup(p Startup) ([]byte, error) { return p.AppendTo(nil) }

// ReadStartup reads one untyped startup packet from r with exact-length
// reads: the length is checked (MinStartupLen..MaxStartupLen) before the
// body is allocated, and nothing after the packet is consumed. It returns
// *SSLRequest, *GSSENCRequest, *CancelRequest or *StartupMessage.
//
// Errors wrap ErrTooLong, ErrInvalidLength, ErrMalformed,
// ErrUnsupportedProtocol, or the read
// error (io.EOF when r ends before the first byte, io.ErrUnexpectedEOF in a
// packet).
func ReadStartup(r io.Reader) (Startup, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("pgwire: read startup length: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	switch {
	case n > MaxStartupLen:
		return nil, fmt.Errorf("pgwire: startup packet of %d bytes, more than %d: %w", n, MaxStartupLen, ErrTooLong)
	case n < MinStartupLen:
		return nil, fmt.Errorf("%w: startup packet of %d bytes, want at least %d", ErrInvalidLength, n, MinStartupLen)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("pgwire: read startup packet: %w", err)
	}
	return ParseStartup(body)
}

// ParseStartup decodes a startup packet without its length field: the
// int32 code and what follows.
func ParseStartup(body []byte) (Startup, error) {
	if len(body) < 4 {
		return nil, fmt.Errorf("%w: startup packet of %d bytes has no code", ErrMalformed, len(body))
	}
	code := binary.BigEndian.Uint32(body)
	rest := body[4:]
	switch code {
	case SSLRequestCode, GSSENCRequestCode:
		if len(rest) != 0 {
			return nil, fmt.Errorf("%w: encryption request with %d extra bytes", ErrMalformed, len(rest))
		}
		if code == SSLRequestCode {
			return &SSLRequest{}, nil
		}
		return &GSSENCRequest{}, nil
	case CancelRequestCode:
		if len(rest) < 4+MinCancelKeyLen || len(rest) > 4+MaxCancelKeyLen {
			return nil, fmt.Errorf("%w: cancel request of %d bytes, want %d..%d", ErrMalformed, len(body)+4, 12+MinCancelKeyLen, 12+MaxCancelKeyLen)
		}
		return &CancelRequest{
			ProcessID: binary.BigEndian.Uint32(rest),
			SecretKey: append([]byte(nil), rest[4:]...),
		}, nil
	}
	if code>>16 != 3 {
		return nil, fmt.Errorf("%w %d.%d: server supports 3.x", ErrUnsupportedProtocol, code>>16, code&0xffff)
	}
	m := &StartupMessage{ProtocolVersion: code}
	for {
		if len(rest) == 0 {
			return nil, fmt.Errorf("%w: startup packet has no terminator", ErrMalformed)
		}
		if rest[0] == 0 {
			if len(rest) != 1 {
				return nil, fmt.Errorf("%w: %d bytes after the startup packet's terminator", ErrMalformed, len(rest)-1)
			}
			break
		}
		name, r, ok := cstring(rest)
		if !ok {
			return nil, fmt.Errorf("%w: startup parameter name not NUL-terminated", ErrMalformed)
		}
		value, r, ok := cstring(r)
		if !ok {
			return nil, fmt.Errorf("%w: value of startup parameter %s not NUL-terminated", ErrMalformed, quoteShort(name))
		}
		m.Params = append(m.Params, Param{Name: name, Value: value})
		rest = r
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}
