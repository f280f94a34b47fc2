package iamauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Service is the SigV4 signing name of RDS IAM database authentication.
const Service = "rds-db"

// TokenLifetime is how long a token is valid after it was signed (its
// X-Amz-Expires, 900 seconds). RDS checks it only when a login starts.
const TokenLifetime = 15 * time.Minute

// emptyPayloadHash is the hex SHA-256 of the empty string. Both AWS generators
// put it, not UNSIGNED-PAYLOAD, into the canonical request of a token.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Endpoint identifies what a token is signed for: the real RDS endpoint and
// port (never a tunnel's local address), the region and the database user.
type Endpoint struct {
	Host   string // DNS name or IP address of the database endpoint, without port
	Port   int    // database port, 1..65535
	Region string // AWS region of the database, e.g. "us-east-1"
	User   string // database user name; case-sensitive, never changed
}

// String returns "user@host:port (region)" for logs and errors.
func (e Endpoint) String() string {
	return fmt.Sprintf("%s@%s (%s)", e.User, net.JoinHostPort(e.Host, strconv.Itoa(e.Port)), e.Region)
}

// normalize returns e with the host lower-cased and IPv6 brackets removed.
func (e Endpoint) normalize() Endpoint {
	h := e.Host
	if len(h) > 2 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	e.Host = strings.ToLower(h)
	return e
}

// validate checks a normalized endpoint.
func (e Endpoint) validate() error {
	switch {
	case e.Host == "":
		return errors.New("endpoint host is empty")
	case e.Port < 1 || e.Port > 65535:
		return fmt.Errorf("endpoint port %d is outside 1..65535", e.Port)
	case e.Region == "":
		return errors.New("endpoint region is empty")
	case e.User == "":
		return errors.New("endpoint user is empty")
	}
	if err := validHost(e.Host); err != nil {
		return err
	}
	for i := 0; i < len(e.Region); i++ {
		c := e.Region[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("endpoint region %q: only a-z, 0-9 and '-' are allowed", e.Region)
		}
	}
	return nil
}

// validHost accepts a DNS name (letters, digits, '-', '_', '.') or an IP
// address. A host with a port, a scheme or a path is refused.
func validHost(h string) error {
	if strings.Contains(h, ":") {
		if ip := net.ParseIP(h); ip != nil && ip.To4() == nil {
			return nil // IPv6 literal
		}
		return fmt.Errorf("endpoint host %q must not contain a port or a scheme (set Port instead)", h)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("endpoint host %q contains %q: only letters, digits, '-', '_' and '.' are allowed", h, c)
		}
	}
	return nil
}

// Build signs a token locally (no network I/O other than what creds.Retrieve
// does) for e at time now with creds.
//
// It calls the SDK's v4 signer PresignHTTP exactly as
// feature/rds/auth.BuildAuthToken does (GET https://host:port with
// Action=connect, DBUser and X-Amz-Expires=900, payload hash = SHA-256 of the
// empty string, service rds-db), with the injected time, and strips the scheme.
// The result has the SDK's form "host:port?Action=...".
//
// Host is lower-cased before signing, as botocore does; the SDK does not, and
// tokens for a mixed-case host would then differ from the CLI's and fail. The
// case of User is never changed. Port 443 is left out of the signed host (but
// kept in the token text), as both AWS generators do.
func Build(ctx context.Context, e Endpoint, creds aws.CredentialsProvider, now time.Time) (string, error) {
	e = e.normalize()
	if err := e.validate(); err != nil {
		return "", fmt.Errorf("iamauth: build token: %w", err)
	}
	if creds == nil {
		return "", errors.New("iamauth: build token: credentials provider is nil")
	}
	c, err := creds.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("iamauth: build token for %s: retrieve credentials: %w", e, err)
	}
	return build(ctx, e, c, now)
}

// build signs for a normalized, validated endpoint with retrieved credentials.
func build(ctx context.Context, e Endpoint, c aws.Credentials, now time.Time) (string, error) {
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return "", fmt.Errorf("iamauth: build token for %s: credentials have no access key id or secret key", e)
	}
	endpoint := "https://" + net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return "", fmt.Errorf("iamauth: build token for %s: %w", e, err)
	}
	// The same steps as feature/rds/auth.BuildAuthToken.
	values := url.Values{}
	values.Set("Action", "connect")
	values.Set("DBUser", e.User)
	values.Set("X-Amz-Expires", strconv.Itoa(int(TokenLifetime/time.Second)))
	req.URL.RawQuery = values.Encode()

	signed, _, err := v4.NewSigner().PresignHTTP(ctx, c, req, emptyPayloadHash, Service, e.Region, now.UTC())
	if err != nil {
		return "", fmt.Errorf("iamauth: build token for %s: sign: %w", e, err)
	}
	tok, ok := strings.CutPrefix(signed, "https://")
	if !ok {
		return "", fmt.Errorf("iamauth: build token for %s: signer returned an unexpected URL form", e)
	}
	return tok, nil
}
