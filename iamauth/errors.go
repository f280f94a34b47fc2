package iamauth

import (
	"errors"
	"fmt"
)

// Tokens are credentials: nothing in this package puts a token's signature,
// a security token or a secret key into an error's text (the fuzz tests
// check it).

// Reason says why a token was refused. It is a stable string for logs,
// metrics and tests. A Reason is also an error, so that
// errors.Is(err, ReasonExpired) matches a [*VerifyError] with that reason.
type Reason string

// The reasons [Parse] and [Verify] give for refusing a token.
const (
	ReasonMalformed            Reason = "malformed"              // not a token: syntax, encoding, size, missing or unknown parameter
	ReasonDuplicateParameter   Reason = "duplicate-parameter"    // a query parameter occurs more than once
	ReasonBadAction            Reason = "bad-action"             // Action is not "connect"
	ReasonBadAlgorithm         Reason = "bad-algorithm"          // X-Amz-Algorithm is not AWS4-HMAC-SHA256
	ReasonBadSignedHeaders     Reason = "bad-signed-headers"     // X-Amz-SignedHeaders is not exactly "host"
	ReasonBadCredentialScope   Reason = "bad-credential-scope"   // service is not rds-db, terminator not aws4_request, or scope date ≠ X-Amz-Date's date
	ReasonWrongRegion          Reason = "wrong-region"           // signed for another region
	ReasonWrongHost            Reason = "wrong-host"             // signed for another host
	ReasonWrongPort            Reason = "wrong-port"             // signed for another port
	ReasonWrongUser            Reason = "wrong-user"             // DBUser is not the login user (case-sensitive)
	ReasonBadExpires           Reason = "bad-expires"            // X-Amz-Expires is not an integer in 1..900
	ReasonExpired              Reason = "expired"                // now is after X-Amz-Date + X-Amz-Expires
	ReasonNotYetValid          Reason = "not-yet-valid"          // X-Amz-Date is more than ClockSkew in the future
	ReasonUnknownAccessKey     Reason = "unknown-access-key"     // the verifier does not know the access key id
	ReasonMissingSecurityToken Reason = "missing-security-token" // the key is temporary but the token has no X-Amz-Security-Token
	ReasonBadSecurityToken     Reason = "bad-security-token"     // the security token is not the key's (or the key is long-term)
	ReasonSignatureMismatch    Reason = "signature-mismatch"     // the signature is not the one the secret key gives
)

// Error makes a Reason usable as an errors.Is target.
func (r Reason) Error() string { return "iamauth: token rejected: " + string(r) }

// VerifyError is the error [Parse] and [Verify] return for a refused token.
// Detail never contains the signature, a security token or a secret key.
type VerifyError struct {
	Reason Reason
	Detail string
}

// Error returns "iamauth: token rejected: <reason>: <detail>".
func (e *VerifyError) Error() string {
	if e.Detail == "" {
		return "iamauth: token rejected: " + string(e.Reason)
	}
	return "iamauth: token rejected: " + string(e.Reason) + ": " + e.Detail
}

// Is reports whether target is e's Reason, so errors.Is(err, ReasonExpired)
// works.
func (e *VerifyError) Is(target error) bool {
	r, ok := target.(Reason)
	return ok && r == e.Reason
}

// ReasonOf returns the Reason of the first [*VerifyError] in err's chain, or
// "" when there is none (nil, or an error that is not about the token).
func ReasonOf(err error) Reason {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return ""
}

// reject builds a *VerifyError. Callers must never pass secret material.
func reject(r Reason, format string, args ...any) *VerifyError {
	return &VerifyError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// quoteShort quotes s for an error detail, cut to at most 64 bytes so that a
// hostile token cannot blow up a log line.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
