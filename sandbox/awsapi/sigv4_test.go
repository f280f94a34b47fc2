package awsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rdsgate/rdsgate/iamauth"
)

func TestParseAuthorization(t *testing.T) {
	good := "AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
	a, err := parseAuthorization(good)
	if err != nil {
		t.Fatal(err)
	}
	if a.AccessKeyID != "AKID" || a.Date != "20240102" || a.Region != "us-east-1" || a.Service != "sts" ||
		a.Terminator != "aws4_request" || strings.Join(a.SignedHeaders, ";") != "host;x-amz-date" || a.Signature != "abc" {
		t.Errorf("parsed %+v", a)
	}
	// Component order and spacing do not matter.
	if _, err := parseAuthorization("AWS4-HMAC-SHA256 Signature=abc,SignedHeaders=host,Credential=A/20240102/r/s/aws4_request"); err != nil {
		t.Errorf("reordered: %v", err)
	}
	for _, bad := range []string{
		"",
		"AWS4-HMAC-SHA1 Credential=A/20240102/r/s/aws4_request, SignedHeaders=host, Signature=x",
		"AWS4-HMAC-SHA256",
		"AWS4-HMAC-SHA256 Credential=A/20240102/r/s, SignedHeaders=host, Signature=x",
		"AWS4-HMAC-SHA256 Credential=A/2024010/r/s/aws4_request, SignedHeaders=host, Signature=x",
		"AWS4-HMAC-SHA256 Credential=A/20240102/r/s/aws4_request, Signature=x",
		"AWS4-HMAC-SHA256 Credential=A/20240102/r/s/aws4_request, SignedHeaders=host",
		"AWS4-HMAC-SHA256 Credential=A/20240102/r/s/aws4_request, SignedHeaders=, Signature=x",
		"AWS4-HMAC-SHA256 Credential=A/20240102/r/s/aws4_request, SignedHeaders=host, Signature=x, Signature=y",
		"AWS4-HMAC-SHA256 Credential=/20240102/r/s/aws4_request, SignedHeaders=host, Signature=x",
		"AWS4-HMAC-SHA256 Credential=A/20240102/r/s/aws4_request, SignedHeaders=host, Signature=x, Foo=bar",
		"AWS4-HMAC-SHA256 Credential",
		"AWS4-HMAC-SHA256 " + strings.Repeat("x", maxAuthorizationLen),
	} {
		if _, err := parseAuthorization(bad); err == nil {
			t.Errorf("parseAuthorization(%.80q) succeeded", bad)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")
	f.Add("AWS4-HMAC-SHA256 Credential=A/B/C/D/E,,,SignedHeaders=;;,Signature=")
	f.Add("AWS4-HMAC-SHA256 =,=,=")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err != nil {
			return
		}
		if a.AccessKeyID == "" || a.Region == "" || a.Service == "" || len(a.Date) != 8 || len(a.SignedHeaders) == 0 {
			t.Fatalf("accepted incomplete header %q: %+v", h, a)
		}
		// A parsed header must survive the rest of authentication without
		// panicking, whatever it says.
		e := newFuzzServer(t)
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
		r.Header.Set("Authorization", h)
		r.Header.Set("X-Amz-Date", amzDate(time.Now()))
		w := httptest.NewRecorder()
		e.Handler().ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			t.Fatalf("fuzzed header authenticated: %q", h)
		}
	})
}

func newFuzzServer(t testing.TB) *Server { return New(Options{World: testWorld(t)}) }

// TestSigV4Vanilla checks the signature of AWS's published get-vanilla
// test vector, computed by the verifier's own canonicalization.
func TestSigV4Vanilla(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://example.amazonaws.com/", nil)
	r.Host = "example.amazonaws.com"
	r.Header.Set("X-Amz-Date", "20150830T123600Z")
	signed := []string{"host", "x-amz-date"}
	creq := "GET\n" + canonicalPaths(r.URL)[0] + "\n\n" + canonicalHeaders(r, signed) + "\nhost;x-amz-date\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	sum := sha256.Sum256([]byte(creq))
	sts := "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n" + hex.EncodeToString(sum[:])
	key := iamauth.SigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "service")
	got := hex.EncodeToString(hmacSHA256(key, sts))
	if want := "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"; got != want {
		t.Errorf("signature = %s, want %s\ncanonical request:\n%s", got, want, creq)
	}
}

// TestSDKSignerAgrees signs odd requests with the SDK's SigV4 signer and
// checks that the verifier accepts them and refuses tampered copies.
func TestSDKSignerAgrees(t *testing.T) {
	w := testWorld(t)
	clock := &testClock{}
	s := New(Options{World: w, Now: clock.now})
	admin := principal(t, w, "admin")
	signer := v4.NewSigner()
	svc := s.byName["sts"]
	for _, tc := range []struct{ method, target, body string }{
		{"POST", "http://127.0.0.1:8080/", "Action=GetCallerIdentity&Version=2011-06-15"},
		{"GET", "http://127.0.0.1:8080/?Action=GetCallerIdentity&Version=2011-06-15&b=x%20y&a=%2F%2B~&a=1", ""},
		{"POST", "http://127.0.0.1:8080/a%20b/c~d", "x"},
		{"GET", "http://127.0.0.1:8080/?empty&k=", ""},
	} {
		r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		r.Header.Set("X-Custom", "  spaced   value  ")
		sum := sha256.Sum256([]byte(tc.body))
		err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: admin.AccessKeyID, SecretAccessKey: admin.SecretAccessKey},
			r, hex.EncodeToString(sum[:]), "sts", testRegion, clock.now())
		if err != nil {
			t.Fatal(err)
		}
		if _, ae := s.authenticate(r, []byte(tc.body), svc); ae != nil {
			t.Errorf("%s %s: refused: %s", tc.method, tc.target, ae.reason)
		}
		if _, ae := s.authenticate(r, []byte(tc.body+"!"), svc); ae == nil || ae.kind != authBadSignature {
			t.Errorf("%s %s: tampered body accepted (%v)", tc.method, tc.target, ae)
		}
		r.Header.Set("X-Custom", "other")
		if _, ae := s.authenticate(r, []byte(tc.body), svc); ae == nil || ae.kind != authBadSignature {
			t.Errorf("%s %s: tampered header accepted (%v)", tc.method, tc.target, ae)
		}
	}
}

// TestAuthFailures checks every authentication failure with the SDK
// clients of each protocol: the error codes are what AWS answers.
func TestAuthFailures(t *testing.T) {
	e := start(t)
	admin := principal(t, e.world, "admin")
	temp := principal(t, e.world, "temp")
	type codes struct{ query, ec2, json string }
	calls := func(cfg aws.Config) (q, x, j error) {
		_, q = sts.NewFromConfig(cfg).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
		_, x = ec2.NewFromConfig(cfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
		_, j = ssm.NewFromConfig(cfg).DescribeInstanceInformation(ctx(t), &ssm.DescribeInstanceInformationInput{})
		return
	}
	for _, tc := range []struct {
		name string
		cfg  aws.Config
		want codes
		log  string
	}{
		{"wrong secret", e.cfgKeys(admin.AccessKeyID, "wrong"+admin.SecretAccessKey, ""),
			codes{"SignatureDoesNotMatch", "AuthFailure", "InvalidSignatureException"}, "signature does not match"},
		{"unknown key", e.cfgKeys("AKIAUNKNOWNKEY000000", admin.SecretAccessKey, ""),
			codes{"InvalidClientTokenId", "AuthFailure", "UnrecognizedClientException"}, "is unknown"},
		{"temporary key without token", e.cfgKeys(temp.AccessKeyID, temp.SecretAccessKey, ""),
			codes{"InvalidClientTokenId", "AuthFailure", "UnrecognizedClientException"}, "carries no X-Amz-Security-Token"},
		{"temporary key with wrong token", e.cfgKeys(temp.AccessKeyID, temp.SecretAccessKey, temp.SessionToken+"x"),
			codes{"InvalidClientTokenId", "AuthFailure", "UnrecognizedClientException"}, "security token is not the one"},
		{"long-term key with a token", e.cfgKeys(admin.AccessKeyID, admin.SecretAccessKey, "bogus"),
			codes{"InvalidClientTokenId", "AuthFailure", "UnrecognizedClientException"}, "long-term key"},
		{"anonymous", func() aws.Config { c := e.cfgKeys("", "", ""); c.Credentials = aws.AnonymousCredentials{}; return c }(),
			codes{"MissingAuthenticationToken", "MissingAuthenticationToken", "MissingAuthenticationTokenException"}, "no Authorization header"},
		{"wrong region", func() aws.Config { c := e.cfg(t, "admin"); c.Region = "eu-west-1"; return c }(),
			codes{"SignatureDoesNotMatch", "AuthFailure", "InvalidSignatureException"}, "credential scope region"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, x, j := calls(tc.cfg)
			wantCode(t, q, tc.want.query)
			wantCode(t, x, tc.want.ec2)
			wantCode(t, j, tc.want.json)
			if !strings.Contains(e.log.String(), tc.log) {
				t.Errorf("log does not say %q", tc.log)
			}
		})
	}
	if strings.Contains(e.log.String(), admin.SecretAccessKey) || strings.Contains(e.log.String(), temp.SessionToken) {
		t.Error("log contains a secret")
	}
	// The temporary principal works with its token.
	if _, err := sts.NewFromConfig(e.cfg(t, "temp")).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("temp with its token: %v", err)
	}
}

// TestClockSkew shifts the server's clock: requests are refused with
// AWS's messages, and the SDK, reading the server's Date header, corrects
// its clock and succeeds on retry, as it does against AWS.
func TestClockSkew(t *testing.T) {
	e := start(t)
	for _, skew := range []time.Duration{20 * time.Minute, -20 * time.Minute} {
		e.clock.skew(skew)
		cfg := e.cfg(t, "admin")
		_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
		if skew > 0 {
			wantCode(t, err, "SignatureDoesNotMatch", "Signature expired: ", "- 15 min.)")
		} else {
			wantCode(t, err, "SignatureDoesNotMatch", "Signature not yet current: ", "+ 15 min.)")
		}
		_, err = rds.NewFromConfig(cfg).DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{})
		wantCode(t, err, "SignatureDoesNotMatch", "Signature ")
		_, err = ec2.NewFromConfig(cfg).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
		wantCode(t, err, "RequestExpired", "Request has expired.")
		_, err = secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String(masterARN)})
		wantCode(t, err, "InvalidSignatureException", "Signature ", " 5 min.)")

		// With retries, the SDK corrects its clock from the Date header.
		cfg.RetryMaxAttempts = 3
		if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{}); err != nil {
			t.Errorf("skew %s: SDK with clock skew correction: %v", skew, err)
		}
	}
	// Within the window, requests pass.
	e.clock.skew(4 * time.Minute)
	if _, err := ssm.NewFromConfig(e.cfg(t, "admin")).DescribeInstanceInformation(ctx(t), &ssm.DescribeInstanceInformationInput{}); err != nil {
		t.Errorf("4 min skew: %v", err)
	}
}

// TestRawAuthShapes checks the wire shapes of refusals, which the SDKs
// hide: statuses, XML and JSON bodies, and the error type header.
func TestRawAuthShapes(t *testing.T) {
	e := start(t)
	post := func(body string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.url+"/", strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	resp, body := post("Action=GetCallerIdentity&Version=2011-06-15", form)
	if resp.StatusCode != 403 || !strings.Contains(body, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>MissingAuthenticationToken</Code>`) ||
		!strings.Contains(body, "<RequestId>") || resp.Header.Get("X-Amzn-Requestid") == "" {
		t.Errorf("sts unsigned: %d %s", resp.StatusCode, body)
	}
	resp, body = post("Action=DescribeInstances&Version=2016-11-15", form)
	if resp.StatusCode != 401 || !strings.Contains(body, "<Response><Errors><Error><Code>MissingAuthenticationToken</Code>") || !strings.Contains(body, "<RequestID>") {
		t.Errorf("ec2 unsigned: %d %s", resp.StatusCode, body)
	}
	resp, body = post("{}", map[string]string{"Content-Type": jsonContentType, "X-Amz-Target": "AmazonSSM.DescribeInstanceInformation"})
	if resp.StatusCode != 400 || !strings.Contains(body, `"__type":"com.amazon.coral.service#MissingAuthenticationTokenException"`) ||
		!strings.HasPrefix(resp.Header.Get("X-Amzn-Errortype"), "MissingAuthenticationTokenException") {
		t.Errorf("ssm unsigned: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, body = post("Action=GetCallerIdentity", map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=x"})
	if resp.StatusCode != 400 || !strings.Contains(body, "<Code>IncompleteSignature</Code>") {
		t.Errorf("incomplete: %d %s", resp.StatusCode, body)
	}
	resp, body = post(strings.Repeat("a", MaxBodyBytes+1), form)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("huge body: %d %s", resp.StatusCode, body)
	}
}
