package awsapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

// sigV4Algorithm is the only signing algorithm the sandbox accepts.
const sigV4Algorithm = "AWS4-HMAC-SHA256"

// maxAuthorizationLen bounds the Authorization header the parser looks at.
const maxAuthorizationLen = 8 << 10

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	AccessKeyID   string
	Date          string // yyyymmdd of the credential scope
	Region        string
	Service       string
	Terminator    string // aws4_request
	SignedHeaders []string
	Signature     string
}

// scope is the credential scope string of a.
func (a authorization) scope() string {
	return a.Date + "/" + a.Region + "/" + a.Service + "/" + a.Terminator
}

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AKID/yyyymmdd/region/service/aws4_request, SignedHeaders=a;b, Signature=hex
//
// Components may come in any order, separated by commas and optional spaces.
// Errors carry AWS's IncompleteSignature wording and never echo the header.
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	if len(h) > maxAuthorizationLen {
		return a, errors.New("Authorization header is too long")
	}
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || alg != sigV4Algorithm {
		return a, fmt.Errorf("Unsupported AWS 'algorithm': %q", shorten(alg))
	}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return a, fmt.Errorf("Authorization header requires each component to be of the form key=value, not %q", shorten(k))
		}
		if seen[k] {
			return a, fmt.Errorf("Authorization header has a duplicate %q component", shorten(k))
		}
		seen[k] = true
		switch k {
		case "Credential":
			parts := strings.Split(v, "/")
			if len(parts) != 5 {
				return a, fmt.Errorf("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got %q", shorten(v))
			}
			a.AccessKeyID, a.Date, a.Region, a.Service, a.Terminator = parts[0], parts[1], parts[2], parts[3], parts[4]
			if a.AccessKeyID == "" || a.Region == "" || a.Service == "" {
				return a, fmt.Errorf("Credential has an empty element: %q", shorten(v))
			}
		case "SignedHeaders":
			if v == "" {
				return a, errors.New("Authorization header has an empty 'SignedHeaders' parameter")
			}
			a.SignedHeaders = strings.Split(v, ";")
		case "Signature":
			a.Signature = v
		default:
			return a, fmt.Errorf("Authorization header has an unknown component %q", shorten(k))
		}
	}
	for _, req := range []string{"Credential", "SignedHeaders", "Signature"} {
		if !seen[req] {
			return a, fmt.Errorf("Authorization header requires '%s' parameter.", req)
		}
	}
	if len(a.Date) != 8 || !allDigits(a.Date) {
		return a, fmt.Errorf("Credential date %q is not of the form yyyymmdd", shorten(a.Date))
	}
	return a, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// skewWindow is how far a request's signing time may be from the server's
// clock. STS and the other query services say "(now - 15 min.)" in their
// "Signature expired" message; the JSON services say "(now - 5 min.)".
func skewWindow(p protocol) time.Duration {
	if p == protoJSON {
		return 5 * time.Minute
	}
	return 15 * time.Minute
}

// authenticate verifies the SigV4 signature of a request to svc and returns
// the signing principal. The checks run in AWS's order: header present and
// well formed, signing time given, credential scope (terminator, date,
// region, service), access key, security token, clock skew, payload hash and
// last the signature, compared in constant time.
func (s *Server) authenticate(r *http.Request, body []byte, svc *service) (*world.Principal, *authError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if r.URL.Query().Has("X-Amz-Signature") {
			return nil, authFail(authMissing, "", "presigned query authentication is not supported by the sandbox")
		}
		return nil, authFail(authMissing, "", "no Authorization header")
	}
	a, err := parseAuthorization(h)
	if err != nil {
		return nil, authFail(authIncomplete, err.Error(), "malformed Authorization header: %v", err)
	}
	signedAt, dateHeader, aerr := signingTime(r)
	if aerr != nil {
		return nil, aerr
	}
	switch {
	case a.Terminator != "aws4_request":
		return nil, authFail(authBadScope, "Credential should be scoped with a valid terminator: 'aws4_request', not '"+shorten(a.Terminator)+"'.",
			"credential scope terminator is %s", quoteShort(a.Terminator))
	case a.Date != signedAt.Format("20060102"):
		return nil, authFail(authBadScope,
			fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
				a.Date, signedAt.Format("20060102"), amzDate(signedAt)),
			"credential scope date %s is not the signing date %s", quoteShort(a.Date), amzDate(signedAt))
	case !s.regionOK(a.Region, svc):
		return nil, authFail(authBadScope, "Credential should be scoped to a valid region. ",
			"credential scope region is %s, the sandbox is in %s", quoteShort(a.Region), s.world.Region)
	case a.Service != svc.name:
		return nil, authFail(authBadScope, "Credential should be scoped to correct service: '"+svc.name+"'. ",
			"credential scope service is %s, the request is for %s", quoteShort(a.Service), svc.name)
	}
	if !slices.Contains(a.SignedHeaders, "host") {
		return nil, authFail(authIncomplete, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
			"host is not among the signed headers")
	}
	if !slices.Contains(a.SignedHeaders, dateHeader) {
		return nil, authFail(authIncomplete, "'"+dateHeader+"' must be a 'SignedHeader' in the AWS Authorization.",
			"%s is not among the signed headers", dateHeader)
	}
	p, ok := s.world.PrincipalByKey(a.AccessKeyID)
	if !ok {
		return nil, authFail(authUnknownKey, "", "access key id %s is unknown", quoteShort(a.AccessKeyID))
	}
	tok := r.Header.Get("X-Amz-Security-Token")
	switch {
	case p.SessionToken == "" && tok != "":
		return nil, authFail(authBadToken, "", "access key %s is a long-term key but the request carries a security token", p.AccessKeyID)
	case p.SessionToken != "" && tok == "":
		return nil, authFail(authBadToken, "", "access key %s is temporary but the request carries no X-Amz-Security-Token", p.AccessKeyID)
	case p.SessionToken != "" && !hmac.Equal([]byte(tok), []byte(p.SessionToken)):
		return nil, authFail(authBadToken, "", "the security token is not the one of access key %s", p.AccessKeyID)
	}
	now := s.now().UTC()
	win := skewWindow(svc.proto)
	mins := int(win / time.Minute)
	if signedAt.Before(now.Add(-win)) {
		return nil, authFail(authExpired,
			fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %d min.)", amzDate(signedAt), amzDate(now.Add(-win)), amzDate(now), mins),
			"signed at %s, more than %s before now %s", amzDate(signedAt), win, amzDate(now))
	}
	if signedAt.After(now.Add(win)) {
		return nil, authFail(authExpired,
			fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %d min.)", amzDate(signedAt), amzDate(now.Add(win)), amzDate(now), mins),
			"signed at %s, more than %s after now %s", amzDate(signedAt), win, amzDate(now))
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" && claimed != payloadHash {
		return nil, authFail(authBadSignature, "", "X-Amz-Content-Sha256 does not match the SHA-256 of the body")
	}
	query, err := canonicalQuery(r.URL.RawQuery)
	if err != nil {
		return nil, authFail(authBadSignature, "", "query string: %v", err)
	}
	headers := canonicalHeaders(r, a.SignedHeaders)
	key := iamauth.SigningKey(p.SecretAccessKey, a.Date, a.Region, a.Service)
	for _, path := range canonicalPaths(r.URL) {
		creq := r.Method + "\n" + path + "\n" + query + "\n" + headers + "\n" + strings.Join(a.SignedHeaders, ";") + "\n" + payloadHash
		creqSum := sha256.Sum256([]byte(creq))
		sts := sigV4Algorithm + "\n" + amzDate(signedAt) + "\n" + a.scope() + "\n" + hex.EncodeToString(creqSum[:])
		want := hex.EncodeToString(hmacSHA256(key, sts))
		if hmac.Equal([]byte(want), []byte(a.Signature)) {
			return p, nil
		}
	}
	return nil, authFail(authBadSignature, "", "signature does not match (access key %s)", p.AccessKeyID)
}

// regionOK reports whether a credential scope region is the sandbox's. IAM
// is a global service that AWS signs in us-east-1 whatever the client's
// region, so that is accepted for it too.
func (s *Server) regionOK(region string, svc *service) bool {
	return region == s.world.Region || svc.name == "iam" && region == "us-east-1"
}

// signingTime returns the request's signing time from X-Amz-Date, or from
// Date when X-Amz-Date is absent, and the name of the header it came from.
func signingTime(r *http.Request) (time.Time, string, *authError) {
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		t, err := time.Parse(amzDateFormat, v)
		if err != nil {
			return time.Time{}, "", authFail(authIncomplete, "Invalid X-Amz-Date header: "+shorten(v)+". It must be in ISO8601 basic format yyyyMMdd'T'HHmmss'Z'.",
				"X-Amz-Date %s is not yyyymmddThhmmssZ", quoteShort(v))
		}
		return t, "x-amz-date", nil
	}
	if v := r.Header.Get("Date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return time.Time{}, "", authFail(authIncomplete, "Invalid Date header: "+shorten(v)+".", "Date %s does not parse", quoteShort(v))
		}
		return t.UTC(), "date", nil
	}
	return time.Time{}, "", authFail(authIncomplete, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
		"neither X-Amz-Date nor Date is present")
}

// canonicalHeaders builds the canonical header block for the signed header
// names: each "name:value\n", values trimmed with inner runs of spaces
// collapsed, repeated headers joined by commas. Go's server moves Host out of
// the header map, and may move Content-Length, so both are taken from the
// request itself.
func canonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		var vals []string
		switch name {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			vals = r.Header.Values("Content-Length")
			if len(vals) == 0 && r.ContentLength >= 0 {
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		default:
			vals = r.Header.Values(name)
		}
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strings.Join(strings.Fields(v), " "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// canonicalQuery decodes every name=value pair of a raw query and re-encodes
// it per RFC 3986 (upper-case hex, only unreserved characters left bare),
// sorted by name and then value.
func canonicalQuery(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	type pair struct{ k, v string }
	var pairs []pair
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return "", fmt.Errorf("bad escape in parameter name: %w", err)
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return "", fmt.Errorf("bad escape in value of %s: %w", quoteShort(dk), err)
		}
		pairs = append(pairs, pair{uriEncode(dk, true), uriEncode(dv, true)})
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String(), nil
}

// canonicalPaths returns the canonical URI candidates of a request path. AWS
// signers for every service but S3 URI-encode the already-escaped path once
// more; some clients encode only once. For the "/" every call here uses the
// two are the same.
func canonicalPaths(u *url.URL) []string {
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	double := uriEncode(p, false)
	if double == p {
		return []string{p}
	}
	return []string{double, p}
}

// uriEncode percent-encodes s per RFC 3986 with upper-case hex; '/' is kept
// unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	const hexdig = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexdig[c>>4])
			b.WriteByte(hexdig[c&15])
		}
	}
	return b.String()
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// SigV4Error is a failed check of [Server.VerifySigV4]: Code and Message
// are what AWS's JSON front door answers for the failure (both safe to
// show a client); Reason is the precise cause, for logs only (it never
// holds a secret, a token or a signature).
type SigV4Error struct {
	Code, Message, Reason string
}

func (e *SigV4Error) Error() string { return e.Code + ": " + e.Message }

// VerifySigV4 verifies the SigV4 signature of r, a request with an empty
// body signed for signingName (e.g. "ssmmessages" for the Session Manager
// data channel's websocket), with the checks of the sandbox's own API
// calls, and returns the signing principal. Errors are *SigV4Error.
func (s *Server) VerifySigV4(r *http.Request, signingName string) (*world.Principal, error) {
	p, aerr := s.authenticate(r, nil, &service{name: signingName, proto: protoJSON})
	if aerr != nil {
		e := protoJSON.authShape(aerr)
		return nil, &SigV4Error{Code: e.Code, Message: e.Message, Reason: e.reason}
	}
	return p, nil
}
