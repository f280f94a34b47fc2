package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rdsgate/rdsgate/grant"
	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/internal/rawsock"
	"github.com/rdsgate/rdsgate/stage"
	"github.com/rdsgate/rdsgate/target"
	"github.com/rdsgate/rdsgate/tunnel"
)

// Credentials supply the upstream password for a database user.
type Credentials interface {
	// Password returns the password to log in as dbUser: a cached IAM
	// token, or a static secret.
	Password(ctx context.Context, dbUser string) (string, error)
	// Refresh forgets dbUser's password after the server refused it and
	// reports whether another one is now available, so that a retry may
	// succeed (a fresh token; a rotated secret).
	Refresh(ctx context.Context, dbUser string) (bool, error)
	// IAM reports whether passwords are IAM tokens (sent only to a
	// cleartext-password request over TLS).
	IAM() bool
}

// IAMCredentials signs tokens for one endpoint, whatever address is dialled.
type IAMCredentials struct {
	Cache  *iamauth.Cache
	Host   string
	Port   int
	Region string
}

func (c *IAMCredentials) endpoint(user string) iamauth.Endpoint {
	return iamauth.Endpoint{Host: c.Host, Port: c.Port, Region: c.Region, User: user}
}

// Password returns a cached token for user.
func (c *IAMCredentials) Password(ctx context.Context, user string) (string, error) {
	tok, err := c.Cache.Token(ctx, c.endpoint(user))
	if err != nil {
		return "", fmt.Errorf("sign IAM token for %s@%s:%d: %w", user, c.Host, c.Port, err)
	}
	return tok, nil
}

// Refresh drops user's cached token: the next one is freshly signed.
func (c *IAMCredentials) Refresh(_ context.Context, user string) (bool, error) {
	c.Cache.Invalidate(c.endpoint(user))
	return true, nil
}

// IAM is true.
func (c *IAMCredentials) IAM() bool { return true }

// Upstream is how a proxy reaches and logs in to one target.
type Upstream struct {
	Target target.Target
	// Dialer is the route; it is asked for Target.Address() whatever it
	// really dials. One that is a tunnel.SessionCounter has its count in
	// session records (RouteSessions).
	Dialer tunnel.Dialer
	// TLS verifies the server: ServerName is the endpoint, never the
	// dialled address. Never nil: there is no plaintext upstream.
	TLS         *tls.Config
	Credentials Credentials
	// DirectTLS (PostgreSQL 17+) opens TLS at once, with ALPN
	// "postgresql", instead of asking with an SSLRequest first: one round
	// trip less per login (libpq's sslnegotiation=direct). A server that
	// does not select ALPN "postgresql" is refused.
	DirectTLS bool
	// Account is the caller's AWS account, for the exact policy resource in
	// refused-login hints; "" prints a placeholder.
	Account string
	// Logins limits new upstream logins (AWS advises fewer than 200 new
	// IAM logins per second per instance); nil means no limit.
	Logins *RateLimiter
}

// Dial opens the route to Target.Address(). A socket (the direct route)
// is read and written without a scheduler hand-off per call (rawsock):
// every message of a relay meets a process that was idle a moment before.
func (u *Upstream) Dial(ctx context.Context) (net.Conn, error) {
	addr := u.Target.Address()
	c, err := u.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, stage.Wrap(stage.Route, fmt.Errorf("open route to %s: %w", addr, err))
	}
	return rawsock.Wrap(c), nil
}

// ErrNotIAMUser is a login the server answered with a password request
// where an IAM token was to go: the database user is not IAM-enabled, and
// no fresh token changes that.
var ErrNotIAMUser = errors.New("the database user is not IAM-enabled")

// DBUserARN is the resource rds-db:connect must allow for user on the
// target: the resource id, never the instance name.
func (u *Upstream) DBUserARN(user string) string {
	acct := u.Account
	if acct == "" {
		acct = "<account>"
	}
	return fmt.Sprintf("arn:aws:rds-db:%s:%s:dbuser:%s/%s", u.Target.Region, acct, u.Target.ResourceID, user)
}

// GrantCommand is the command that makes user an IAM database user of the
// target, for refusals' hints; each word is quoted for a POSIX shell, so
// that a user name copied from a hint cannot run anything else.
func (u *Upstream) GrantCommand(user string) string {
	return grant.Command(u.Target.Identifier, user)
}

// RateLimiter is a token bucket of new logins per second that waits rather
// than refuses, and says so once in a while.
type RateLimiter struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	warned time.Time
	// OnWait is called (at most every 10 s) when a login had to wait.
	OnWait func(wait time.Duration)
}

// NewRateLimiter allows perSecond logins with bursts of burst.
func NewRateLimiter(perSecond, burst int) *RateLimiter {
	return &RateLimiter{rate: float64(perSecond), burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// Wait blocks until a login may start, or ctx ends. A wait that ends with
// ctx (its client left) gives its slot back, so that logins that never
// happen do not delay the ones after them.
func (l *RateLimiter) Wait(ctx context.Context) error {
	if l == nil || l.rate <= 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	now := time.Now()
	l.tokens += now.Sub(l.last).Seconds() * l.rate
	if l.tokens > l.burst {
		l.tokens = l.burst
	}
	l.last = now
	l.tokens--
	var wait time.Duration
	if l.tokens < 0 {
		wait = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	notify := wait > 0 && l.OnWait != nil && now.Sub(l.warned) > 10*time.Second
	if notify {
		l.warned = now
	}
	l.mu.Unlock()
	if wait == 0 {
		return nil
	}
	if notify {
		l.OnWait(wait)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		l.tokens = min(l.tokens+1, l.burst)
		l.mu.Unlock()
		return ctx.Err()
	}
}

// Return gives back the slot of a Wait whose login did not happen after
// all (its client left before the credentials were sent), so that clients
// that connect and leave do not spend the budget of real logins.
func (l *RateLimiter) Return() {
	if l == nil || l.rate <= 0 {
		return
	}
	l.mu.Lock()
	l.tokens = min(l.tokens+1, l.burst)
	l.mu.Unlock()
}

// BeforeRetry logs why a refused login is tried once more with fresh
// credentials and, for an IAM token, waits for the next second: a token
// signed in the same second would be the same token.
func (u *Upstream) BeforeRetry(ctx context.Context, log interface{ Warn(string, ...any) }, refusal string) error {
	if !u.Credentials.IAM() {
		log.Warn("login refused; the password source has a new password, retrying once", "err", refusal)
		return nil
	}
	log.Warn("login refused; retrying once with a fresh token", "err", refusal)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Second):
		return nil
	}
}

// PasswordHint is the hint for a refused login with a password source,
// naming the source ("" for IAM credentials).
func (u *Upstream) PasswordHint(user string) string {
	if u.Credentials.IAM() {
		return ""
	}
	source := "its password source"
	if d, ok := u.Credentials.(interface{ Describe() string }); ok {
		source = d.Describe()
	}
	return fmt.Sprintf("rdsgate logged in to %s as %s with the password from %s: check that it is %s's current password.",
		u.Target.Address(), user, source, user)
}
