package ssmagent

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/gorilla/websocket"

	"github.com/rdsgate/rdsgate/sandbox/awsapi"
	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/world"
	"github.com/rdsgate/rdsgate/tunnel/ssm/ssmwire"
)

func setup(t *testing.T) (*awsapi.Server, *Agent, *ssm.Client, string) {
	t.Helper()
	pol, _ := iampolicy.Parse([]byte(`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`))
	w := &world.World{Account: world.DefaultAccount, Region: world.DefaultRegion,
		Principals: []world.Principal{{Name: "admin", ARN: "arn:aws:iam::111122223333:user/admin", UserID: "AIDAX",
			AccessKeyID: "AKIATESTAGENT0000001", SecretAccessKey: "secret0000000000000000000000000000000000", Policies: []iampolicy.Document{pol}}},
		Instances: []world.Instance{{Identifier: "db", Endpoint: world.Endpoint("db", world.DefaultRegion), Port: 5432, FrontAddr: "127.0.0.1:1",
			SecurityGroups: []string{"sg-db"}}},
		Bastions: []world.Bastion{{InstanceID: "i-0sandbox00000000b1", AgentOnline: true, SecurityGroups: []string{"sg-bastion"}},
			{InstanceID: "i-0sandbox00000000b2", AgentOnline: true, SecurityGroups: []string{"sg-other"}}},
		SecurityGroups: []world.SecurityGroup{{ID: "sg-bastion"}, {ID: "sg-other"},
			{ID: "sg-db", Ingress: []world.Rule{{Protocol: "tcp", FromPort: 5432, ToPort: 5432, SourceGroups: []string{"sg-bastion"}}}}},
	}
	api := awsapi.New(awsapi.Options{World: w})
	a := New(Options{API: api, World: w})
	api.HandleDataChannel(a)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { a.Close(); srv.Close() })
	c := ssm.New(ssm.Options{Region: w.Region, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIATESTAGENT0000001", "secret0000000000000000000000000000000000", "")})
	return api, a, c, srv.URL
}

func start(t *testing.T, c *ssm.Client, host string) *ssm.StartSessionOutput {
	t.Helper()
	out, err := c.StartSession(context.Background(), &ssm.StartSessionInput{Target: aws.String("i-0sandbox00000000b1"),
		DocumentName: aws.String("AWS-StartPortForwardingSessionToRemoteHost"), Parameters: map[string][]string{"host": {host}, "portNumber": {"5432"}}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func open(t *testing.T, out *ssm.StartSessionOutput, token string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(*out.StreamUrl, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	b, _ := json.Marshal(ssmwire.OpenDataChannelInput{MessageSchemaVersion: "1.0", RequestID: ssmwire.NewUUID().String(), TokenValue: token})
	_ = c.WriteMessage(websocket.TextMessage, b)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	return c
}

func TestBadTokenRefused(t *testing.T) {
	_, _, c, _ := setup(t)
	out := start(t, c, "127.0.0.1")
	ws := open(t, out, "not-the-token")
	_, _, err := ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Fatalf("bad token: %v, want a policy-violation close", err)
	}
}

func TestHandshakeRequestAndTerminate(t *testing.T) {
	_, _, c, _ := setup(t)
	out := start(t, c, "db.c0sandbox.us-east-1.rds.amazonaws.com")
	ws := open(t, out, *out.TokenValue)
	_, b, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	m, err := ssmwire.Decode(b)
	if err != nil || m.Type != ssmwire.TypeOutputStreamData || m.SequenceNumber != 0 || m.Flags != ssmwire.FlagSYN || m.PayloadType != ssmwire.PayloadHandshakeRequest {
		t.Fatalf("first message %+v %v", m, err)
	}
	var hr ssmwire.HandshakeRequest
	if err := json.Unmarshal(m.Payload, &hr); err != nil || hr.AgentVersion != DefaultAgentVersion || !strings.Contains(string(hr.RequestedClientActions[0].ActionParameters), `"host":"db.c0sandbox`) {
		t.Fatalf("handshake request %s", m.Payload)
	}
	if _, err := c.TerminateSession(context.Background(), &ssm.TerminateSessionInput{SessionId: out.SessionId}); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("no channel_closed after TerminateSession: %v", err)
		}
		if m, err := ssmwire.Decode(b); err == nil && m.Type == ssmwire.TypeChannelClosed {
			return
		}
	}
}

func TestResolve(t *testing.T) {
	_, a, _, _ := setup(t)
	const admitted, other = "i-0sandbox00000000b1", "i-0sandbox00000000b2"
	tests := []struct {
		desc, target, dest, want string
	}{
		{"endpoint", admitted, "db.c0sandbox.us-east-1.rds.amazonaws.com:5432", "127.0.0.1:1"},
		{"endpoint in capitals, rooted", admitted, "DB.c0sandbox.us-east-1.rds.amazonaws.com.:5432", "127.0.0.1:1"},
		{"localhost", admitted, "localhost:8080", "127.0.0.1:8080"},
		{"loopback", admitted, "127.0.0.2:9", "127.0.0.2:9"},
		{"loopback v6", admitted, "[::1]:9", "[::1]:9"},
		{"VPC address", admitted, "10.0.0.1:5432", ""},
		{"wrong port", admitted, "db.c0sandbox.us-east-1.rds.amazonaws.com:3306", ""},
		{"internet", admitted, "example.com:443", ""},
		{"database group does not admit the instance's", other, "db.c0sandbox.us-east-1.rds.amazonaws.com:5432", ""},
		{"unknown instance", "i-0gone", "db.c0sandbox.us-east-1.rds.amazonaws.com:5432", ""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s := &session{a: a, dest: tc.dest, info: awsapi.Session{Target: tc.target}}
			got, err := s.resolve()
			if got != tc.want || (tc.want == "") != (err != nil) {
				t.Errorf("resolve(%s) from %s = %q, %v; want %q", tc.dest, tc.target, got, err, tc.want)
			}
		})
	}
}
