package testharness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rdsgate/rdsgate/internal/serverproc"
	"github.com/rdsgate/rdsgate/internal/testpeer"
)

const motoHow = "pip install 'moto[server]' (provides moto_server)"

// Moto is a running moto_server: a local stand-in for the AWS APIs (RDS,
// EC2, STS, IAM, ...). Every call gets its own server, so tests never see
// one another's resources.
type Moto struct {
	Endpoint        string // "http://127.0.0.1:PORT"
	Region          string // "us-east-1"
	AccessKeyID     string // "testing"
	SecretAccessKey string // "testing"
	LogFile         string

	proc *serverproc.Process
}

// StartMoto starts `moto_server -H 127.0.0.1 -p PORT` and returns once it
// answers HTTP; t.Cleanup stops it and removes its directory.
func StartMoto(t testing.TB) *Moto {
	t.Helper()
	bin := findBinary(t, motoHow, []string{"moto_server"}, "/usr/local/bin", os.ExpandEnv("$HOME/.local/bin"))
	dir := peerDir(t, "moto")
	port := FreePort(t)
	m := &Moto{
		Endpoint:        "http://127.0.0.1:" + strconv.Itoa(port),
		Region:          "us-east-1",
		AccessKeyID:     "testing",
		SecretAccessKey: "testing",
		LogFile:         filepath.Join(dir, "moto.log"),
	}
	registerLogOnFailure(t, "moto_server", func() string { return m.LogFile })
	// moto_server is often a pyenv or virtualenv shim that needs the
	// caller's environment (PYENV_*, VIRTUAL_ENV, PATH); only AWS settings
	// are removed.
	env := withoutAWS(os.Environ())
	stopAtCleanup(t, &m.proc)
	client := m.httpClient()
	m.proc = startServer(t, &port, true, func() serverproc.Config {
		m.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
		return serverproc.Config{Name: "moto_server", LogFile: m.LogFile, Dir: dir, Env: env,
			Args: []string{bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port)}}
	}, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.Endpoint+"/moto-api/", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			return fmt.Errorf("moto_server: %s", resp.Status)
		}
		return nil
	})
	return m
}

func (m *Moto) httpClient() *http.Client {
	return &http.Client{
		Timeout:   serverproc.ProbeTimeout,
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	}
}

// PID returns moto_server's process id.
func (m *Moto) PID() int { return m.proc.PID() }

// AWSEnv returns environment entries that point the AWS CLI and SDKs at
// this moto in isolation from the user's AWS setup: AWS_ENDPOINT_URL, the
// dummy keys, AWS_REGION and AWS_DEFAULT_REGION, AWS_CONFIG_FILE and
// AWS_SHARED_CREDENTIALS_FILE set to /dev/null, AWS_EC2_METADATA_DISABLED,
// an empty AWS_PAGER and NO_PROXY for loopback. Append them to an
// environment without AWS_* entries (see Environ): an inherited AWS_PROFILE
// or AWS_SESSION_TOKEN would still apply.
//
// Gotcha: AWS_ENDPOINT_URL is honoured by the Go SDK v2 and by AWS CLI
// 2.13 and later, but NOT by Debian 12's awscli 2.9.19, which then calls
// real AWS; pass --endpoint-url to that CLI (CLI does it).
func (m *Moto) AWSEnv() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + m.Endpoint,
		"AWS_ACCESS_KEY_ID=" + m.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + m.SecretAccessKey,
		"AWS_REGION=" + m.Region,
		"AWS_DEFAULT_REGION=" + m.Region,
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
	}
}

// Environ returns os.Environ() with every AWS_* entry removed, plus
// AWSEnv(): the environment for a child process (the rdsgate binary, the
// AWS CLI) that must talk to this moto only.
func (m *Moto) Environ() []string {
	return append(withoutAWS(os.Environ()), m.AWSEnv()...)
}

// AWSConfig returns an SDK v2 config for this moto: static dummy
// credentials, the region, BaseEndpoint = Endpoint, no retries.
func (m *Moto) AWSConfig() aws.Config {
	return aws.Config{
		Region:           m.Region,
		Credentials:      credentials.NewStaticCredentialsProvider(m.AccessKeyID, m.SecretAccessKey, ""),
		BaseEndpoint:     aws.String(m.Endpoint),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}},
	}
}

// CLI runs the AWS CLI v2 (testpeer.AWSCLIv2) with Environ(), the given
// arguments and --endpoint-url (which old CLIs need, see AWSEnv), and
// returns its stdout; it fails the test if the command fails.
func (m *Moto) CLI(t testing.TB, args ...string) []byte {
	t.Helper()
	cli := testpeer.AWSCLIv2(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, append(args, "--endpoint-url", m.Endpoint)...)
	cmd.Env = m.Environ()
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("testharness: aws %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// Reset drops every resource in this moto (POST /moto-api/reset).
func (m *Moto) Reset(t testing.TB) {
	t.Helper()
	resp, err := m.httpClient().Post(m.Endpoint+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatalf("testharness: moto reset: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("testharness: moto reset: %s", resp.Status)
	}
}

func withoutAWS(env []string) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		if !strings.HasPrefix(e, "AWS_") {
			out = append(out, e)
		}
	}
	return out
}
