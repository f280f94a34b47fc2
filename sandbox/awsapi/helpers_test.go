package awsapi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"

	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

const (
	testRegion   = world.DefaultRegion
	testAccount  = world.DefaultAccount
	bastionID    = "i-0sandbox0000000001"
	offlineID    = "i-0sandbox0000000002"
	pgResourceID = "db-ABCDEFGHIJKLMNOPQRSTUVWXY2"
	masterARN    = "arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!db-0a1b2c3d-master-AbCdEf"
)

func mustPolicy(t testing.TB, text string) iampolicy.Document {
	t.Helper()
	d, err := iampolicy.Parse([]byte(text))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	return d
}

// testWorld is a small account: an admin allowed everything (but deleting
// secrets), an intern with no policies, a temporary-credentials principal,
// a developer with narrow Session Manager and Instance Connect rights, one
// PostgreSQL instance, an online and an offline bastion, security groups
// and the instance's master secret.
func testWorld(t testing.TB) *world.World {
	t.Helper()
	return &world.World{
		Account: testAccount,
		Region:  testRegion,
		Principals: []world.Principal{
			{
				Name: "admin", ARN: "arn:aws:iam::111122223333:user/admin", UserID: "AIDASANDBOXADMIN00001",
				AccessKeyID: "AKIASANDBOXADMIN0001", SecretAccessKey: "admin/Secret+Key=with/odd+chars0000000000",
				Policies: []iampolicy.Document{mustPolicy(t, `{"Version":"2012-10-17","Statement":[
					{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"},
					{"Sid":"NoDelete","Effect":"Deny","Action":"secretsmanager:DeleteSecret","Resource":"*"}]}`)},
			},
			{
				Name: "intern", ARN: "arn:aws:iam::111122223333:user/intern", UserID: "AIDASANDBOXINTERN0001",
				AccessKeyID: "AKIASANDBOXINTERN001", SecretAccessKey: "internsecret000000000000000000000000000000",
			},
			{
				Name: "temp", ARN: "arn:aws:sts::111122223333:assumed-role/ops/temp", UserID: "AROASANDBOXOPS:temp",
				AccessKeyID: "ASIASANDBOXTEMP00001", SecretAccessKey: "tempsecret00000000000000000000000000000000",
				SessionToken: "FwoGZXIvYXdzEJr//////////sandbox-session-token",
				Policies:     []iampolicy.Document{mustPolicy(t, `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)},
			},
			{
				Name: "dev", ARN: "arn:aws:iam::111122223333:user/dev", UserID: "AIDASANDBOXDEV000001",
				AccessKeyID: "AKIASANDBOXDEV000001", SecretAccessKey: "devsecret0000000000000000000000000000000000",
				Policies: []iampolicy.Document{mustPolicy(t, `{"Statement":[
					{"Effect":"Allow","Action":"ssm:StartSession","Resource":"arn:aws:ec2:*:*:instance/*",
					 "Condition":{"StringEquals":{"ssm:resourceTag/Name":"rdsgate-sandbox-bastion"}}},
					{"Effect":"Allow","Action":"ssm:StartSession","Resource":"arn:aws:ssm:*::document/AWS-StartPortForwardingSession*"},
					{"Effect":"Allow","Action":["ssm:ResumeSession","ssm:TerminateSession"],"Resource":"arn:aws:ssm:*:*:session/${aws:username}-*"},
					{"Effect":"Allow","Action":"ec2-instance-connect:SendSSHPublicKey","Resource":"arn:aws:ec2:*:*:instance/*",
					 "Condition":{"StringEquals":{"ec2:osuser":"ec2-user"}}}]}`)},
			},
		},
		Instances: []world.Instance{{
			Identifier: "demo-pg", Engine: "postgres", EngineVersion: "15.4",
			Endpoint: world.Endpoint("demo-pg", testRegion), Port: 5432, ResourceID: pgResourceID,
			IAMAuth: true, Status: "available", VPC: "vpc-0sandbox",
			Subnets: []string{"subnet-0sandboxa", "subnet-0sandboxb"}, SecurityGroups: []string{"sg-0sandboxdb"},
			CAIdentifier: "rds-ca-rsa2048-g1", MasterUser: "postgres", MasterSecretARN: masterARN,
			FrontAddr: "127.0.0.1:1",
		}},
		Bastions: []world.Bastion{
			{
				InstanceID: bastionID, Name: "rdsgate-sandbox-bastion", AgentOnline: true, AgentVersion: "3.3.1142.0",
				PlatformName: "Amazon Linux", VPC: "vpc-0sandbox", Subnet: "subnet-0sandboxa", AvailabilityZone: "us-east-1a",
				PrivateIP: "10.0.1.10", SecurityGroups: []string{"sg-0sandboxbastion"},
				Tags: map[string]string{"Name": "rdsgate-sandbox-bastion", "team": "platform"},
			},
			{
				InstanceID: offlineID, Name: "offline-bastion", AgentOnline: false, AgentVersion: "3.2.582.0",
				VPC: "vpc-0sandbox", Subnet: "subnet-0sandboxb", AvailabilityZone: "us-east-1b", PrivateIP: "10.0.2.20",
				SecurityGroups: []string{"sg-0sandboxbastion"}, Tags: map[string]string{"Name": "offline-bastion"},
			},
		},
		SecurityGroups: []world.SecurityGroup{
			{ID: "sg-0sandboxbastion", Name: "bastion", Description: "sandbox bastion", VPC: "vpc-0sandbox"},
			{ID: "sg-0sandboxdb", Name: "database", Description: "sandbox databases", VPC: "vpc-0sandbox",
				Ingress: []world.Rule{{Protocol: "tcp", FromPort: 5432, ToPort: 5432, SourceGroups: []string{"sg-0sandboxbastion"}},
					{Protocol: "-1", CIDRs: []string{"10.9.0.0/16"}}}},
		},
		Secrets: []world.Secret{{ARN: masterARN, Name: "rds!db-0a1b2c3d-master", SecretString: `{"username":"postgres","password":"s3cr3t-master"}`}},
	}
}

// principal returns the test world's principal by name.
func principal(t testing.TB, w *world.World, name string) world.Principal {
	t.Helper()
	for _, p := range w.Principals {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no principal %s", name)
	return world.Principal{}
}

// testClock is a clock tests can skew.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) skew(d time.Duration)    { c.offset.Store(int64(d)) }
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// logBuffer collects the server's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// env is a running server with its world, clock and log.
type env struct {
	srv   *Server
	world *world.World
	clock *testClock
	log   *logBuffer
	url   string
	// transport is this test's own: connections never outlive their
	// server or leak between tests through http.DefaultTransport.
	transport *http.Transport
}

// start serves a test world on a loopback port until the test ends.
func start(t testing.TB, mutate ...func(*world.World, *Options)) *env {
	t.Helper()
	e := &env{world: testWorld(t), clock: &testClock{}, log: &logBuffer{}, transport: &http.Transport{}}
	t.Cleanup(e.transport.CloseIdleConnections)
	opts := Options{World: e.world, Now: e.clock.now, Log: slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, m := range mutate {
		m(e.world, &opts)
	}
	e.srv = New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", e.log.String())
		}
	})
	return e
}

// cfg is an SDK configuration for principal name against the server, with
// retries off so that the first answer is the one seen.
func (e *env) cfg(t testing.TB, name string) aws.Config {
	t.Helper()
	p := principal(t, e.world, name)
	return e.cfgKeys(p.AccessKeyID, p.SecretAccessKey, p.SessionToken)
}

func (e *env) cfgKeys(akid, secret, token string) aws.Config {
	return aws.Config{
		Region:           testRegion,
		Credentials:      credentials.NewStaticCredentialsProvider(akid, secret, token),
		BaseEndpoint:     aws.String(e.url),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Timeout: 30 * time.Second, Transport: e.transport},
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantCode checks that err is an API error with code (and, if given, a
// message containing msg).
func wantCode(t testing.TB, err error, code string, msg ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %s, got success", code)
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("want API error %s, got %T: %v", code, err, err)
	}
	if apiErr.ErrorCode() != code {
		t.Fatalf("want error code %s, got %s (%v)", code, apiErr.ErrorCode(), err)
	}
	for _, m := range msg {
		if !strings.Contains(apiErr.ErrorMessage(), m) {
			t.Errorf("error message %q does not contain %q", apiErr.ErrorMessage(), m)
		}
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

type worldT = world.World

func contains(s, sub string) bool { return strings.Contains(s, sub) }
