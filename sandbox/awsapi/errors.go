package awsapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
)

// protocol is the wire protocol a service speaks.
type protocol int

const (
	// protoQuery is awsQuery: form-encoded Action/Version requests and
	// <XxxResponse><XxxResult> XML answers (STS, RDS, IAM).
	protoQuery protocol = iota
	// protoEC2 is ec2Query: the same requests, but XML answers without a
	// Result wrapper and errors in <Response><Errors>.
	protoEC2
	// protoJSON is awsJson1_1: X-Amz-Target names the operation, bodies are
	// JSON (SSM, Secrets Manager, EC2 Instance Connect).
	protoJSON
)

func (p protocol) String() string {
	switch p {
	case protoQuery:
		return "query"
	case protoEC2:
		return "ec2query"
	case protoJSON:
		return "json1.1"
	}
	return "unknown"
}

// apiError is an error answered to the client in its protocol's shape.
type apiError struct {
	Status  int
	Code    string
	Message string
	// Receiver marks a server-side fault (query <Type>Receiver</Type>);
	// everything the sandbox answers is the caller's fault (Sender).
	Receiver bool
	// coral makes a JSON error's __type carry AWS's front-door namespace
	// (com.amazon.coral.service#...), as authentication errors do.
	coral bool
	// reason is the precise reason, for the log only. It never holds a
	// secret, a token or a signature.
	reason string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// withReason sets the log reason and returns e.
func (e *apiError) withReason(format string, args ...any) *apiError {
	e.reason = fmt.Sprintf(format, args...)
	return e
}

// clientError is a 400 error with the given code and message.
func clientError(code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// authKind classifies a SigV4 authentication failure; each protocol names
// it differently.
type authKind int

const (
	authMissing      authKind = iota // no Authorization header
	authIncomplete                   // the header is malformed
	authUnknownKey                   // the access key id is unknown
	authBadToken                     // the security token is missing or wrong
	authBadSignature                 // the signature does not match
	authExpired                      // X-Amz-Date is outside the skew window
	authBadScope                     // wrong region or service in the credential scope
)

// authError is a SigV4 failure before it is given a protocol's shape.
type authError struct {
	kind authKind
	// message is what AWS says for this failure where it is specific
	// (expired signatures, bad scopes, incomplete headers); empty means the
	// protocol's standard message.
	message string
	reason  string
}

func authFail(kind authKind, message, reasonFormat string, args ...any) *authError {
	return &authError{kind: kind, message: message, reason: fmt.Sprintf(reasonFormat, args...)}
}

// Standard AWS messages.
const (
	msgInvalidToken = "The security token included in the request is invalid."
	msgBadSignature = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgEC2AuthFailure = "AWS was not able to validate the provided access credentials"
)

// shape gives an authentication failure the code, status and message the
// protocol's services answer with. Query services (STS, RDS, IAM) answer 403
// with InvalidClientTokenId / SignatureDoesNotMatch / MissingAuthenticationToken;
// JSON services answer 400 with the ...Exception names of AWS's front door
// (UnrecognizedClientException, InvalidSignatureException, ...); EC2 answers
// 401 AuthFailure for any credential problem and 400 RequestExpired for a
// skewed clock.
func (p protocol) authShape(a *authError) *apiError {
	e := &apiError{reason: a.reason, coral: true}
	switch p {
	case protoJSON:
		e.Status = http.StatusBadRequest
		switch a.kind {
		case authMissing:
			e.Code, e.Message = "MissingAuthenticationTokenException", "Missing Authentication Token"
		case authIncomplete:
			e.Code, e.Message = "IncompleteSignatureException", a.message
		case authUnknownKey, authBadToken:
			e.Code, e.Message = "UnrecognizedClientException", msgInvalidToken
		case authBadSignature, authExpired, authBadScope:
			e.Code, e.Message = "InvalidSignatureException", or(a.message, msgBadSignature)
		}
	case protoEC2:
		e.Status = http.StatusUnauthorized
		switch a.kind {
		case authMissing:
			e.Code, e.Message = "MissingAuthenticationToken",
				"The request must contain either a valid (registered) AWS access key ID or X.509 certificate."
		case authIncomplete:
			e.Status, e.Code, e.Message = http.StatusBadRequest, "IncompleteSignature", a.message
		case authExpired:
			e.Status, e.Code, e.Message = http.StatusBadRequest, "RequestExpired", "Request has expired."
		default:
			e.Code, e.Message = "AuthFailure", msgEC2AuthFailure
		}
	default:
		e.Status = http.StatusForbidden
		switch a.kind {
		case authMissing:
			e.Code, e.Message = "MissingAuthenticationToken", "Request is missing Authentication Token"
		case authIncomplete:
			e.Status, e.Code, e.Message = http.StatusBadRequest, "IncompleteSignature", a.message
		case authUnknownKey, authBadToken:
			e.Code, e.Message = "InvalidClientTokenId", msgInvalidToken
		case authBadSignature, authExpired, authBadScope:
			e.Code, e.Message = "SignatureDoesNotMatch", or(a.message, msgBadSignature)
		}
	}
	return e
}

// accessDenied is the protocol's answer to a call IAM did not allow, with
// AWS's message naming the caller, the action, the resource and why.
func (p protocol) accessDenied(principalARN, action, resource string, res iampolicy.Result) *apiError {
	why := "because no identity-based policy allows the " + action + " action"
	if res.Decision == iampolicy.ExplicitDeny {
		why = "with an explicit deny in an identity-based policy"
	}
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s", principalARN, action, resource, why)
	reason := fmt.Sprintf("%s: %s on %s (%s)", res.Decision, action, resource, principalARN)
	switch p {
	case protoJSON:
		return &apiError{Status: http.StatusBadRequest, Code: "AccessDeniedException", Message: msg, reason: reason}
	case protoEC2:
		// EC2's Describe* calls have no resource-level permissions and
		// leave the resource out of the message.
		msg = fmt.Sprintf("You are not authorized to perform this operation. User: %s is not authorized to perform: %s %s", principalARN, action, why)
		return &apiError{Status: http.StatusForbidden, Code: "UnauthorizedOperation", Message: msg, reason: reason}
	}
	return &apiError{Status: http.StatusForbidden, Code: "AccessDenied", Message: msg, reason: reason}
}

// unknownOperation is the protocol's answer to an action it does not have.
func (p protocol) unknownOperation(action, version string) *apiError {
	switch p {
	case protoJSON:
		e := clientError("UnknownOperationException", "")
		e.coral = true
		return e.withReason("unknown operation %s", quoteShort(action))
	case protoEC2:
		return clientError("InvalidAction", "The action %s is not valid for this web service.", shorten(action)).
			withReason("unknown action %s", quoteShort(action))
	}
	return clientError("InvalidAction", "Could not find operation %s for version %s", shorten(action), shorten(version)).
		withReason("unknown action %s for version %s", quoteShort(action), quoteShort(version))
}

// validation is a parameter validation error in the protocol's naming:
// ValidationException for JSON services, ValidationError for IAM,
// InvalidParameterValue for RDS and EC2.
func validation(svc *service, format string, args ...any) *apiError {
	msg := fmt.Sprintf(format, args...)
	switch {
	case svc.proto == protoJSON:
		return clientError("ValidationException", "%s", msg)
	case svc.name == "iam" || svc.name == "sts":
		return clientError("ValidationError", "%s", msg)
	}
	return clientError("InvalidParameterValue", "%s", msg)
}

// missingParam is the validation error for a required parameter left out,
// worded like AWS's model validation.
func missingParam(svc *service, member string) *apiError {
	if svc.proto == protoEC2 || svc.name == "rds" {
		return clientError("MissingParameter", "The request must contain the parameter %s", member)
	}
	lower := strings.ToLower(member[:1]) + member[1:]
	return validation(svc, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", lower)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// shorten cuts hostile input down to a size fit for a message or a log.
func shorten(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// quoteShort quotes a shortened s for a log line.
func quoteShort(s string) string { return fmt.Sprintf("%q", shorten(s)) }

// amzDate formats t as SigV4's basic ISO 8601 time.
func amzDate(t time.Time) string { return t.UTC().Format(amzDateFormat) }

const amzDateFormat = "20060102T150405Z"
