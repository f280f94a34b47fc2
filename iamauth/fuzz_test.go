package iamauth

import (
	"errors"
	"strings"
	"testing"
)

// fuzzSeeds are real tokens in both forms, with and without a security
// token, plus a few near misses.
func fuzzSeeds(f *testing.F) {
	plain := mustBuild(f, goldenEndpoint(), staticCreds(goldenAKID, goldenSecret, ""), goldenTime)
	sess := mustBuild(f, goldenEndpoint(), staticCreds(goldenAKID, goldenSecret, testSession), goldenTime)
	for _, s := range []string{
		plain, sess,
		strings.Replace(plain, "?", "/?", 1),
		strings.Replace(sess, "?", "/?", 1),
		"[::1]:443?" + plain[strings.IndexByte(plain, '?')+1:],
		plain + "&Action=connect",
		strings.Replace(plain, "%20", "+", 1),
		strings.Replace(plain, "%20", "%2", 1),
		"", "?", ":?", "h:1?=", "h:1?a=b&", "h:99999?&&&", "%", "h:1/?%zz=1",
	} {
		f.Add(s)
	}
}

func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Reason == "" {
				t.Fatalf("Parse error is not a *VerifyError with a reason: %v", err)
			}
			if p != nil {
				t.Fatal("Parse returned a token and an error")
			}
			return
		}
		if len(s) > MaxTokenLen {
			t.Fatalf("Parse accepted %d bytes", len(s))
		}
		if p.Host != strings.ToLower(p.Host) || p.Port < 1 || p.Port > 65535 {
			t.Fatalf("Parse gave host %q port %d", p.Host, p.Port)
		}
		// The redacted text is a token with the same structure, whose
		// signature and security token read "REDACTED".
		r := p.Redacted()
		q, err := Parse(r)
		if err != nil {
			t.Fatalf("Redacted %q does not parse: %v", r, err)
		}
		if q.Signature != "REDACTED" || (p.hasSecToken && q.SecurityToken != "REDACTED") {
			t.Fatalf("Redacted leaks: %s", r)
		}
		if q.Host != p.Host || q.Port != p.Port || q.DBUser != p.DBUser || q.AccessKeyID != p.AccessKeyID || !q.SignedAt.Equal(p.SignedAt) {
			t.Fatalf("Redacted changed the token: %+v vs %+v", q, p)
		}
		_ = p.canonicalRequest()
	})
}

func FuzzVerify(f *testing.F) {
	fuzzSeeds(f)
	lookup := func(id string) (Secret, bool) {
		switch id {
		case goldenAKID:
			return Secret{SecretAccessKey: goldenSecret}, true
		case "ASIATEMP":
			return Secret{SecretAccessKey: goldenSecret, SessionToken: testSession}, true
		}
		return Secret{}, false
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Verify(s, goldenExpect(), lookup, goldenTime)
		if err != nil {
			if p != nil {
				t.Fatal("Verify returned a token and an error")
			}
			if ReasonOf(err) == "" {
				t.Fatalf("Verify error without a reason: %v", err)
			}
			assertNoSecrets(t, err, goldenSecret, testSession, encode(testSession))
			return
		}
		// Accepted: it must be the golden endpoint, and its signature the one
		// the secret gives.
		if p.Host != goldenHost || p.Port != goldenPort || p.DBUser != goldenUser || p.Region != goldenRegion {
			t.Fatalf("Verify accepted a token for %v", p.Endpoint())
		}
		if p.Signature != p.signature(goldenSecret) {
			t.Fatal("Verify accepted a wrong signature")
		}
	})
}
