package awsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"
)

func TestQueryLists(t *testing.T) {
	p, err := url.ParseQuery("A.2=b&A.1=a&A.10=j&A.x=no&A.0=no&A=no&F.2.Name=n2&F.1.Name=n1&F.1.Value.2=v12&F.1.Value.1=v11&F.2.Value.1=v21&A.1234567=no")
	if err != nil {
		t.Fatal(err)
	}
	if got := members(p, "A"); !cmp.Equal(got, []string{"a", "b", "j"}) {
		t.Errorf("members = %v", got)
	}
	fs := structs(p, "F")
	if len(fs) != 2 || fs[0].Get("Name") != "n1" || !cmp.Equal(members(fs[0], "Value"), []string{"v11", "v12"}) ||
		fs[1].Get("Name") != "n2" || !cmp.Equal(members(fs[1], "Value"), []string{"v21"}) {
		t.Errorf("structs = %v", fs)
	}
}

func FuzzQueryParams(f *testing.F) {
	f.Add("Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag:Name&Filter.1.Value.1=x", "a=b")
	f.Add("Filters.Filter.1.Values.Value.1=%zz&&==", "%")
	f.Fuzz(func(t *testing.T, body, rawQuery string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.URL.RawQuery = rawQuery
		p, _ := queryParams(r, []byte(body))
		for _, prefix := range []string{"Filter", "Filters.Filter", "InstanceId", "ActionNames.member"} {
			for _, s := range structs(p, prefix) {
				_ = members(s, "Value")
			}
			_ = members(p, prefix)
		}
		_, _ = canonicalQuery(rawQuery)
	})
}

// signedRequest signs a request to the handler with the admin's keys.
func signedRequest(t testing.TB, w *worldT, service, target, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/", strings.NewReader(body))
	if target != "" {
		r.Header.Set("X-Amz-Target", target)
		r.Header.Set("Content-Type", jsonContentType)
	} else {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	admin := principal(t, w, "admin")
	sum := sha256.Sum256([]byte(body))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: admin.AccessKeyID, SecretAccessKey: admin.SecretAccessKey},
		r, hex.EncodeToString(sum[:]), service, testRegion, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func serve(s *Server, r *http.Request) (int, string, http.Header) {
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b), w.Result().Header
}

func TestUnknownOperations(t *testing.T) {
	w := testWorld(t)
	s := New(Options{World: w})
	code, body, _ := serve(s, signedRequest(t, w, "sts", "", "Action=AssumeRole&Version=2011-06-15"))
	if code != 400 || !strings.Contains(body, "<Code>InvalidAction</Code><Message>Could not find operation AssumeRole for version 2011-06-15</Message>") {
		t.Errorf("sts: %d %s", code, body)
	}
	code, body, _ = serve(s, signedRequest(t, w, "ec2", "", "Action=AllocateAddress&Version=2016-11-15"))
	if code != 400 || !strings.Contains(body, "<Code>InvalidAction</Code>") || !strings.Contains(body, "<Response><Errors>") {
		t.Errorf("ec2: %d %s", code, body)
	}
	code, body, hdr := serve(s, signedRequest(t, w, "ssm", "AmazonSSM.SendCommand", "{}"))
	if code != 400 || !strings.Contains(body, "UnknownOperationException") || !strings.HasPrefix(hdr.Get("X-Amzn-Errortype"), "UnknownOperationException") {
		t.Errorf("ssm: %d %s", code, body)
	}
	// Signed for ssm but sent to Secrets Manager's target: wrong scope.
	code, body, _ = serve(s, signedRequest(t, w, "ssm", "secretsmanager.GetSecretValue", `{"SecretId":"x"}`))
	if code != 400 || !strings.Contains(body, "InvalidSignatureException") || !strings.Contains(body, "Credential should be scoped to correct service: 'secretsmanager'") {
		t.Errorf("wrong service: %d %s", code, body)
	}
	code, body, _ = serve(s, signedRequest(t, w, "ssm", "AmazonSSM.StartSession", `{"Target": 5`))
	if code != 400 || !strings.Contains(body, "SerializationException") {
		t.Errorf("bad JSON: %d %s", code, body)
	}
	code, body, _ = serve(s, signedRequest(t, w, "sts", "", "Action=GetCallerIdentity&Version=2011-06-15&x=%zz"))
	if code != 400 || !strings.Contains(body, "MalformedQueryString") {
		t.Errorf("bad form: %d %s", code, body)
	}
	code, body, _ = serve(s, signedRequest(t, w, "sts", "", "Action=GetCallerIdentity&Version=2011-06-15"))
	if code != 200 || !strings.HasPrefix(body, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/admin</Arn>`) ||
		!strings.Contains(body, "<ResponseMetadata><RequestId>") {
		t.Errorf("sts ok: %d %s", code, body)
	}
	code, body, _ = serve(s, signedRequest(t, w, "ec2", "", "Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=sg-0sandboxdb"))
	if code != 200 || !strings.Contains(body, `<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>`) {
		t.Errorf("ec2 ok: %d %s", code, body)
	}
	// Without a data-channel handler, its paths are 404.
	code, _, _ = serve(s, httptest.NewRequest(http.MethodGet, "/v1/data-channel/x", nil))
	if code != 404 {
		t.Errorf("data channel without handler: %d", code)
	}
}

// FuzzSignedRequest sends validly signed requests with arbitrary bodies to
// every operation: nothing may panic or answer 500.
func FuzzSignedRequest(f *testing.F) {
	f.Add("", "Action=DescribeDBInstances&Version=2014-10-31&MaxRecords=20&Marker=x")
	f.Add("", "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag:Name&Filter.1.Value.1=*")
	f.Add("", "Action=SimulatePrincipalPolicy&Version=2010-05-08&PolicySourceArn=arn:aws:iam::111122223333:user/admin&ActionNames.member.1=*&PolicyInputList.member.1={}")
	f.Add("AmazonSSM.StartSession", `{"Target":"i-0sandbox0000000001","DocumentName":"AWS-StartPortForwardingSession","Parameters":{"portNumber":["1"]}}`)
	f.Add("AmazonSSM.DescribeInstanceInformation", `{"Filters":[{"Key":"tag:","Values":[]}],"MaxResults":5,"NextToken":"x"}`)
	f.Add("AWSEC2InstanceConnectService.SendSSHPublicKey", `{"InstanceId":"i-0sandbox0000000001","InstanceOSUser":"a","SSHPublicKey":"ssh-rsa AAAA"}`)
	f.Add("secretsmanager.GetSecretValue", `{"SecretId":null}`)
	f.Add("AmazonSSM.ResumeSession", `{"SessionId":"admin-00000000000000000"}`)
	w := testWorld(f)
	s := New(Options{World: w})
	services := map[string]string{"AmazonSSM": "ssm", "secretsmanager": "secretsmanager", "AWSEC2InstanceConnectService": "ec2-instance-connect"}
	f.Fuzz(func(t *testing.T, target, body string) {
		svc := "rds"
		if prefix, _, _ := strings.Cut(target, "."); services[prefix] != "" {
			svc = services[prefix]
		} else if target != "" {
			svc = "ssm"
		} else if strings.Contains(body, "2016-11-15") {
			svc = "ec2"
		} else if strings.Contains(body, "2010-05-08") {
			svc = "iam"
		}
		code, resp, _ := serve(s, signedRequest(t, w, svc, target, body))
		if code >= 500 {
			t.Fatalf("%s %q: %d %s", target, body, code, resp)
		}
	})
}
