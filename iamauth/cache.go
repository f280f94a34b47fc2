package iamauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// DefaultRefreshAfter is how long a [Cache] reuses a token by default: ten
// minutes, which leaves at least five of the token's fifteen.
const DefaultRefreshAfter = 10 * time.Minute

// maxRefreshAfter caps CacheOptions.RefreshAfter so that a handed-out token
// always has at least a minute of validity left.
const maxRefreshAfter = TokenLifetime - time.Minute

// TokenSource is the seam the proxy uses: a cached token, refreshed before
// expiry.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// CacheOptions configures a [Cache]. The zero value gives the defaults.
type CacheOptions struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RefreshAfter is the longest a token is reused after it was built; 0 or
	// less means DefaultRefreshAfter, more than 14 minutes means 14 minutes.
	// A handed-out token thus always has at least TokenLifetime−RefreshAfter
	// of validity left.
	RefreshAfter time.Duration
}

// CacheStats counts what a [Cache] did, for metrics.
type CacheStats struct {
	Builds uint64 // tokens signed (successfully or not)
	Hits   uint64 // tokens handed out without signing, including callers that waited for another caller's build
}

// Cache hands out tokens per (Endpoint, credentials identity) and is safe for
// concurrent use.
//
// Every call retrieves the credentials (so creds should be cheap to call, as
// the aws.CredentialsCache in an aws.Config is) and keys the token by the
// normalized endpoint and the credentials' access key id: when the
// credentials rotate, the next call signs a new token. A token is reused for
// at most RefreshAfter, and not at all once the credentials it was signed
// with would expire within TokenLifetime−RefreshAfter (a presigned token dies
// with its credentials). Concurrent callers for one key share one build.
type Cache struct {
	creds        aws.CredentialsProvider
	now          func() time.Time
	refreshAfter time.Duration

	mu      sync.Mutex
	entries map[cacheKey]*cacheEntry

	builds atomic.Uint64
	hits   atomic.Uint64

	buildHook func() // tests only: runs before each build, outside c.mu
}

type cacheKey struct {
	ep   Endpoint // normalized
	akid string
}

// cacheEntry is one build, in flight until done is closed. The other fields
// are written once, before done is closed, and read only after.
type cacheEntry struct {
	done        chan struct{}
	token       string
	err         error
	builtAt     time.Time
	canExpire   bool
	credsExpire time.Time
}

// NewCache returns a Cache that signs with creds.
func NewCache(creds aws.CredentialsProvider, opts CacheOptions) *Cache {
	c := &Cache{
		creds:        creds,
		now:          opts.Now,
		refreshAfter: opts.RefreshAfter,
		entries:      make(map[cacheKey]*cacheEntry),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.refreshAfter <= 0 {
		c.refreshAfter = DefaultRefreshAfter
	}
	c.refreshAfter = min(c.refreshAfter, maxRefreshAfter)
	return c
}

// Token returns a token for e: a cached one if it is young enough and its
// credentials are still the current ones, otherwise a freshly signed one.
func (c *Cache) Token(ctx context.Context, e Endpoint) (string, error) {
	e = e.normalize()
	if err := e.validate(); err != nil {
		return "", fmt.Errorf("iamauth: token: %w", err)
	}
	if c.creds == nil {
		return "", errors.New("iamauth: token: credentials provider is nil")
	}
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("iamauth: token for %s: retrieve credentials: %w", e, err)
	}
	if now := c.now(); creds.CanExpire && !creds.Expires.After(now) {
		return "", fmt.Errorf("iamauth: token for %s: credentials of access key %s expired at %s",
			e, creds.AccessKeyID, creds.Expires.UTC().Format(time.RFC3339))
	}
	k := cacheKey{ep: e, akid: creds.AccessKeyID}

	// A waited-for build can already be stale under a racing clock; try to
	// share a build a few times, then sign alone.
	// now is read under c.mu, so an entry found there was built no later.
	for range 3 {
		c.mu.Lock()
		now := c.now()
		en := c.entries[k]
		if en == nil {
			return c.buildLocked(ctx, k, creds, now)
		}
		select {
		case <-en.done:
			if en.err == nil && c.fresh(en, now) {
				c.mu.Unlock()
				c.hits.Add(1)
				return en.token, nil
			}
			return c.buildLocked(ctx, k, creds, now)
		default:
		}
		c.mu.Unlock()
		select {
		case <-en.done:
		case <-ctx.Done():
			return "", fmt.Errorf("iamauth: token for %s: %w", e, ctx.Err())
		}
		if en.err != nil {
			return "", en.err
		}
		if c.fresh(en, now) {
			c.hits.Add(1)
			return en.token, nil
		}
	}
	c.mu.Lock()
	return c.buildLocked(ctx, k, creds, c.now())
}

// buildLocked registers a build for k, releases c.mu, signs, and publishes
// the result. c.mu must be held on entry.
func (c *Cache) buildLocked(ctx context.Context, k cacheKey, creds aws.Credentials, now time.Time) (string, error) {
	en := &cacheEntry{done: make(chan struct{}), builtAt: now, canExpire: creds.CanExpire, credsExpire: creds.Expires}
	c.entries[k] = en
	c.mu.Unlock()

	if c.buildHook != nil {
		c.buildHook()
	}
	en.token, en.err = build(ctx, k.ep, creds, now)
	c.builds.Add(1)

	c.mu.Lock()
	if en.err != nil {
		if c.entries[k] == en {
			delete(c.entries, k) // never cache a failure
		}
	} else {
		for other := range c.entries {
			if other.ep == k.ep && other.akid != k.akid {
				delete(c.entries, other) // tokens of rotated-away credentials
			}
		}
	}
	c.mu.Unlock()
	close(en.done)
	return en.token, en.err
}

// fresh reports whether a finished build may still be handed out at now.
func (c *Cache) fresh(en *cacheEntry, now time.Time) bool {
	// Wall clock, not Go's monotonic one: the monotonic clock stops while a
	// laptop sleeps, and RDS judges a token's age by the wall clock, so
	// after an hour's sleep a monotonic age would still call a dead token
	// fresh.
	age := now.Round(0).Sub(en.builtAt.Round(0))
	if age < 0 || age >= c.refreshAfter {
		return false
	}
	if en.canExpire && en.credsExpire.Before(now.Add(TokenLifetime-c.refreshAfter)) {
		return false
	}
	return true
}

// Invalidate forgets the cached token(s) for e, whatever credentials they were
// signed with. Use it when a login with a cached token is refused: the next
// Token call signs afresh (retry once). A token signed in the same second
// with the same credentials is byte-identical, so a retry helps only when the
// credentials or the second changed.
func (c *Cache) Invalidate(e Endpoint) {
	e = e.normalize()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if k.ep == e {
			delete(c.entries, k)
		}
	}
}

// Source returns the TokenSource for one endpoint.
func (c *Cache) Source(e Endpoint) TokenSource {
	return cacheSource{c: c, e: e}
}

// Stats returns the counters so far.
func (c *Cache) Stats() CacheStats {
	return CacheStats{Builds: c.builds.Load(), Hits: c.hits.Load()}
}

type cacheSource struct {
	c *Cache
	e Endpoint
}

func (s cacheSource) Token(ctx context.Context) (string, error) { return s.c.Token(ctx, s.e) }
