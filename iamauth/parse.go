package iamauth

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxTokenLen is the largest token [Parse] accepts, in bytes. Real tokens are
// about 300 bytes, or about 1.2 KiB with a security token.
const MaxTokenLen = 8 << 10

// amzDateLayout is the layout of X-Amz-Date.
const amzDateLayout = "20060102T150405Z"

// Query parameter names of a token.
const (
	paramAction        = "Action"
	paramDBUser        = "DBUser"
	paramAlgorithm     = "X-Amz-Algorithm"
	paramCredential    = "X-Amz-Credential"
	paramDate          = "X-Amz-Date"
	paramExpires       = "X-Amz-Expires"
	paramSecurityToken = "X-Amz-Security-Token"
	paramSignedHeaders = "X-Amz-SignedHeaders"
	paramSignature     = "X-Amz-Signature"
)

// A token is a SigV4 presigned URL for the service "rds-db", without its
// scheme:
//
//	host:port?Action=connect&DBUser=u&X-Amz-Algorithm=AWS4-HMAC-SHA256&
//	X-Amz-Credential=AKID%2FYYYYMMDD%2Fregion%2Frds-db%2Faws4_request&
//	X-Amz-Date=YYYYMMDDTHHMMSSZ&X-Amz-Expires=900[&X-Amz-Security-Token=..]&
//	X-Amz-SignedHeaders=host&X-Amz-Signature=<64 hex>
//
// [Build] signs one with the AWS SDK's signer; [Parse] and [Verify] read and
// check one with their own SigV4 canonical request, so that the sandbox's
// verdict does not depend on the code that signed.

// Token is a parsed token. [Parse] fills it from the token text without
// checking the signature; only a Token returned by [Verify] is authentic.
type Token struct {
	Host          string        // lower-cased, without IPv6 brackets
	Port          int           // the port written in the token (443 is not signed, but kept)
	Action        string        // "connect"
	DBUser        string        // decoded; case as written
	Algorithm     string        // "AWS4-HMAC-SHA256"
	AccessKeyID   string        // first part of X-Amz-Credential
	Date          string        // credential scope date, YYYYMMDD
	Region        string        // credential scope region
	Service       string        // credential scope service, "rds-db"
	SignedAt      time.Time     // X-Amz-Date, UTC
	Expires       time.Duration // X-Amz-Expires (Verify requires 1s..TokenLifetime)
	SecurityToken string        // X-Amz-Security-Token; empty for long-term keys
	SignedHeaders string        // "host"
	Signature     string        // hex HMAC-SHA256, as written

	credential  string  // X-Amz-Credential, decoded
	terminator  string  // credential scope terminator, "aws4_request"
	amzDate     string  // X-Amz-Date, decoded
	expiresRaw  string  // X-Amz-Expires, decoded
	hasSecToken bool    // X-Amz-Security-Token is present (perhaps empty)
	hostPort    string  // host[:port] as written
	slash       bool    // "host:port/?" (CLI) rather than "host:port?" (SDK)
	params      []param // in token order
}

// param is one decoded query parameter and its text as written.
type param struct {
	name, value       string
	rawName, rawValue string
}

// ExpiresAt is the instant after which the token is refused.
func (t *Token) ExpiresAt() time.Time { return t.SignedAt.Add(t.Expires) }

// Endpoint returns what the token claims to be signed for.
func (t *Token) Endpoint() Endpoint {
	return Endpoint{Host: t.Host, Port: t.Port, Region: t.Region, User: t.DBUser}
}

// Redacted returns the token text with the signature and the security token
// replaced by "REDACTED", for debug logs. Everything else is as written.
func (t *Token) Redacted() string {
	var b strings.Builder
	b.WriteString(t.hostPort)
	if t.slash {
		b.WriteByte('/')
	}
	b.WriteByte('?')
	for i, p := range t.params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.rawName)
		b.WriteByte('=')
		switch p.name {
		case paramSignature, paramSecurityToken:
			b.WriteString("REDACTED")
		default:
			b.WriteString(p.rawValue)
		}
	}
	return b.String()
}

// Parse parses a token structurally: host and port, query syntax, required
// parameters, the five parts of the credential, the date. It checks no
// signature and no expectation; use [Verify] for that. It never panics.
//
// Accepted forms are "host:port?query" (SDK) and "host:port/?query" (CLI);
// any other path is refused, and so is a missing port. Parameters may come in
// any order; each must occur once, and no others are allowed. Percent escapes
// may use either hex case. A bare '+' is refused as ambiguous (form encoding
// reads it as a space, RFC 3986 as a plus); the AWS generators always write
// %2B and %20. Raw control, space, non-ASCII and '#' bytes are refused.
//
// Errors are *[VerifyError]s, mostly with [ReasonMalformed].
func Parse(token string) (*Token, error) {
	if len(token) > MaxTokenLen {
		return nil, reject(ReasonMalformed, "token is %d bytes, more than the %d allowed", len(token), MaxTokenLen)
	}
	hostPart, query, ok := strings.Cut(token, "?")
	if !ok {
		return nil, reject(ReasonMalformed, "no '?' separating host:port from the query")
	}
	t := &Token{}
	if h, found := strings.CutSuffix(hostPart, "/"); found {
		hostPart, t.slash = h, true
	}
	if strings.ContainsAny(hostPart, "/@") {
		return nil, reject(ReasonMalformed, "token has a scheme, user info or a path other than \"/\"")
	}
	host, portStr, err := net.SplitHostPort(hostPart)
	if err != nil {
		return nil, reject(ReasonMalformed, "host:port: %v", err)
	}
	if host == "" {
		return nil, reject(ReasonMalformed, "host is empty")
	}
	if err := validHost(host); err != nil {
		return nil, reject(ReasonMalformed, "%v", err)
	}
	if !isDigits(portStr) || len(portStr) > 5 || portStr[0] == '0' {
		return nil, reject(ReasonMalformed, "port %s is not a number in 1..65535", quoteShort(portStr))
	}
	t.Port, _ = strconv.Atoi(portStr)
	if t.Port > 65535 {
		return nil, reject(ReasonMalformed, "port %d is not in 1..65535", t.Port)
	}
	t.Host = strings.ToLower(host)
	t.hostPort = hostPart

	if err := t.parseQuery(query); err != nil {
		return nil, err
	}
	return t, nil
}

// parseQuery splits, decodes and assigns the query parameters.
func (t *Token) parseQuery(query string) error {
	if query == "" {
		return reject(ReasonMalformed, "query is empty")
	}
	t.params = make([]param, 0, 9)
	var seen [9]bool
	for piece := range strings.SplitSeq(query, "&") {
		rawName, rawValue, ok := strings.Cut(piece, "=")
		if !ok {
			return reject(ReasonMalformed, "query part %s has no '='", quoteShort(rawName))
		}
		name, err := unescape(rawName)
		if err != nil {
			return reject(ReasonMalformed, "parameter name %s: %v", quoteShort(rawName), err)
		}
		slot, dst := t.field(name)
		if dst == nil {
			return reject(ReasonMalformed, "unexpected parameter %s", quoteShort(name))
		}
		if seen[slot] {
			return reject(ReasonDuplicateParameter, "parameter %s occurs more than once", name)
		}
		seen[slot] = true
		value, err := unescape(rawValue)
		if err != nil {
			return reject(ReasonMalformed, "value of %s: %v", name, err) // never echo the value: it may be secret
		}
		*dst = value
		t.params = append(t.params, param{name: name, value: value, rawName: rawName, rawValue: rawValue})
	}
	for i, ok := range seen {
		if name := requiredParam(i); !ok && name != "" {
			return reject(ReasonMalformed, "parameter %s is missing", name)
		}
	}
	t.hasSecToken = seen[6]

	parts := strings.Split(t.credential, "/")
	if len(parts) != 5 || slices.Contains(parts, "") {
		return reject(ReasonMalformed, "X-Amz-Credential is not access-key-id/date/region/service/aws4_request")
	}
	t.AccessKeyID, t.Date, t.Region, t.Service, t.terminator = parts[0], parts[1], parts[2], parts[3], parts[4]

	at, err := time.Parse(amzDateLayout, t.amzDate)
	if err != nil || at.Format(amzDateLayout) != t.amzDate {
		return reject(ReasonMalformed, "X-Amz-Date %s is not YYYYMMDDTHHMMSSZ", quoteShort(t.amzDate))
	}
	t.SignedAt = at.UTC()

	if !isDigits(t.expiresRaw) || len(t.expiresRaw) > 9 {
		return reject(ReasonBadExpires, "X-Amz-Expires %s is not an integer number of seconds", quoteShort(t.expiresRaw))
	}
	secs, _ := strconv.Atoi(t.expiresRaw)
	t.Expires = time.Duration(secs) * time.Second
	return nil
}

// requiredParam names the parameter of a slot (see field), or "" for the
// optional security token.
func requiredParam(slot int) string {
	names := [...]string{
		paramAction, paramDBUser, paramAlgorithm, paramCredential, paramDate,
		paramExpires, "", paramSignedHeaders, paramSignature,
	}
	return names[slot]
}

// field maps a parameter name to its slot and destination, or nil.
func (t *Token) field(name string) (int, *string) {
	switch name {
	case paramAction:
		return 0, &t.Action
	case paramDBUser:
		return 1, &t.DBUser
	case paramAlgorithm:
		return 2, &t.Algorithm
	case paramCredential:
		return 3, &t.credential
	case paramDate:
		return 4, &t.amzDate
	case paramExpires:
		return 5, &t.expiresRaw
	case paramSecurityToken:
		return 6, &t.SecurityToken
	case paramSignedHeaders:
		return 7, &t.SignedHeaders
	case paramSignature:
		return 8, &t.Signature
	}
	return -1, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// unescape decodes RFC 3986 percent escapes. It refuses a bare '+', a '%'
// without two hex digits, and raw bytes that never appear in a URL query.
func unescape(s string) (string, error) {
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
				return "", errBadEscape
			}
			n++
			i += 2
		case c == '+':
			return "", errBarePlus
		case c <= ' ' || c >= 0x7f || c == '#':
			return "", errBadByte
		}
	}
	if n == 0 {
		return s, nil
	}
	b := make([]byte, 0, len(s)-2*n)
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			b = append(b, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b), nil
}

type parseError string

func (e parseError) Error() string { return string(e) }

const (
	errBadEscape = parseError("'%' not followed by two hex digits")
	errBarePlus  = parseError("bare '+' is ambiguous: write %2B for a plus, %20 for a space")
	errBadByte   = parseError("control, space, non-ASCII or '#' byte must be percent-encoded")
)

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// encode percent-encodes s the SigV4 way: RFC 3986 unreserved characters
// (A-Z a-z 0-9 - _ . ~) as they are, every other byte as %XX with upper-case
// hex (so a space is %20 and a plus %2B).
func encode(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexUpper = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return string(b)
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}
