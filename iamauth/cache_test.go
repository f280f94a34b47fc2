package iamauth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func newTestCache(creds aws.CredentialsProvider, clock *fakeClock, refresh time.Duration) *Cache {
	return NewCache(creds, CacheOptions{Now: clock.Now, RefreshAfter: refresh})
}

// TestCacheConcurrent: 1,000 concurrent callers for one key get one token
// from exactly one build, whether they find it built or wait for it.
func TestCacheConcurrent(t *testing.T) {
	for _, slow := range []bool{false, true} {
		name := map[bool]string{false: "fast build", true: "slow build"}[slow]
		t.Run(name, func(t *testing.T) {
			clock := newFakeClock(goldenTime)
			c := newTestCache(staticCreds(goldenAKID, goldenSecret, ""), clock, 0)
			if slow {
				// Hold the single build long enough for the others to pile up on it.
				c.buildHook = func() { time.Sleep(50 * time.Millisecond) }
			}
			const n = 1000
			var wg sync.WaitGroup
			start := make(chan struct{})
			toks := make([]string, n)
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					<-start
					toks[i], errs[i] = c.Token(context.Background(), goldenEndpoint())
				})
			}
			close(start)
			wg.Wait()
			for i := range n {
				if errs[i] != nil || toks[i] != toks[0] {
					t.Fatalf("caller %d: %q, %v; caller 0 got %q", i, toks[i], errs[i], toks[0])
				}
			}
			if st := c.Stats(); st.Builds != 1 || st.Hits != n-1 {
				t.Fatalf("Stats = %+v, want 1 build and %d hits", st, n-1)
			}
			if _, err := Verify(toks[0], goldenExpect(), lookupOf(goldenAKID, goldenSecret, ""), goldenTime); err != nil {
				t.Fatalf("cached token does not verify: %v", err)
			}
		})
	}
}

func TestCacheRefresh(t *testing.T) {
	clock := newFakeClock(goldenTime)
	c := newTestCache(staticCreds(goldenAKID, goldenSecret, ""), clock, 0)
	ctx := context.Background()
	e := goldenEndpoint()
	t1, err := c.Token(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(DefaultRefreshAfter - time.Second)
	if t2, _ := c.Token(ctx, e); t2 != t1 {
		t.Fatalf("token replaced before RefreshAfter")
	}
	clock.Advance(time.Second)
	t3, _ := c.Token(ctx, e)
	if t3 == t1 {
		t.Fatalf("token reused after RefreshAfter")
	}
	if got := mustParse(t, t3).SignedAt; !got.Equal(goldenTime.Add(DefaultRefreshAfter)) {
		t.Fatalf("new token signed at %v", got)
	}
	if st := c.Stats(); st.Builds != 2 || st.Hits != 1 {
		t.Fatalf("Stats = %+v, want 2 builds, 1 hit", st)
	}

	// Over an hour in uneven steps, no token handed out is older than
	// RefreshAfter, and every one verifies with ≥ 5 minutes left.
	for range 200 {
		clock.Advance(37 * time.Second)
		now := clock.Now()
		tok, err := c.Token(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Verify(tok, goldenExpect(), lookupOf(goldenAKID, goldenSecret, ""), now)
		if err != nil {
			t.Fatalf("at %v: %v", now, err)
		}
		if age := now.Sub(p.SignedAt); age < 0 || age >= DefaultRefreshAfter {
			t.Fatalf("at %v handed out a token of age %v", now, age)
		}
		if left := p.ExpiresAt().Sub(now); left < TokenLifetime-DefaultRefreshAfter {
			t.Fatalf("at %v handed out a token with only %v left", now, left)
		}
	}
	if st := c.Stats(); st.Builds != 2+200/17 { // a refresh every 17 steps (629 s)
		t.Fatalf("Stats = %+v: expected about one build per 10 minutes", st)
	}
}

func TestCacheClockBackwards(t *testing.T) {
	clock := newFakeClock(goldenTime)
	c := newTestCache(staticCreds(goldenAKID, goldenSecret, ""), clock, 0)
	t1, _ := c.Token(context.Background(), goldenEndpoint())
	clock.Advance(-time.Hour)
	t2, _ := c.Token(context.Background(), goldenEndpoint())
	if t1 == t2 || c.Stats().Builds != 2 {
		t.Fatalf("a token signed in the future was reused after the clock went back")
	}
}

func TestCacheRotatingCredentials(t *testing.T) {
	clock := newFakeClock(goldenTime)
	creds := &rotatingCreds{}
	c := newTestCache(creds, clock, 0)
	ctx := context.Background()
	e := goldenEndpoint()
	t1, _ := c.Token(ctx, e)
	if t1b, _ := c.Token(ctx, e); t1b != t1 {
		t.Fatal("same credentials, same second: token not reused")
	}
	creds.Rotate()
	t2, err := c.Token(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if t2 == t1 {
		t.Fatal("credentials rotated but the old token was handed out")
	}
	if p := mustParse(t, t2); p.AccessKeyID != "AKIAROTATING1" {
		t.Fatalf("new token signed with %s", p.AccessKeyID)
	}
	for _, tok := range []string{t1, t2} {
		if _, err := Verify(tok, goldenExpect(), creds.lookup, clock.Now()); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	if st := c.Stats(); st.Builds != 2 || st.Hits != 1 {
		t.Fatalf("Stats = %+v, want 2 builds, 1 hit", st)
	}
	c.mu.Lock()
	n := len(c.entries)
	c.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d cache entries after rotation, want the old key's pruned", n)
	}
}

// TestCacheExpiringCredentials: a token must not be reused once the
// credentials it was signed with expire within TokenLifetime−RefreshAfter.
func TestCacheExpiringCredentials(t *testing.T) {
	clock := newFakeClock(goldenTime)
	creds := &rotatingCreds{canExpire: true, expires: goldenTime.Add(7 * time.Minute)}
	c := newTestCache(creds, clock, 0)
	ctx := context.Background()
	e := goldenEndpoint()
	t1, _ := c.Token(ctx, e)
	clock.Advance(time.Minute) // credentials have 6 min left ≥ 5 min: reuse
	if t2, _ := c.Token(ctx, e); t2 != t1 {
		t.Fatal("token not reused while its credentials last long enough")
	}
	clock.Advance(90 * time.Second) // 4m30s left < 5 min: rebuild
	if t3, _ := c.Token(ctx, e); t3 == t1 {
		t.Fatal("token reused although its credentials expire within 5 minutes")
	}
	if st := c.Stats(); st.Builds != 2 {
		t.Fatalf("Stats = %+v, want 2 builds", st)
	}
	// Fresh credentials with the same key id (a refresh) make tokens reusable again.
	creds.set(func(r *rotatingCreds) { r.expires = clock.Now().Add(time.Hour) })
	t4, _ := c.Token(ctx, e)
	clock.Advance(time.Minute)
	if t5, _ := c.Token(ctx, e); t5 != t4 {
		t.Fatal("token not reused after the credentials were refreshed")
	}
	// Expired credentials: an error, not a dead token.
	creds.set(func(r *rotatingCreds) { r.expires = clock.Now() })
	if tok, err := c.Token(ctx, e); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("Token with expired credentials: %q, %v", tok, err)
	}
}

func TestCacheInvalidate(t *testing.T) {
	clock := newFakeClock(goldenTime)
	c := newTestCache(staticCreds(goldenAKID, goldenSecret, ""), clock, 0)
	ctx := context.Background()
	e := goldenEndpoint()
	t1, _ := c.Token(ctx, e)
	other := e
	other.User = "someone else"
	o1, _ := c.Token(ctx, other)
	clock.Advance(time.Second)
	mixed := e
	mixed.Host = strings.ToUpper(e.Host)
	c.Invalidate(mixed) // same endpoint, spelled differently
	t2, _ := c.Token(ctx, e)
	if t2 == t1 {
		t.Fatal("Invalidate did not forget the token")
	}
	if o2, _ := c.Token(ctx, other); o2 != o1 {
		t.Fatal("Invalidate forgot another endpoint's token")
	}
	if st := c.Stats(); st.Builds != 3 || st.Hits != 1 {
		t.Fatalf("Stats = %+v, want 3 builds, 1 hit", st)
	}
}

func TestCacheKeys(t *testing.T) {
	clock := newFakeClock(goldenTime)
	c := newTestCache(staticCreds(goldenAKID, goldenSecret, ""), clock, 0)
	ctx := context.Background()
	e := goldenEndpoint()
	mixed := e
	mixed.Host = "MyDB.ABC123.us-east-1.rds.amazonaws.com"
	a, _ := c.Token(ctx, e)
	b, _ := c.Token(ctx, mixed)
	if a != b || c.Stats().Builds != 1 {
		t.Fatal("host case split the cache")
	}
	seen := map[string]bool{a: true}
	for _, f := range []func(e *Endpoint){
		func(e *Endpoint) { e.User = "IAM user" },
		func(e *Endpoint) { e.Port = 5433 },
		func(e *Endpoint) { e.Region = "us-east-2" },
		func(e *Endpoint) { e.Host = "other.example" },
	} {
		x := e
		f(&x)
		tok, err := c.Token(ctx, x)
		if err != nil || seen[tok] {
			t.Fatalf("endpoint %v: %q, %v (shared a token)", x, tok, err)
		}
		seen[tok] = true
	}
	if st := c.Stats(); st.Builds != 5 {
		t.Fatalf("Stats = %+v, want 5 builds", st)
	}
	src := c.Source(e)
	if tok, err := src.Token(ctx); err != nil || tok != a {
		t.Fatalf("Source.Token = %q, %v", tok, err)
	}
}

func TestCacheErrors(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock(goldenTime)

	if _, err := NewCache(nil, CacheOptions{}).Token(ctx, goldenEndpoint()); err == nil || !strings.Contains(err.Error(), "nil") {
		t.Fatalf("nil credentials: %v", err)
	}
	c := newTestCache(staticCreds(goldenAKID, goldenSecret, ""), clock, 0)
	if _, err := c.Token(ctx, Endpoint{Host: goldenHost, Region: goldenRegion, User: "u"}); err == nil || !strings.HasPrefix(err.Error(), "iamauth: ") {
		t.Fatalf("invalid endpoint: %v", err)
	}

	// A failure is returned, not cached.
	creds := &rotatingCreds{err: errNoCreds}
	c = newTestCache(creds, clock, 0)
	if _, err := c.Token(ctx, goldenEndpoint()); !errors.Is(err, errNoCreds) {
		t.Fatalf("Token: %v, want %v", err, errNoCreds)
	}
	creds.set(func(r *rotatingCreds) { r.err = nil })
	if _, err := c.Token(ctx, goldenEndpoint()); err != nil {
		t.Fatalf("Token after the credentials came back: %v", err)
	}

	// A build error (credentials without a secret) reaches every waiter and is not cached.
	noSecret := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIDNOSECRET"}, nil
	})
	c = newTestCache(noSecret, clock, 0)
	for range 2 {
		if _, err := c.Token(ctx, goldenEndpoint()); err == nil || !strings.Contains(err.Error(), "no access key id or secret key") {
			t.Fatalf("Token: %v", err)
		}
	}
	if st := c.Stats(); st.Builds != 2 {
		t.Fatalf("Stats = %+v: a failed build was cached", st)
	}
}

// TestCacheWaiterCancel: a caller waiting for another's build gives up when
// its context ends; the build still completes for the others.
func TestCacheWaiterCancel(t *testing.T) {
	clock := newFakeClock(goldenTime)
	c := newTestCache(staticCreds(goldenAKID, goldenSecret, ""), clock, 0)
	release := make(chan struct{})
	entered := make(chan struct{})
	c.buildHook = func() { close(entered); <-release }
	first := make(chan error, 1)
	go func() {
		_, err := c.Token(context.Background(), goldenEndpoint())
		first <- err
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Token(ctx, goldenEndpoint()); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter with a cancelled context: %v", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("builder: %v", err)
	}
	c.buildHook = nil
	if _, err := c.Token(context.Background(), goldenEndpoint()); err != nil || c.Stats().Builds != 1 {
		t.Fatalf("after the build: %v, %+v", err, c.Stats())
	}
}

func TestCacheOptions(t *testing.T) {
	tests := []struct {
		in, want time.Duration
	}{
		{0, DefaultRefreshAfter},
		{-time.Minute, DefaultRefreshAfter},
		{time.Minute, time.Minute},
		{20 * time.Minute, 14 * time.Minute},
	}
	for _, tc := range tests {
		if got := NewCache(nil, CacheOptions{RefreshAfter: tc.in}).refreshAfter; got != tc.want {
			t.Errorf("RefreshAfter %v → %v, want %v", tc.in, got, tc.want)
		}
	}
	if NewCache(nil, CacheOptions{}).now == nil {
		t.Error("default clock is nil")
	}
}
