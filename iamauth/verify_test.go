package iamauth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestCanonicalRequestGolden pins the independent SigV4 implementation to
// the canonical request of the golden vector: GET, path "/", the sorted
// query without X-Amz-Signature, the lower-cased host with its port (443 is
// left out), signed headers "host" and the SHA-256 of the empty payload.
func TestCanonicalRequestGolden(t *testing.T) {
	p := mustParse(t, mustBuild(t, goldenEndpoint(), staticCreds(goldenAKID, goldenSecret, ""), goldenTime))
	const want = "GET\n/\n" +
		"Action=connect&DBUser=iam%20user&X-Amz-Algorithm=AWS4-HMAC-SHA256" +
		"&X-Amz-Credential=AKIDEXAMPLE%2F20240506%2Fus-east-1%2Frds-db%2Faws4_request" +
		"&X-Amz-Date=20240506T070809Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\n" +
		"host:mydb.abc123.us-east-1.rds.amazonaws.com:5432\n\nhost\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got := p.canonicalRequest(); got != want {
		t.Fatalf("canonical request:\n%s\nwant:\n%s", got, want)
	}
	if got := p.signature(goldenSecret); got != goldenSig {
		t.Fatalf("signature %s, want %s", got, goldenSig)
	}
	p443 := mustParse(t, strings.Replace(p.Redacted(), ":5432?", ":443?", 1))
	if cr := p443.canonicalRequest(); !strings.Contains(cr, "\nhost:"+goldenHost+"\n") {
		t.Fatalf("port 443 must be left out of the signed host:\n%s", cr)
	}
}

func TestVerifyTimeWindow(t *testing.T) {
	tok := mustBuild(t, goldenEndpoint(), staticCreds(goldenAKID, goldenSecret, ""), goldenTime)
	lookup := lookupOf(goldenAKID, goldenSecret, "")
	tests := []struct {
		name string
		now  time.Time
		want Reason // "" = accepted
	}{
		{"at signing", goldenTime, ""},
		{"last valid instant", goldenTime.Add(TokenLifetime), ""},
		{"one second too late", goldenTime.Add(TokenLifetime + time.Second), ReasonExpired},
		{"16 minutes later", goldenTime.Add(16 * time.Minute), ReasonExpired},
		{"signed within the skew ahead", goldenTime.Add(-ClockSkew), ""},
		{"signed beyond the skew ahead", goldenTime.Add(-ClockSkew - time.Second), ReasonNotYetValid},
		{"10 minutes ahead", goldenTime.Add(-10 * time.Minute), ReasonNotYetValid},
		{"other zone, same instant", goldenTime.In(time.FixedZone("X", 5*3600)), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tok, goldenExpect(), lookup, tc.now)
			if ReasonOf(err) != tc.want || (tc.want == "" && err != nil) {
				t.Fatalf("Verify at %v: %v, want reason %q", tc.now, err, tc.want)
			}
		})
	}
}

// TestVerifyReasons crafts one token per reason. Most checks come before the
// signature check, so editing the text of a good token is enough.
func TestVerifyReasons(t *testing.T) {
	plain := mustBuild(t, goldenEndpoint(), staticCreds(goldenAKID, goldenSecret, ""), goldenTime)
	sess := mustBuild(t, goldenEndpoint(), staticCreds(goldenAKID, goldenSecret, testSession), goldenTime)
	long := lookupOf(goldenAKID, goldenSecret, "")
	temp := lookupOf(goldenAKID, goldenSecret, testSession)
	repl := func(tok, old, new string) string {
		if !strings.Contains(tok, old) {
			t.Fatalf("test bug: %q not in token", old)
		}
		return strings.Replace(tok, old, new, 1)
	}
	exp := func(f func(e *Expect)) Expect { e := goldenExpect(); f(&e); return e }
	tests := []struct {
		name   string
		tok    string
		want   Expect
		lookup SecretLookup
		reason Reason
	}{
		{"good", plain, goldenExpect(), long, ""},
		{"good with session token", sess, goldenExpect(), temp, ""},
		{"good, expect mixed-case host", plain, exp(func(e *Expect) { e.Host = strings.ToUpper(goldenHost) }), long, ""},
		{"malformed", "garbage", goldenExpect(), long, ReasonMalformed},
		{"duplicate", plain + "&DBUser=admin", goldenExpect(), long, ReasonDuplicateParameter},
		{"action", repl(plain, "Action=connect", "Action=Connect"), goldenExpect(), long, ReasonBadAction},
		{"algorithm", repl(plain, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), goldenExpect(), long, ReasonBadAlgorithm},
		{"signed headers", repl(plain, "SignedHeaders=host", "SignedHeaders=host%3Bx-amz-date"), goldenExpect(), long, ReasonBadSignedHeaders},
		{"signed headers case", repl(plain, "SignedHeaders=host", "SignedHeaders=Host"), goldenExpect(), long, ReasonBadSignedHeaders},
		{"scope service", repl(plain, "%2Frds-db%2F", "%2Frds%2F"), goldenExpect(), long, ReasonBadCredentialScope},
		{"scope terminator", repl(plain, "aws4_request", "aws4_reques"), goldenExpect(), long, ReasonBadCredentialScope},
		{"scope date", repl(plain, "%2F20240506%2F", "%2F20240507%2F"), goldenExpect(), long, ReasonBadCredentialScope},
		{"region", plain, exp(func(e *Expect) { e.Region = "eu-west-1" }), long, ReasonWrongRegion},
		{"host", plain, exp(func(e *Expect) { e.Host = "other.abc123.us-east-1.rds.amazonaws.com" }), long, ReasonWrongHost},
		{"tunnel host", plain, exp(func(e *Expect) { e.Host = "localhost" }), long, ReasonWrongHost},
		{"port", plain, exp(func(e *Expect) { e.Port = 3306 }), long, ReasonWrongPort},
		{"user", plain, exp(func(e *Expect) { e.User = "admin" }), long, ReasonWrongUser},
		{"user case", plain, exp(func(e *Expect) { e.User = "IAM user" }), long, ReasonWrongUser},
		{"expires 901", repl(plain, "Expires=900", "Expires=901"), goldenExpect(), long, ReasonBadExpires},
		{"expires 0", repl(plain, "Expires=900", "Expires=0"), goldenExpect(), long, ReasonBadExpires},
		{"expires short", repl(plain, "Expires=900", "Expires=60"), goldenExpect(), long, ReasonSignatureMismatch},
		{"unknown key", plain, goldenExpect(), lookupOf("AKIAOTHER", goldenSecret, ""), ReasonUnknownAccessKey},
		{"session token missing", plain, goldenExpect(), temp, ReasonMissingSecurityToken},
		{"session token empty", repl(plain, "&X-Amz-SignedHeaders", "&X-Amz-Security-Token=&X-Amz-SignedHeaders"), goldenExpect(), temp, ReasonMissingSecurityToken},
		{"session token wrong", sess, goldenExpect(), lookupOf(goldenAKID, goldenSecret, testSession+"x"), ReasonBadSecurityToken},
		{"session token on long-term key", sess, goldenExpect(), long, ReasonBadSecurityToken},
		{"wrong secret", plain, goldenExpect(), lookupOf(goldenAKID, goldenSecret+"x", ""), ReasonSignatureMismatch},
		{"signature upper case", repl(plain, goldenSig, strings.ToUpper(goldenSig)), goldenExpect(), long, ReasonSignatureMismatch},
		{"signature truncated", repl(plain, goldenSig, goldenSig[:63]), goldenExpect(), long, ReasonSignatureMismatch},
		{"user changed", repl(plain, "iam%20user", "iam%20usez"), exp(func(e *Expect) { e.User = "iam usez" }), long, ReasonSignatureMismatch},
		{"host changed", repl(plain, "mydb.", "mydc."), exp(func(e *Expect) { e.Host = "mydc.abc123.us-east-1.rds.amazonaws.com" }), long, ReasonSignatureMismatch},
		{"port changed", repl(plain, ":5432?", ":5433?"), exp(func(e *Expect) { e.Port = 5433 }), long, ReasonSignatureMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Verify(tc.tok, tc.want, tc.lookup, goldenTime)
			if tc.reason == "" {
				if err != nil || got == nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil || got != nil {
				t.Fatalf("Verify accepted the token (%+v, %v), want %s", got, err, tc.reason)
			}
			if ReasonOf(err) != tc.reason || !errors.Is(err, tc.reason) {
				t.Fatalf("Verify: %v, want reason %s", err, tc.reason)
			}
			if !strings.HasPrefix(err.Error(), "iamauth: token rejected: "+string(tc.reason)) {
				t.Fatalf("error text %q", err)
			}
			assertNoSecrets(t, err, goldenSig, goldenSecret, testSession, encode(testSession), mustParse(t, sess).Signature)
		})
	}
}

func TestVerifyBadArguments(t *testing.T) {
	tok := mustBuild(t, goldenEndpoint(), staticCreds(goldenAKID, goldenSecret, ""), goldenTime)
	lookup := lookupOf(goldenAKID, goldenSecret, "")
	tests := []struct {
		name   string
		want   Expect
		lookup SecretLookup
	}{
		{"nil lookup", goldenExpect(), nil},
		{"empty host", Expect{Port: 5432, Region: goldenRegion, User: "u"}, lookup},
		{"no port", Expect{Host: goldenHost, Region: goldenRegion, User: "u"}, lookup},
		{"no region", Expect{Host: goldenHost, Port: 5432, User: "u"}, lookup},
		{"no user", Expect{Host: goldenHost, Port: 5432, Region: goldenRegion}, lookup},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tok, tc.want, tc.lookup, goldenTime)
			if err == nil || ReasonOf(err) != "" || !strings.HasPrefix(err.Error(), "iamauth: verify: ") {
				t.Fatalf("Verify: %v, want a plain iamauth: verify: error", err)
			}
		})
	}
}

// TestVerifyAWSCLITokens feeds tokens the real AWS CLI printed "now" (no
// faketime) to Verify, then checks that every single-character change and
// every wrong expectation is refused, with distinct reasons.
func TestVerifyAWSCLITokens(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the AWS CLI")
	}
	const (
		akid    = "AKIAIOSFODNN7EXAMPLE"
		secret  = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
		host    = "orders-prod.c9akciq32.eu-west-1.rds.amazonaws.com"
		port    = 5432
		user    = "Jane_RW"
		region  = "eu-west-1"
		session = testSession
	)
	want := Expect{Host: host, Port: port, Region: region, User: user}
	cases := []struct {
		name, session string
	}{
		{"long-term key", ""},
		{"session token", session},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := cliToken(t, time.Time{}, akid, secret, c.session, host, port, user, region)
			now := time.Now()
			lookup := lookupOf(akid, secret, c.session)
			p, err := Verify(tok, want, lookup, now)
			if err != nil {
				t.Fatalf("Verify(CLI token %s): %v", mustParse(t, tok).Redacted(), err)
			}
			secrets := []string{p.Signature, secret, c.session, encode(c.session)}

			// Every single-character change must be refused, never accepted,
			// never panic. Changes that only alter the case of a host letter
			// or of a percent escape's hex digit spell the same token (see
			// TestParseEquivalentSpellings) and are skipped.
			q := strings.IndexByte(tok, '?')
			n := 0
			for i := 0; i < len(tok); i++ {
				for _, r := range mutations(tok[i]) {
					caseOnly := strings.EqualFold(string(r), string(tok[i]))
					if caseOnly && (i < q || tok[max(i-1, 0)] == '%' || tok[max(i-2, 0)] == '%') {
						continue
					}
					m := tok[:i] + string(r) + tok[i+1:]
					if _, err := Verify(m, want, lookup, now); err == nil {
						t.Fatalf("Verify accepted a token changed at %d (%q→%q)", i, tok[i], r)
					} else {
						assertNoSecrets(t, err, secrets...)
					}
					n++
				}
			}
			t.Logf("%d single-character changes of a %d-byte token refused", n, len(tok))

			// Wrong expectations and clocks: one distinct reason each.
			exp := func(f func(e *Expect)) Expect { e := want; f(&e); return e }
			refusals := []struct {
				name   string
				want   Expect
				lookup SecretLookup
				now    time.Time
				reason Reason
			}{
				{"user", exp(func(e *Expect) { e.User = "jane_rw" }), lookup, now, ReasonWrongUser},
				{"host", exp(func(e *Expect) { e.Host = "localhost" }), lookup, now, ReasonWrongHost},
				{"port", exp(func(e *Expect) { e.Port = 15432 }), lookup, now, ReasonWrongPort},
				{"region", exp(func(e *Expect) { e.Region = "eu-west-2" }), lookup, now, ReasonWrongRegion},
				{"expired", want, lookup, now.Add(16 * time.Minute), ReasonExpired},
				{"future-dated", want, lookup, now.Add(-10 * time.Minute), ReasonNotYetValid},
				{"wrong secret", want, lookupOf(akid, strings.ToLower(secret), c.session), now, ReasonSignatureMismatch},
				{"unknown key", want, lookupOf("AKIAOTHEREXAMPLE", secret, c.session), now, ReasonUnknownAccessKey},
			}
			if c.session == "" {
				refusals = append(refusals, struct {
					name   string
					want   Expect
					lookup SecretLookup
					now    time.Time
					reason Reason
				}{"session token required but missing", want, lookupOf(akid, secret, session), now, ReasonMissingSecurityToken})
			} else {
				refusals = append(refusals, struct {
					name   string
					want   Expect
					lookup SecretLookup
					now    time.Time
					reason Reason
				}{"wrong session token", want, lookupOf(akid, secret, session[1:]), now, ReasonBadSecurityToken})
			}
			seen := map[Reason]string{}
			for _, r := range refusals {
				_, err := Verify(tok, r.want, r.lookup, r.now)
				if ReasonOf(err) != r.reason {
					t.Errorf("%s: Verify: %v, want reason %s", r.name, err, r.reason)
				}
				assertNoSecrets(t, err, secrets...)
				if prev, dup := seen[r.reason]; dup {
					t.Errorf("%s and %s share reason %s", prev, r.name, r.reason)
				}
				seen[r.reason] = r.name
			}
		})
	}
}

// mutations returns replacement characters for c: its other case (if a
// letter) and a spread of characters that are valid somewhere in a token.
func mutations(c byte) []byte {
	var out []byte
	switch {
	case c >= 'a' && c <= 'z':
		out = append(out, c-'a'+'A')
	case c >= 'A' && c <= 'Z':
		out = append(out, c-'A'+'a')
	}
	for _, r := range []byte("a0Z9-_.~%&=/?:+ ") {
		if r != c {
			out = append(out, r)
		}
	}
	return out
}
