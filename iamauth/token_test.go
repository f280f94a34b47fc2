package iamauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	rdsauth "github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/google/go-cmp/cmp"
)

func TestBuildGolden(t *testing.T) {
	const want = goldenHost + ":5432?Action=connect&DBUser=iam%20user&X-Amz-Algorithm=AWS4-HMAC-SHA256" +
		"&X-Amz-Credential=AKIDEXAMPLE%2F20240506%2Fus-east-1%2Frds-db%2Faws4_request" +
		"&X-Amz-Date=20240506T070809Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=" + goldenSig
	creds := staticCreds(goldenAKID, goldenSecret, "")
	tests := []struct {
		name string
		e    Endpoint
		want string
	}{
		{"golden", goldenEndpoint(), want},
		// botocore lower-cases the host for signing; so does Build (the SDK alone would not).
		{"mixed-case host", Endpoint{Host: "MyDB.ABC123.us-east-1.rds.amazonaws.com", Port: goldenPort, Region: goldenRegion, User: goldenUser}, want},
		// Port 443 stays in the text but not in the signed host; signature from botocore 1.43.11.
		{"port 443", Endpoint{Host: goldenHost, Port: 443, Region: goldenRegion, User: goldenUser},
			strings.Replace(strings.Replace(want, ":5432?", ":443?", 1), goldenSig, "92077bcd45fbe210c351443fb5449775c40a8090bc8e9ef75d9afd9e64bd9498", 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustBuild(t, tc.e, creds, goldenTime)
			if got != tc.want {
				t.Fatalf("Build:\n got %s\nwant %s", got, tc.want)
			}
			// A non-UTC clock must not matter.
			if got2 := mustBuild(t, tc.e, creds, goldenTime.In(time.FixedZone("X", -7*3600))); got2 != got {
				t.Fatalf("Build depends on the time zone of now:\n%s\n%s", got, got2)
			}
			want := Expect{Host: tc.e.Host, Port: tc.e.Port, Region: tc.e.Region, User: tc.e.User}
			tok, err := Verify(got, want, lookupOf(goldenAKID, goldenSecret, ""), goldenTime)
			if err != nil {
				t.Fatalf("Verify(golden): %v", err)
			}
			if tok.Signature != mustParse(t, tc.want).Signature || tok.DBUser != goldenUser || tok.Host != goldenHost {
				t.Fatalf("Verify returned %+v", tok)
			}
		})
	}
}

func TestBuildKeepsUserCase(t *testing.T) {
	e := goldenEndpoint()
	e.User = "IAM_User"
	tok := mustParse(t, mustBuild(t, e, staticCreds(goldenAKID, goldenSecret, ""), goldenTime))
	if tok.DBUser != "IAM_User" {
		t.Fatalf("DBUser = %q, want IAM_User", tok.DBUser)
	}
}

// TestBuildMatchesSDK checks Build against feature/rds/auth.BuildAuthToken
// itself, at the instant the SDK chose (it has no clock option).
func TestBuildMatchesSDK(t *testing.T) {
	tests := []struct {
		name    string
		session string
		user    string
		port    int
	}{
		{"plain", "", goldenUser, 5432},
		{"session token", testSession, "app+rw/x=y ä", 3306},
		{"port 443", "", "u", 443},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			creds := staticCreds(goldenAKID, goldenSecret, tc.session)
			sdk, err := rdsauth.BuildAuthToken(context.Background(), goldenHost+":"+itoa(tc.port), goldenRegion, tc.user, creds)
			if err != nil {
				t.Fatal(err)
			}
			at := mustParse(t, sdk).SignedAt
			e := Endpoint{Host: goldenHost, Port: tc.port, Region: goldenRegion, User: tc.user}
			if got := mustBuild(t, e, creds, at); got != sdk {
				t.Fatalf("Build differs from the SDK:\n got %s\nwant %s", got, sdk)
			}
			if _, err := Verify(sdk, Expect(e), lookupOf(goldenAKID, goldenSecret, tc.session), at.Add(time.Minute)); err != nil {
				t.Fatalf("Verify(SDK token): %v", err)
			}
		})
	}
}

func TestBuildIPv6(t *testing.T) {
	creds := staticCreds(goldenAKID, goldenSecret, "")
	for _, host := range []string{"::1", "[::1]", "FD00::1"} {
		e := Endpoint{Host: host, Port: 5432, Region: goldenRegion, User: "u"}
		tok := mustBuild(t, e, creds, goldenTime)
		if !strings.HasPrefix(tok, "[") || !strings.Contains(tok, "]:5432?") {
			t.Fatalf("Build(%q) = %s, want a bracketed host", host, tok)
		}
		if _, err := Verify(tok, Expect(e), lookupOf(goldenAKID, goldenSecret, ""), goldenTime); err != nil {
			t.Fatalf("Verify(%s): %v", tok, err)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	good := goldenEndpoint()
	with := func(f func(e *Endpoint)) Endpoint { e := good; f(&e); return e }
	static := staticCreds(goldenAKID, goldenSecret, "")
	tests := []struct {
		name  string
		e     Endpoint
		creds aws.CredentialsProvider
		want  string
	}{
		{"empty host", with(func(e *Endpoint) { e.Host = "" }), static, "host is empty"},
		{"port 0", with(func(e *Endpoint) { e.Port = 0 }), static, "port 0 is outside 1..65535"},
		{"port 65536", with(func(e *Endpoint) { e.Port = 65536 }), static, "port 65536 is outside"},
		{"negative port", with(func(e *Endpoint) { e.Port = -1 }), static, "outside 1..65535"},
		{"empty region", with(func(e *Endpoint) { e.Region = "" }), static, "region is empty"},
		{"bad region", with(func(e *Endpoint) { e.Region = "us-east-1/x" }), static, "only a-z, 0-9 and '-'"},
		{"empty user", with(func(e *Endpoint) { e.User = "" }), static, "user is empty"},
		{"host with port", with(func(e *Endpoint) { e.Host = goldenHost + ":5432" }), static, "must not contain a port"},
		{"host with scheme", with(func(e *Endpoint) { e.Host = "https://" + goldenHost }), static, "must not contain a port or a scheme"},
		{"host with path", with(func(e *Endpoint) { e.Host = goldenHost + "/x" }), static, "contains '/'"},
		{"host with space", with(func(e *Endpoint) { e.Host = "my db" }), static, "contains ' '"},
		{"nil creds", good, nil, "credentials provider is nil"},
		{"creds fail", good, aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, errNoCreds
		}), "retrieve credentials: no credentials today"},
		{"empty key", good, staticCreds("", "", ""), "retrieve credentials"},
		{"no secret", good, aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID"}, nil
		}), "no access key id or secret key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Build(context.Background(), tc.e, tc.creds, goldenTime)
			if err == nil {
				t.Fatalf("Build succeeded: %s", tok)
			}
			if !strings.HasPrefix(err.Error(), "iamauth: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to start with \"iamauth: \" and contain %q", err, tc.want)
			}
		})
	}
}

// TestBuildMatchesBotocore compares Build with botocore's
// generate_db_auth_token at the same pinned instant: same host and port, same
// decoded parameters, same signature.
func TestBuildMatchesBotocore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs python3")
	}
	cases := []struct {
		name    string
		host    string
		port    int
		user    string
		session string
		region  string
	}{
		{"plain", goldenHost, goldenPort, goldenUser, "", goldenRegion},
		{"session token", goldenHost, goldenPort, goldenUser, testSession, goldenRegion},
		{"mixed-case endpoint", "MyDB.ABC123.us-east-1.rds.amazonaws.com", goldenPort, goldenUser, "", goldenRegion},
		{"mixed-case user with space", goldenHost, 3306, "Jane Doe_RW", "", "eu-central-1"},
		{"reserved characters in user", goldenHost, 5432, "a+b/c=d&e?f%g~h", testSession, "ap-southeast-2"},
		{"port 443", goldenHost, 443, "u", "", goldenRegion},
	}
	reqs := make([]botocoreReq, len(cases))
	for i, c := range cases {
		reqs[i] = botocoreReq{Time: goldenTime.Format(time.RFC3339), Region: c.region, AKID: goldenAKID,
			Secret: goldenSecret, Session: c.session, Host: c.host, Port: c.port, User: c.user}
	}
	boto := botocoreTokens(t, reqs)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := Endpoint{Host: c.host, Port: c.port, Region: c.region, User: c.user}
			ours := mustBuild(t, e, staticCreds(goldenAKID, goldenSecret, c.session), goldenTime)
			if diff := cmp.Diff(paramMap(t, boto[i]), paramMap(t, ours)); diff != "" {
				t.Fatalf("Build differs from botocore (-botocore +ours):\n%s\nbotocore: %s\nours:     %s", diff, boto[i], ours)
			}
			if c.name == "plain" && mustParse(t, boto[i]).Signature != goldenSig {
				t.Fatalf("botocore's clock was not pinned: %s", boto[i])
			}
			if _, err := Verify(boto[i], Expect(e), lookupOf(goldenAKID, goldenSecret, c.session), goldenTime); err != nil {
				t.Fatalf("Verify(botocore token): %v", err)
			}
		})
	}
}

// TestBuildMatchesAWSCLI compares Build with the real AWS CLI v2 run under
// faketime at the golden instant. Each CLI run costs about 0.7 s.
func TestBuildMatchesAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the AWS CLI")
	}
	cases := []struct {
		name, host, user, session string
	}{
		{"plain", goldenHost, goldenUser, ""},
		{"session token", goldenHost, goldenUser, testSession},
		{"mixed-case endpoint and user", "MyDB.ABC123.us-east-1.rds.amazonaws.com", "Jane Doe", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cli := cliToken(t, goldenTime, goldenAKID, goldenSecret, c.session, c.host, goldenPort, c.user, goldenRegion)
			e := Endpoint{Host: c.host, Port: goldenPort, Region: goldenRegion, User: c.user}
			ours := mustBuild(t, e, staticCreds(goldenAKID, goldenSecret, c.session), goldenTime)
			if diff := cmp.Diff(paramMap(t, cli), paramMap(t, ours)); diff != "" {
				t.Fatalf("Build differs from the AWS CLI (-cli +ours):\n%s\ncli:  %s\nours: %s", diff, cli, ours)
			}
			if c.name == "plain" && mustParse(t, cli).Signature != goldenSig {
				t.Fatalf("faketime did not pin the CLI's clock: %s", cli)
			}
			if !strings.Contains(cli, ":5432/?") {
				t.Errorf("CLI token %s: expected the CLI's host:port/? form", cli)
			}
		})
	}
}
