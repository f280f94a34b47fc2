package ssm

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/sandbox/awsapi"
	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/ssmagent"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

const (
	testBastion = "i-0sandbox00000000b1"
	testKeyID   = "AKIASANDBOXTESTKEY01"
	testSecret  = "testsecret000000000000000000000000000000"
)

// env is an SSM API server with the sandbox agent mounted, and an echo
// server standing in for a database front.
type env struct {
	world  *world.World
	api    *awsapi.Server
	agent  *ssmagent.Agent
	url    string
	client *ssm.Client
	echo   string // loopback echo server
	// endpoint is an instance endpoint whose front is the echo server.
	endpoint string
}

func testLog(t testing.TB) *slog.Logger {
	if os.Getenv("SSM_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newEnv starts the sandbox's API and agent; edit changes the world
// before they serve.
func newEnv(t testing.TB, opts ssmagent.Options, edit ...func(*world.World)) *env {
	t.Helper()
	pol, err := iampolicy.Parse([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{echo: testharness.EchoServer(t)}
	e.endpoint = world.Endpoint("demo-echo", world.DefaultRegion)
	e.world = &world.World{Account: world.DefaultAccount, Region: world.DefaultRegion,
		Principals: []world.Principal{{Name: "admin", ARN: "arn:aws:iam::111122223333:user/admin", UserID: "AIDATESTADMIN0000001",
			AccessKeyID: testKeyID, SecretAccessKey: testSecret, Policies: []iampolicy.Document{pol}}},
		Instances: []world.Instance{{Identifier: "demo-echo", Engine: "postgres", Endpoint: e.endpoint, Port: 5432, Status: "available", FrontAddr: e.echo}},
		Bastions: []world.Bastion{
			{InstanceID: testBastion, Name: "bastion", AgentOnline: true, AgentVersion: "3.3.1957.0", Tags: map[string]string{"Name": "bastion"}},
			{InstanceID: "i-0sandbox00000000b2", Name: "offline", AgentOnline: false},
		},
	}
	for _, fn := range edit {
		fn(e.world)
	}
	var agent *ssmagent.Agent
	e.api = awsapi.New(awsapi.Options{World: e.world, Log: testLog(t).With("component", "api"), OnTerminate: func(s awsapi.Session) {
		if agent != nil {
			agent.Terminate(s)
		}
	}})
	opts.API, opts.World = e.api, e.world
	if opts.Log == nil {
		opts.Log = testLog(t).With("component", "agent")
	}
	agent = ssmagent.New(opts)
	e.agent = agent
	e.api.HandleDataChannel(agent)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.api.Serve(ctx, ln) }()
	t.Cleanup(func() {
		agent.Close()
		cancel()
		e.api.Close()
		<-done
	})
	e.client = ssm.New(ssm.Options{Region: world.DefaultRegion, BaseEndpoint: aws.String(e.url),
		Credentials: credentials.NewStaticCredentialsProvider(testKeyID, testSecret, "")})
	return e
}

func (e *env) dialer(t testing.TB, cfg Config) *Dialer {
	t.Helper()
	if cfg.Target == "" {
		cfg.Target = testBastion
	}
	if cfg.Log == nil {
		cfg.Log = testLog(t).With("component", "client")
	}
	d, err := NewFromClient(e.client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func (e *env) dest() string { return net.JoinHostPort(e.endpoint, "5432") }

// transfer writes n random bytes to c while reading n bytes back and
// checks that the SHA-256 of both sides match (an echo path).
func transfer(t testing.TB, c net.Conn, n int64) time.Duration {
	t.Helper()
	start := time.Now()
	sent := sha256.New()
	errc := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, io.TeeReader(io.LimitReader(rand.Reader, n), sent))
		errc <- err
	}()
	got := sha256.New()
	if _, err := io.CopyN(got, c, n); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if string(sent.Sum(nil)) != string(got.Sum(nil)) {
		t.Fatalf("data corrupted: sha256 differs after %d bytes", n)
	}
	return time.Since(start)
}
