package ssm

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/sandbox"
	"github.com/rdsgate/rdsgate/sandbox/ssmagent"
)

// sessionManagerPlugin is AWS's plugin, built once by the harness.
func sessionManagerPlugin(t *testing.T) string { return testharness.SessionManagerPlugin(t) }

// runPlugin starts a port session as `aws ssm start-session` does and runs
// AWS's plugin on it; it returns the local address the plugin listens on.
// The plugin is stopped (stdin closed) at cleanup.
func runPlugin(t *testing.T, client *ssm.Client, endpointURL, keyID, secret, target, host string, port int) string {
	t.Helper()
	bin := sessionManagerPlugin(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	local := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	params := map[string][]string{"host": {host}, "portNumber": {fmt.Sprint(port)}, "localPortNumber": {fmt.Sprint(local)}}
	ctx := context.Background()
	out, err := client.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(target), DocumentName: aws.String(DocumentRemoteHost), Parameters: params})
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := json.Marshal(map[string]any{"SessionId": *out.SessionId, "TokenValue": *out.TokenValue, "StreamUrl": *out.StreamUrl,
		"ResponseMetadata": map[string]any{"HTTPStatusCode": 200}})
	req, _ := json.Marshal(map[string]any{"Target": target, "DocumentName": DocumentRemoteHost, "Parameters": params})
	home := t.TempDir()
	cmd := exec.Command(bin, string(resp), "us-east-1", "StartSession", "", string(req), endpointURL)
	cmd.Env = append(os.Environ(), "HOME="+home, "AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secret,
		"AWS_REGION=us-east-1", "AWS_CONFIG_FILE="+filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var outMu sync.Mutex
	var lines []string
	opened := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			outMu.Lock()
			lines = append(lines, sc.Text())
			outMu.Unlock()
			if strings.Contains(sc.Text(), "Waiting for connections") {
				once.Do(func() { close(opened) })
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		outMu.Lock()
		t.Logf("session-manager-plugin output:\n%s", strings.Join(lines, "\n"))
		outMu.Unlock()
	})
	select {
	case <-opened:
	case err := <-exited:
		outMu.Lock()
		defer outMu.Unlock()
		t.Fatalf("session-manager-plugin exited: %v\n%s", err, strings.Join(lines, "\n"))
	case <-time.After(30 * time.Second):
		t.Fatal("session-manager-plugin did not open its port in 30 s")
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(local))
}

// TestAWSPluginForwardsThroughAgent: AWS's own client forwards a local port
// through the sandbox agent (paced, mux) to an echo server; two
// concurrent connections share the session.
func TestAWSPluginForwardsThroughAgent(t *testing.T) {
	e := newEnv(t, ssmagent.Options{})
	local := runPlugin(t, e.client, e.url, testKeyID, testSecret, testBastion, e.endpoint, 5432)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", local)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(time.Minute))
			transfer(t, c, 256<<10)
		}()
	}
	wg.Wait()
	if st := e.agent.Stats(); st.Sessions != 1 {
		t.Fatalf("agent stats %+v: want one session for both connections", st)
	}
}

// TestAWSPluginToDemoPG: the acceptance path — AWS's plugin forwards to
// demo-pg's front through the sandbox; pgx logs in as app_user with an IAM
// token over verify-full TLS (ServerName = the endpoint), twice over one
// session. Our own Dialer then does the same.
func TestAWSPluginToDemoPG(t *testing.T) {
	if !dbserver.PostgresAvailable() {
		testpeer.Missing(t, "postgresql", "apt-get install postgresql")
	}
	sb, err := sandbox.Start(context.Background(), sandbox.Options{Dir: t.TempDir(), Engines: []string{"postgres"}, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	agent := ssmagent.New(ssmagent.Options{API: sb.API(), World: sb.World, Log: testLog(t)})
	t.Cleanup(func() { agent.Close() })
	sb.API().HandleDataChannel(agent)
	inst, _ := sb.Instance(sandbox.InstancePG)
	p := sb.Principal(sandbox.ProfileAdmin)
	creds := credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, p.SessionToken)
	client := ssm.New(ssm.Options{Region: sb.World.Region, BaseEndpoint: aws.String(sb.APIURL), Credentials: creds})
	pool, err := sb.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	login := func(dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tok, err := iamauth.Build(ctx, iamauth.Endpoint{Host: inst.Endpoint, Port: inst.Port, Region: sb.World.Region, User: sandbox.IAMUser}, creds, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := pgx.ParseConfig("sslmode=verify-full")
		cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = inst.Endpoint, uint16(inst.Port), sandbox.IAMUser, tok, sandbox.DemoDatabase
		cfg.TLSConfig, cfg.Fallbacks, cfg.DialFunc = &tls.Config{ServerName: inst.Endpoint, RootCAs: pool}, nil, dial
		cfg.LookupFunc = func(_ context.Context, h string) ([]string, error) { return []string{h}, nil }
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("login through the tunnel: %v", err)
		}
		defer c.Close(ctx)
		var who string
		var n int
		if err := c.QueryRow(ctx, "select current_user, (select count(*) from orders)").Scan(&who, &n); err != nil {
			t.Fatal(err)
		}
		if who != sandbox.IAMUser || n != 3 {
			t.Fatalf("got user %q and %d orders", who, n)
		}
	}

	local := runPlugin(t, client, sb.APIURL, p.AccessKeyID, p.SecretAccessKey, sandbox.BastionID, inst.Endpoint, inst.Port)
	viaPlugin := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", local)
	}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); login(viaPlugin) }()
	}
	wg.Wait()
	if st := agent.Stats(); st.Sessions != 1 {
		t.Fatalf("agent stats %+v: want one (multiplexed) session", st)
	}

	d, err := NewFromClient(client, Config{Target: sandbox.BastionID, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	login(d.DialContext)
	login(d.DialContext)
}

// PluginDialer drives AWS's plugin as the AWS CLI does: two connections
// through it log in to demo-pg with verify-full TLS, and Close terminates
// the session.
func TestPluginDialer(t *testing.T) {
	bin := sessionManagerPlugin(t)
	if !dbserver.PostgresAvailable() {
		testpeer.Missing(t, "postgresql", "apt-get install postgresql")
	}
	sb, err := sandbox.Start(context.Background(), sandbox.Options{Dir: t.TempDir(), Engines: []string{"postgres"}, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	inst, _ := sb.Instance(sandbox.InstancePG)
	p := sb.Principal(sandbox.ProfileAdmin)
	home := t.TempDir()
	for k, v := range map[string]string{"HOME": home, "AWS_ACCESS_KEY_ID": p.AccessKeyID, "AWS_SECRET_ACCESS_KEY": p.SecretAccessKey,
		"AWS_REGION": sb.World.Region, "AWS_CONFIG_FILE": filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "none"), "AWS_PROFILE": ""} {
		t.Setenv(k, v)
	}
	creds := credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, "")
	client := ssm.New(ssm.Options{Region: sb.World.Region, BaseEndpoint: aws.String(sb.APIURL), Credentials: creds})
	d, err := NewPlugin(PluginConfig{API: client, Plugin: bin, Target: sandbox.BastionID, Region: sb.World.Region, Endpoint: sb.APIURL, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := sb.CAPool()
	for i := 0; i < 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		tok, _ := iamauth.Build(ctx, iamauth.Endpoint{Host: inst.Endpoint, Port: inst.Port, Region: sb.World.Region, User: sandbox.IAMUser}, creds, time.Now())
		cfg, _ := pgx.ParseConfig("sslmode=verify-full")
		cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = inst.Endpoint, uint16(inst.Port), sandbox.IAMUser, tok, sandbox.DemoDatabase
		cfg.TLSConfig, cfg.Fallbacks, cfg.DialFunc = &tls.Config{ServerName: inst.Endpoint, RootCAs: pool}, nil, d.DialContext
		cfg.LookupFunc = func(_ context.Context, h string) ([]string, error) { return []string{h}, nil }
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			cancel()
			t.Fatalf("login %d through the plugin: %v", i, err)
		}
		var who string
		if err := c.QueryRow(ctx, "select current_user").Scan(&who); err != nil || who != sandbox.IAMUser {
			t.Errorf("current_user %q, %v", who, err)
		}
		c.Close(ctx)
		cancel()
	}
	// The session token is not on the plugin's command line, which every
	// local user can read: the plugin takes it from its environment.
	d.mu.Lock()
	for _, f := range d.forwards {
		if runtime.GOOS != "linux" {
			break
		}
		argv, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", f.cmd.Process.Pid))
		if err != nil {
			t.Errorf("read the plugin's argv: %v", err)
		}
		args := strings.Split(string(argv), "\x00")
		if strings.Contains(string(argv), "TokenValue") || len(args) < 2 || args[1] != StartSessionResponseEnv {
			t.Errorf("the plugin's argv carries the session response: %q", args)
		}
	}
	d.mu.Unlock()
	if n := len(sb.API().Sessions()); n != 1 {
		t.Errorf("%d sessions, want one plugin session for both connections", n)
	}
	d.Close()
	for _, s := range sb.API().Sessions() {
		if s.Status != "Terminated" {
			t.Errorf("session %s is %s after Close", s.ID, s.Status)
		}
	}
}

func TestParsePluginVersion(t *testing.T) {
	tests := []struct {
		in    string
		newer bool // than the last version without the environment variable
		ok    bool
	}{
		{"1.2.707.0\n", true, true},
		{"1.3.0.0", true, true},
		{"1.2.497.0", false, true},
		{"1.2.463.0", false, true},
		{"1.2.x.0", false, false},
		{"", false, false},
	}
	for _, tc := range tests {
		v, ok := parsePluginVersion(tc.in)
		if ok != tc.ok || ok && (compareVersion(v, lastPluginWithoutEnv) > 0) != tc.newer {
			t.Errorf("%q: %v, %v", tc.in, v, ok)
		}
	}
}
