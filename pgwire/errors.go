package pgwire

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors of the decoders; the returned errors wrap one of them
// (errors.Is) and add what was wrong, never secret bytes.
var (
	// ErrTooLong: a length field exceeds the bound of its packet.
	ErrTooLong = errors.New("pgwire: packet too long")
	// ErrInvalidLength: a length field is below the minimum of its packet
	// (PostgreSQL closes such connections without a word).
	ErrInvalidLength = errors.New("pgwire: invalid packet length")
	// ErrMalformed: a packet is not NUL-terminated where it must be, has
	// trailing bytes, misses a field or has an impossible one.
	ErrMalformed = errors.New("pgwire: malformed packet")
	// ErrUnsupportedProtocol: a StartupMessage asks for a major protocol
	// version other than 3, or the request code is unknown.
	ErrUnsupportedProtocol = errors.New("pgwire: unsupported frontend protocol")
)

// SQLSTATE codes a server front uses before and during authentication.
const (
	CodeInvalidAuthorization = "28000" // invalid_authorization_specification
	CodeInvalidPassword      = "28P01" // invalid_password
	CodeProtocolViolation    = "08P01" // protocol_violation
	CodeConnectionFailure    = "08006" // connection_failure
	CodeFeatureNotSupported  = "0A000" // feature_not_supported
	CodeTooManyConnections   = "53300" // too_many_connections
	CodeCannotConnectNow     = "57P03" // cannot_connect_now
	CodeQueryCanceled        = "57014" // query_canceled
)

// Severities of an ErrorResponse (field S and, since 9.6, V).
const (
	SeverityFatal = "FATAL"
	SeverityError = "ERROR"
	SeverityPanic = "PANIC"
)

// Error is a PostgreSQL ErrorResponse: the fields a server front sends and
// a proxy reads. It is also an error, so a proxy can return a server's
// refusal as is.
type Error struct {
	Severity string // S and V, e.g. "FATAL"
	Code     string // C, the SQLSTATE, e.g. "28000"
	Message  string // M, the primary message
	Detail   string // D, optional
	Hint     string // H, optional
}

// Error returns "FATAL: message (SQLSTATE 28000)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Severity)
	b.WriteString(": ")
	b.WriteString(e.Message)
	if e.Code != "" {
		fmt.Fprintf(&b, " (SQLSTATE %s)", e.Code)
	}
	return b.String()
}

// ErrorResponse encodes e as a complete ErrorResponse message ('E'), with
// the severity in both S and V. NUL bytes in the fields, which would end a
// field early, are dropped.
func ErrorResponse(e *Error) []byte {
	return AppendMessage(nil, MsgErrorResponse, appendErrorFields(nil, e))
}

func appendErrorFields(dst []byte, e *Error) []byte {
	field := func(tag byte, v string) {
		if v == "" {
			return
		}
		dst = append(dst, tag)
		dst = append(dst, strings.ReplaceAll(v, "\x00", "")...)
		dst = append(dst, 0)
	}
	field('S', e.Severity)
	field('V', e.Severity)
	field('C', e.Code)
	field('M', e.Message)
	field('D', e.Detail)
	field('H', e.Hint)
	return append(dst, 0)
}

// ParseErrorResponse decodes the body of an ErrorResponse or NoticeResponse.
// Fields other than S, V, C, M, D and H are skipped; V wins over S (it is
// never localized).
func ParseErrorResponse(body []byte) (*Error, error) {
	e := &Error{}
	for {
		if len(body) == 0 {
			return nil, fmt.Errorf("%w: error response not terminated", ErrMalformed)
		}
		tag := body[0]
		if tag == 0 {
			if len(body) != 1 {
				return nil, fmt.Errorf("%w: %d bytes after the error response's terminator", ErrMalformed, len(body)-1)
			}
			return e, nil
		}
		v, rest, ok := cstring(body[1:])
		if !ok {
			return nil, fmt.Errorf("%w: error response field %q not NUL-terminated", ErrMalformed, tag)
		}
		body = rest
		switch tag {
		case 'S':
			if e.Severity == "" {
				e.Severity = v
			}
		case 'V':
			e.Severity = v
		case 'C':
			e.Code = v
		case 'M':
			e.Message = v
		case 'D':
			e.Detail = v
		case 'H':
			e.Hint = v
		}
	}
}

// cstring splits b at its first NUL: the string before it and the rest
// after it; ok is false if b has no NUL.
func cstring(b []byte) (s string, rest []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:], true
		}
	}
	return "", b, false
}

// quoteShort quotes s for an error message, cut to 64 bytes so that a
// hostile packet cannot blow up a log line.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
