package pgwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Type bytes of the typed messages of the startup phase.
const (
	MsgAuthentication           byte = 'R' // backend: AuthenticationOk, ...CleartextPassword, ...SASL, ...
	MsgErrorResponse            byte = 'E' // backend
	MsgNoticeResponse           byte = 'N' // backend
	MsgParameterStatus          byte = 'S' // backend
	MsgBackendKeyData           byte = 'K' // backend
	MsgReadyForQuery            byte = 'Z' // backend
	MsgNegotiateProtocolVersion byte = 'v' // backend
	MsgPassword                 byte = 'p' // frontend: PasswordMessage, SASLInitialResponse, SASLResponse
	MsgTerminate                byte = 'X' // frontend
)

// Authentication request codes (the int32 at the start of an 'R' body).
const (
	AuthOk                uint32 = 0
	AuthCleartextPassword uint32 = 3
	AuthMD5Password       uint32 = 5
	AuthGSS               uint32 = 7
	AuthSSPI              uint32 = 9
	AuthSASL              uint32 = 10
	AuthSASLContinue      uint32 = 11
	AuthSASLFinal         uint32 = 12
)

// MaxPasswordLen bounds a PasswordMessage body, as PostgreSQL does
// (PG_MAX_AUTH_TOKEN_LENGTH). An IAM token is about 0.3 kB, 1.3 kB with a
// session token.
const MaxPasswordLen = 65535

// ReadMessage reads one typed message (type byte, int32 length including
// itself, body) from r with exact-length reads. A body longer than max bytes
// is refused before anything is allocated for it, and nothing after the
// message is consumed, so the caller can relay from r afterwards without
// losing bytes.
func ReadMessage(r *bufio.Reader, max int) (typ byte, body []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, fmt.Errorf("pgwire: read message header: %w", err) // io.EOF only between messages
	}
	typ = hdr[0]
	n := int64(binary.BigEndian.Uint32(hdr[1:]))
	switch {
	case n < 4:
		return typ, nil, fmt.Errorf("%w: message %q of length %d, want at least 4", ErrInvalidLength, typ, n)
	case n-4 > int64(max):
		return typ, nil, fmt.Errorf("pgwire: message %q of %d bytes, more than %d: %w", typ, n-4, max, ErrTooLong)
	}
	body = make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return typ, nil, fmt.Errorf("pgwire: read message %q: %w", typ, err)
	}
	return typ, body, nil
}

// AppendMessage appends a typed message (type, length, body) to dst.
func AppendMessage(dst []byte, typ byte, body []byte) []byte {
	dst = append(dst, typ)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)+4))
	return append(dst, body...)
}

// WriteMessage writes a typed message to w in one Write.
func WriteMessage(w io.Writer, typ byte, body []byte) error {
	if _, err := w.Write(AppendMessage(nil, typ, body)); err != nil {
		return fmt.Errorf("pgwire: write message %q: %w", typ, err)
	}
	return nil
}

func authMessage(code uint32, data []byte) []byte {
	body := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(data)), code)
	return AppendMessage(nil, MsgAuthentication, append(body, data...))
}

// AuthenticationOk returns the AuthenticationOk message.
func AuthenticationOk() []byte { return authMessage(AuthOk, nil) }

// AuthenticationCleartextPassword returns the request for a cleartext
// password, what RDS sends an IAM user.
func AuthenticationCleartextPassword() []byte { return authMessage(AuthCleartextPassword, nil) }

// AuthenticationSASL returns the request to authenticate with one of the
// SASL mechanisms (e.g. "SCRAM-SHA-256").
func AuthenticationSASL(mechanisms ...string) []byte {
	var data []byte
	for _, m := range mechanisms {
		data = append(append(data, m...), 0)
	}
	return authMessage(AuthSASL, append(data, 0))
}

// AuthenticationSASLContinue returns a SASL challenge.
func AuthenticationSASLContinue(data []byte) []byte { return authMessage(AuthSASLContinue, data) }

// AuthenticationSASLFinal returns the SASL outcome data.
func AuthenticationSASLFinal(data []byte) []byte { return authMessage(AuthSASLFinal, data) }

// ParseAuthentication splits the body of an 'R' message into its request
// code and the data after it.
func ParseAuthentication(body []byte) (code uint32, data []byte, err error) {
	if len(body) < 4 {
		return 0, nil, fmt.Errorf("%w: authentication message of %d bytes", ErrMalformed, len(body))
	}
	return binary.BigEndian.Uint32(body), body[4:], nil
}

// PasswordMessage returns a PasswordMessage carrying password.
func PasswordMessage(password string) []byte {
	return AppendMessage(nil, MsgPassword, append([]byte(password), 0))
}

// ParsePassword decodes the body of a PasswordMessage: one NUL-terminated
// string and nothing after it. The error never contains the password.
func ParsePassword(body []byte) (string, error) {
	s, rest, ok := cstring(body)
	if !ok || len(rest) != 0 {
		return "", fmt.Errorf("%w: password message is not one NUL-terminated string", ErrMalformed)
	}
	return s, nil
}

// ParameterStatus returns a ParameterStatus message.
func ParameterStatus(name, value string) []byte {
	body := append(append([]byte(name), 0), value...)
	return AppendMessage(nil, MsgParameterStatus, append(body, 0))
}

// BackendKeyData returns a BackendKeyData message (key: 4 bytes in 3.0,
// up to 256 in 3.2).
func BackendKeyData(pid uint32, key []byte) []byte {
	body := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(key)), pid)
	return AppendMessage(nil, MsgBackendKeyData, append(body, key...))
}

// ParseBackendKeyData decodes a BackendKeyData body.
func ParseBackendKeyData(body []byte) (pid uint32, key []byte, err error) {
	if len(body) < 4+MinCancelKeyLen || len(body) > 4+MaxCancelKeyLen {
		return 0, nil, fmt.Errorf("%w: backend key data of %d bytes", ErrMalformed, len(body))
	}
	return binary.BigEndian.Uint32(body), body[4:], nil
}

// ReadyForQuery returns a ReadyForQuery message with transaction status
// 'I' (idle), 'T' (in a transaction) or 'E' (in a failed transaction).
func ReadyForQuery(status byte) []byte {
	return AppendMessage(nil, MsgReadyForQuery, []byte{status})
}

// NegotiateProtocolVersion returns the server's answer to a client that
// asked for a newer minor version or sent protocol options it does not know.
func NegotiateProtocolVersion(newestMinor uint32, unrecognized []string) []byte {
	body := binary.BigEndian.AppendUint32(nil, newestMinor)
	body = binary.BigEndian.AppendUint32(body, uint32(len(unrecognized)))
	for _, o := range unrecognized {
		body = append(append(body, o...), 0)
	}
	return AppendMessage(nil, MsgNegotiateProtocolVersion, body)
}

// ParseNegotiateProtocolVersion decodes a NegotiateProtocolVersion body.
// The option count is checked against the body's size before anything is
// allocated for it.
func ParseNegotiateProtocolVersion(body []byte) (newestMinor uint32, unrecognized []string, err error) {
	if len(body) < 8 {
		return 0, nil, fmt.Errorf("%w: NegotiateProtocolVersion of %d bytes", ErrMalformed, len(body))
	}
	newestMinor = binary.BigEndian.Uint32(body)
	count := binary.BigEndian.Uint32(body[4:])
	rest := body[8:]
	if uint64(count) > uint64(len(rest)) { // every option takes at least its NUL
		return 0, nil, fmt.Errorf("%w: NegotiateProtocolVersion claims %d options in %d bytes", ErrMalformed, count, len(rest))
	}
	unrecognized = make([]string, 0, count)
	for range count {
		s, r, ok := cstring(rest)
		if !ok {
			return 0, nil, fmt.Errorf("%w: NegotiateProtocolVersion option not NUL-terminated", ErrMalformed)
		}
		unrecognized = append(unrecognized, s)
		rest = r
	}
	if len(rest) != 0 {
		return 0, nil, fmt.Errorf("%w: %d bytes after NegotiateProtocolVersion's options", ErrMalformed, len(rest))
	}
	return newestMinor, unrecognized, nil
}
