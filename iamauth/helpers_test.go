package iamauth

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// The golden vector: botocore, the AWS CLI, the SDK's signer and this
// package's own SigV4 implementation agree on it (TestBuildGolden,
// TestBuildMatchesBotocore, TestBuildMatchesAWSCLI, TestCanonicalRequestGolden).
const (
	goldenAKID   = "AKIDEXAMPLE"
	goldenSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	goldenHost   = "mydb.abc123.us-east-1.rds.amazonaws.com"
	goldenRegion = "us-east-1"
	goldenUser   = "iam user"
	goldenPort   = 5432
	goldenSig    = "ca44b940ecd348f8ccc916d67192362b1934702fb5ce94bb7fede8c65c23fcf8"
	// A made-up session token shaped like STS's (base64 with '+', '/' and '=').
	testSession = "FwoGZXIvYXdzEBYaDHqa0AP+eXAmPlE/ToKeN+with/slashes+and+plus==" +
		"IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6mdXYpNQlq+m7q9kNoGLNuQEXAMPLE="
)

var goldenTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func goldenEndpoint() Endpoint {
	return Endpoint{Host: goldenHost, Port: goldenPort, Region: goldenRegion, User: goldenUser}
}

func goldenExpect() Expect { return Expect(goldenEndpoint()) }

func staticCreds(akid, secret, session string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(akid, secret, session)
}

// lookupOf knows exactly one key.
func lookupOf(akid, secret, session string) SecretLookup {
	return func(id string) (Secret, bool) {
		if id != akid {
			return Secret{}, false
		}
		return Secret{SecretAccessKey: secret, SessionToken: session}, true
	}
}

func mustBuild(t testing.TB, e Endpoint, creds aws.CredentialsProvider, now time.Time) string {
	t.Helper()
	tok, err := Build(context.Background(), e, creds, now)
	if err != nil {
		t.Fatalf("Build(%v): %v", e, err)
	}
	return tok
}

func mustParse(t testing.TB, tok string) *Token {
	t.Helper()
	p, err := Parse(tok)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

// paramMap returns the decoded parameters of a token plus its host and
// port, for comparing tokens of different generators (order and the "/"
// before "?" differ, the meaning must not).
func paramMap(t testing.TB, tok string) map[string]string {
	t.Helper()
	p := mustParse(t, tok)
	m := map[string]string{"(host)": p.Host, "(port)": itoa(p.Port)}
	for _, q := range p.params {
		m[q.name] = q.value
	}
	return m
}

func itoa(n int) string { return strconv.Itoa(n) }

// assertNoSecrets fails if an error message contains secret material.
func assertNoSecrets(t testing.TB, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" && len(s) >= 8 && strings.Contains(msg, s) {
			t.Fatalf("error message leaks secret material: %q", msg)
		}
	}
}

// fakeClock is a settable clock for the cache.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// rotatingCreds hands out generation-numbered keys; Rotate moves on.
type rotatingCreds struct {
	mu        sync.Mutex
	gen       int
	canExpire bool
	expires   time.Time
	err       error
}

func (r *rotatingCreds) Retrieve(context.Context) (aws.Credentials, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return aws.Credentials{}, r.err
	}
	return aws.Credentials{
		AccessKeyID:     "AKIAROTATING" + itoa(r.gen),
		SecretAccessKey: "secret-of-generation-" + itoa(r.gen),
		CanExpire:       r.canExpire,
		Expires:         r.expires,
		Source:          "test",
	}, nil
}

func (r *rotatingCreds) Rotate() {
	r.mu.Lock()
	r.gen++
	r.mu.Unlock()
}

func (r *rotatingCreds) set(f func(r *rotatingCreds)) {
	r.mu.Lock()
	f(r)
	r.mu.Unlock()
}

func (r *rotatingCreds) lookup(id string) (Secret, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for g := 0; g <= r.gen; g++ {
		if id == "AKIAROTATING"+itoa(g) {
			return Secret{SecretAccessKey: "secret-of-generation-" + itoa(g)}, true
		}
	}
	return Secret{}, false
}

var errNoCreds = errors.New("no credentials today")
