package iamauth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseGolden(t *testing.T) {
	tok := mustBuild(t, goldenEndpoint(), staticCreds(goldenAKID, goldenSecret, testSession), goldenTime)
	p := mustParse(t, tok)
	want := Token{
		Host: goldenHost, Port: goldenPort, Action: "connect", DBUser: goldenUser,
		Algorithm: "AWS4-HMAC-SHA256", AccessKeyID: goldenAKID, Date: "20240506", Region: goldenRegion,
		Service: "rds-db", SignedAt: goldenTime, Expires: 900 * time.Second,
		SecurityToken: testSession, SignedHeaders: "host", Signature: p.Signature,
	}
	if diff := cmp.Diff(want, *p, cmpopts.IgnoreUnexported(Token{})); diff != "" {
		t.Fatalf("Parse (-want +got):\n%s", diff)
	}
	if len(p.Signature) != 64 || p.terminator != "aws4_request" || !p.hasSecToken {
		t.Fatalf("Parse: signature %d chars, terminator %q, hasSecToken %v", len(p.Signature), p.terminator, p.hasSecToken)
	}
	if !p.ExpiresAt().Equal(goldenTime.Add(TokenLifetime)) {
		t.Fatalf("ExpiresAt = %v", p.ExpiresAt())
	}
	if p.Endpoint() != goldenEndpoint() {
		t.Fatalf("Endpoint = %v", p.Endpoint())
	}
}

func TestParseForms(t *testing.T) {
	base := mustBuild(t, goldenEndpoint(), staticCreds(goldenAKID, goldenSecret, ""), goldenTime)
	tests := []struct {
		name string
		tok  string
		host string
		port int
	}{
		{"SDK form host:port?", base, goldenHost, 5432},
		{"CLI form host:port/?", strings.Replace(base, "?", "/?", 1), goldenHost, 5432},
		{"mixed-case host is lower-cased", "MyDB.ABC123" + strings.TrimPrefix(base, "mydb.abc123"), goldenHost, 5432},
		{"IPv6", "[FD00::1]:5432" + base[strings.Index(base, "?"):], "fd00::1", 5432},
		{"port 443", strings.Replace(base, ":5432?", ":443?", 1), goldenHost, 443},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.tok)
			if p.Host != tc.host || p.Port != tc.port {
				t.Fatalf("host %q port %d, want %q %d", p.Host, p.Port, tc.host, tc.port)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	base := mustBuild(t, goldenEndpoint(), staticCreds(goldenAKID, goldenSecret, ""), goldenTime)
	q := base[strings.Index(base, "?"):]
	repl := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("test bug: %q not in token", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	tests := []struct {
		name   string
		tok    string
		reason Reason
		detail string
	}{
		{"empty", "", ReasonMalformed, "no '?'"},
		{"no query", goldenHost + ":5432", ReasonMalformed, "no '?'"},
		{"empty query", goldenHost + ":5432?", ReasonMalformed, "query is empty"},
		{"too long", base + strings.Repeat("x", MaxTokenLen), ReasonMalformed, "more than the 8192 allowed"},
		{"scheme", "https://" + base, ReasonMalformed, "scheme"},
		{"other path", goldenHost + ":5432/x/" + q, ReasonMalformed, "path"},
		{"double slash", goldenHost + ":5432//" + q, ReasonMalformed, "path"},
		{"user info", "u@" + base, ReasonMalformed, "user info"},
		{"no port", goldenHost + q, ReasonMalformed, "host:port"},
		{"empty host", ":5432" + q, ReasonMalformed, "host is empty"},
		{"bad host", "my_db!x:5432" + q, ReasonMalformed, "contains '!'"},
		{"port 0", goldenHost + ":0" + q, ReasonMalformed, "port"},
		{"port 65536", goldenHost + ":65536" + q, ReasonMalformed, "not in 1..65535"},
		{"port leading zero", goldenHost + ":05432" + q, ReasonMalformed, "port"},
		{"port sign", goldenHost + ":+5432" + q, ReasonMalformed, "port"},
		{"port not a number", goldenHost + ":pg" + q, ReasonMalformed, "port"},
		{"empty parameter", repl("&X-Amz-Date", "&&X-Amz-Date"), ReasonMalformed, "has no '='"},
		{"no =", repl("Action=connect", "Action"), ReasonMalformed, "has no '='"},
		{"bare plus", repl("iam%20user", "iam+user"), ReasonMalformed, "bare '+'"},
		{"raw space", repl("iam%20user", "iam user"), ReasonMalformed, "percent-encoded"},
		{"raw non-ASCII", repl("iam%20user", "iäm"), ReasonMalformed, "percent-encoded"},
		{"fragment", base + "#x", ReasonMalformed, "percent-encoded"},
		{"bad escape", repl("iam%20user", "iam%2"), ReasonMalformed, "two hex digits"},
		{"bad escape hex", repl("iam%20user", "iam%zzuser"), ReasonMalformed, "two hex digits"},
		{"bad escape in name", repl("Action=", "Act%ion="), ReasonMalformed, "two hex digits"},
		{"unknown parameter", base + "&X-Amz-User-Agent=x", ReasonMalformed, "unexpected parameter"},
		{"lower-case name", repl("Action=", "action="), ReasonMalformed, "unexpected parameter"},
		{"missing Action", repl("Action=connect&", ""), ReasonMalformed, "Action is missing"},
		{"missing signature", base[:strings.Index(base, "&X-Amz-Signature")], ReasonMalformed, "X-Amz-Signature is missing"},
		{"duplicate", base + "&Action=connect", ReasonDuplicateParameter, "Action occurs more than once"},
		{"duplicate via escape", base + "&%41ction=connect", ReasonDuplicateParameter, "Action occurs more than once"},
		{"duplicate signature", base + "&X-Amz-Signature=" + goldenSig, ReasonDuplicateParameter, "X-Amz-Signature"},
		{"credential 4 parts", repl("%2Frds-db", ""), ReasonMalformed, "X-Amz-Credential is not"},
		{"credential empty part", repl("AKIDEXAMPLE%2F", "%2F"), ReasonMalformed, "X-Amz-Credential is not"},
		{"date format", repl("20240506T070809Z", "2024-05-06T07:08:09Z"), ReasonMalformed, "X-Amz-Date"},
		{"date invalid", repl("20240506T070809Z", "20240532T070809Z"), ReasonMalformed, "X-Amz-Date"},
		{"expires not a number", repl("X-Amz-Expires=900", "X-Amz-Expires=9e2"), ReasonBadExpires, "not an integer"},
		{"expires negative", repl("X-Amz-Expires=900", "X-Amz-Expires=-900"), ReasonBadExpires, "not an integer"},
		{"expires huge", repl("X-Amz-Expires=900", "X-Amz-Expires=9000000000"), ReasonBadExpires, "not an integer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.tok)
			if err == nil {
				t.Fatalf("Parse accepted %q: %+v", tc.tok, p)
			}
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Reason != tc.reason || !strings.Contains(ve.Detail, tc.detail) {
				t.Fatalf("error %v, want reason %s with %q", err, tc.reason, tc.detail)
			}
			if !errors.Is(err, tc.reason) || ReasonOf(err) != tc.reason {
				t.Fatalf("errors.Is / ReasonOf do not report %s for %v", tc.reason, err)
			}
			assertNoSecrets(t, err, goldenSig)
		})
	}
}

// TestParseEquivalentSpellings documents what Parse treats as the same
// token: escapes in either hex case (and escaped unreserved characters), and
// any host case. Verify recomputes the signature from the decoded values and
// the lower-cased host, so these spellings verify too.
func TestParseEquivalentSpellings(t *testing.T) {
	base := mustBuild(t, goldenEndpoint(), staticCreds(goldenAKID, goldenSecret, ""), goldenTime)
	for _, tok := range []string{
		strings.ReplaceAll(base, "%2F", "%2f"),
		strings.Replace(base, "Action=connect", "Action=%63onnect", 1),
		strings.Replace(base, "mydb.abc123", "MYDB.ABC123", 1),
		// Parameter order does not matter.
		strings.Replace(base, "Action=connect&DBUser=iam%20user", "DBUser=iam%20user&Action=connect", 1),
	} {
		if _, err := Verify(tok, goldenExpect(), lookupOf(goldenAKID, goldenSecret, ""), goldenTime); err != nil {
			t.Errorf("Verify(%s): %v", tok, err)
		}
	}
}

func TestRedacted(t *testing.T) {
	tests := []struct {
		name, session string
		slash         bool
	}{
		{"plain SDK form", "", false},
		{"session CLI form", testSession, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := mustBuild(t, goldenEndpoint(), staticCreds(goldenAKID, goldenSecret, tc.session), goldenTime)
			if tc.slash {
				tok = strings.Replace(tok, "?", "/?", 1)
			}
			p := mustParse(t, tok)
			r := p.Redacted()
			if strings.Contains(r, p.Signature) || (tc.session != "" && strings.Contains(r, encode(tc.session))) {
				t.Fatalf("Redacted leaks: %s", r)
			}
			want := strings.Replace(tok, p.Signature, "REDACTED", 1)
			if tc.session != "" {
				want = strings.Replace(want, encode(tc.session), "REDACTED", 1)
			}
			if r != want {
				t.Fatalf("Redacted:\n got %s\nwant %s", r, want)
			}
			if _, err := Parse(r); err != nil {
				t.Fatalf("Redacted token does not parse: %v", err)
			}
		})
	}
}

func TestEncodeUnescape(t *testing.T) {
	tests := []struct{ raw, enc string }{
		{"", ""},
		{"AZaz09-_.~", "AZaz09-_.~"},
		{"iam user", "iam%20user"},
		{"a+b/c=d&e?f%g", "a%2Bb%2Fc%3Dd%26e%3Ff%25g"},
		{"ä", "%C3%A4"},
		{"\x00\xff", "%00%FF"},
	}
	for _, tc := range tests {
		if got := encode(tc.raw); got != tc.enc {
			t.Errorf("encode(%q) = %q, want %q", tc.raw, got, tc.enc)
		}
		if got, err := unescape(tc.enc); err != nil || got != tc.raw {
			t.Errorf("unescape(%q) = %q, %v; want %q", tc.enc, got, err, tc.raw)
		}
	}
}
