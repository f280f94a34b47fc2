package iamauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ClockSkew is how far in the future a token's X-Amz-Date may be and still be
// accepted: AWS's SigV4 clock-skew window of 5 minutes.
const ClockSkew = 5 * time.Minute

// algorithm is the only signing algorithm of RDS IAM tokens.
const algorithm = "AWS4-HMAC-SHA256"

// scopeTerminator ends every SigV4 credential scope.
const scopeTerminator = "aws4_request"

// Expect is what the verifier requires of a token: the endpoint and port the
// server answers as, its region, and the user logging in.
type Expect struct {
	Host   string // compared case-insensitively
	Port   int    // compared exactly
	Region string // compared exactly
	User   string // compared exactly, case-sensitively, like RDS
}

// Secret holds the credentials the verifier knows for one access key id.
type Secret struct {
	SecretAccessKey string
	// SessionToken is empty for a long-term key; then the token must carry no
	// X-Amz-Security-Token. When it is set, the token must carry exactly it.
	SessionToken string
}

// SecretLookup returns the secret of an access key id, or false if unknown.
type SecretLookup func(accessKeyID string) (Secret, bool)

// Verify checks token as RDS would for a login by want.User to want.Host:
// want.Port in want.Region at time now, using lookup to find the signing
// secret. It returns the parsed token when everything holds, and otherwise a
// *[VerifyError] whose Reason says what failed.
//
// The checks, in order: syntax ([Parse]); Action=connect; algorithm
// AWS4-HMAC-SHA256; signed headers exactly "host"; credential scope service
// rds-db, terminator aws4_request and date equal to X-Amz-Date's date; region;
// host (lower-cased, so a CLI token for a mixed-case name passes); port;
// DBUser (case-sensitive); X-Amz-Expires in 1..900; the time window
// X-Amz-Date − [ClockSkew] ≤ now ≤ X-Amz-Date + X-Amz-Expires; the access key;
// the security token; and last the signature, recomputed here from the decoded
// parameters with an independent SigV4 implementation and compared in
// constant time.
//
// A nil lookup or an incomplete want is a programming error and gives a plain
// error, not a *VerifyError.
func Verify(token string, want Expect, lookup SecretLookup, now time.Time) (*Token, error) {
	if lookup == nil {
		return nil, errors.New("iamauth: verify: nil SecretLookup")
	}
	wantEP := Endpoint(want).normalize()
	if err := wantEP.validate(); err != nil {
		return nil, fmt.Errorf("iamauth: verify: bad Expect: %w", err)
	}
	t, err := Parse(token)
	if err != nil {
		return nil, err
	}
	if err := t.check(wantEP, now); err != nil {
		return nil, err
	}
	secret, ok := lookup(t.AccessKeyID)
	if !ok {
		return nil, reject(ReasonUnknownAccessKey, "access key id %s is unknown", quoteShort(t.AccessKeyID))
	}
	switch {
	case secret.SessionToken == "" && t.hasSecToken:
		return nil, reject(ReasonBadSecurityToken, "access key %s is a long-term key; the token must not carry a security token", t.AccessKeyID)
	case secret.SessionToken != "" && t.SecurityToken == "":
		return nil, reject(ReasonMissingSecurityToken, "access key %s is temporary; the token has no security token", t.AccessKeyID)
	case secret.SessionToken != "" && !hmac.Equal([]byte(secret.SessionToken), []byte(t.SecurityToken)):
		return nil, reject(ReasonBadSecurityToken, "the security token is not the one of access key %s", t.AccessKeyID)
	}
	sig := t.signature(secret.SecretAccessKey)
	if !hmac.Equal([]byte(sig), []byte(t.Signature)) {
		return nil, reject(ReasonSignatureMismatch, "signature does not match (access key %s)", t.AccessKeyID)
	}
	return t, nil
}

// check applies every test that needs no secret.
func (t *Token) check(want Endpoint, now time.Time) error {
	switch {
	case t.Action != "connect":
		return reject(ReasonBadAction, "Action is %s, want \"connect\"", quoteShort(t.Action))
	case t.Algorithm != algorithm:
		return reject(ReasonBadAlgorithm, "X-Amz-Algorithm is %s, want %q", quoteShort(t.Algorithm), algorithm)
	case t.SignedHeaders != "host":
		return reject(ReasonBadSignedHeaders, "X-Amz-SignedHeaders is %s, want \"host\"", quoteShort(t.SignedHeaders))
	case t.Service != Service:
		return reject(ReasonBadCredentialScope, "credential scope service is %s, want %q", quoteShort(t.Service), Service)
	case t.terminator != scopeTerminator:
		return reject(ReasonBadCredentialScope, "credential scope ends in %s, want %q", quoteShort(t.terminator), scopeTerminator)
	case t.Date != t.amzDate[:8]:
		return reject(ReasonBadCredentialScope, "credential scope date %s is not the date of X-Amz-Date %s", quoteShort(t.Date), t.amzDate)
	case t.Region != want.Region:
		return reject(ReasonWrongRegion, "signed for region %s, want %q", quoteShort(t.Region), want.Region)
	case t.Host != want.Host:
		return reject(ReasonWrongHost, "signed for host %s, want %q", quoteShort(t.Host), want.Host)
	case t.Port != want.Port:
		return reject(ReasonWrongPort, "signed for port %d, want %d", t.Port, want.Port)
	case t.DBUser != want.User:
		return reject(ReasonWrongUser, "signed for user %s, want %q", quoteShort(t.DBUser), want.User)
	case t.Expires < time.Second || t.Expires > TokenLifetime:
		return reject(ReasonBadExpires, "X-Amz-Expires is %s, want 1..%d", quoteShort(t.expiresRaw), int(TokenLifetime/time.Second))
	case now.Before(t.SignedAt.Add(-ClockSkew)):
		return reject(ReasonNotYetValid, "signed at %s, more than %s after now (%s)",
			t.SignedAt.Format(time.RFC3339), ClockSkew, now.UTC().Format(time.RFC3339))
	case now.After(t.ExpiresAt()):
		return reject(ReasonExpired, "expired at %s, now is %s",
			t.ExpiresAt().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// canonicalRequest is the SigV4 canonical request of a token: GET, path "/",
// the canonical query of every parameter but the signature (decoded values
// re-encoded per RFC 3986 with upper-case hex, sorted by name then value),
// the host header (lower case, port left out only if it is 443), the signed
// header list and the SHA-256 of the empty payload.
func (t *Token) canonicalRequest() string {
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(t.params))
	for _, p := range t.params {
		if p.name != paramSignature {
			pairs = append(pairs, pair{encode(p.name), encode(p.value)})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	host := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	if t.Port == 443 {
		host = strings.TrimSuffix(host, ":443")
	}

	var b strings.Builder
	b.Grow(512 + len(t.SecurityToken))
	b.WriteString("GET\n/\n")
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	b.WriteString("\nhost:")
	b.WriteString(host)
	b.WriteString("\n\nhost\n")
	b.WriteString(emptyPayloadHash)
	return b.String()
}

// stringToSign is the SigV4 string to sign of a token.
func (t *Token) stringToSign() string {
	sum := sha256.Sum256([]byte(t.canonicalRequest()))
	return algorithm + "\n" + t.amzDate + "\n" +
		t.Date + "/" + t.Region + "/" + t.Service + "/" + t.terminator + "\n" +
		hex.EncodeToString(sum[:])
}

// signature returns the lower-case hex HMAC-SHA256 of the token's string to
// sign under the signing key of its credential scope. [Token.check] has
// already required the scope's terminator to be aws4_request, the one
// [SigningKey] uses.
func (t *Token) signature(secret string) string {
	k := SigningKey(secret, t.Date, t.Region, t.Service)
	return hex.EncodeToString(hmacSHA256(k, t.stringToSign()))
}
