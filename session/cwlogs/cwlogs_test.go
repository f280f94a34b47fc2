package cwlogs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/sandbox/awsapi"
	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/world"
	"github.com/rdsgate/rdsgate/session"
	"github.com/rdsgate/rdsgate/session/cwlogs"
)

const (
	group    = "/rdsgate/sessions"
	akid     = "AKIASANDBOXLOGS00001"
	secret   = "logs/Secret+Key=000000000000000000000000"
	password = "hunter2-not-in-logs"
)

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// api is a sandbox AWS API with one principal allowed CloudWatch Logs.
type api struct {
	url   string
	world *world.World
	cfg   aws.Config
	log   *lockedBuffer
}

func startAPI(t *testing.T) *api {
	t.Helper()
	pol, err := iampolicy.Parse([]byte(`{"Statement":[{"Effect":"Allow","Action":"logs:*","Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	w := &world.World{Account: world.DefaultAccount, Region: world.DefaultRegion, Principals: []world.Principal{{
		Name: "recorder", ARN: "arn:aws:iam::111122223333:user/recorder", UserID: "AIDASANDBOXRECORDER1",
		AccessKeyID: akid, SecretAccessKey: secret, Policies: []iampolicy.Document{pol}}}}
	a := &api{world: w, log: &lockedBuffer{}}
	srv := awsapi.New(awsapi.Options{World: w, Log: slog.New(slog.NewTextHandler(a.log, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	tr := &http.Transport{}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		tr.CloseIdleConnections()
		if t.Failed() {
			t.Logf("sandbox API log:\n%s", a.log.String())
		}
	})
	a.cfg = aws.Config{Region: w.Region, Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
		BaseEndpoint: aws.String(a.url), RetryMaxAttempts: 1, HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: tr}}
	return a
}

// down makes the API's Logs unavailable for d.
func (a *api) down(d time.Duration) {
	a.world.Update(func() { a.world.LogsDownUntil = time.Now().Add(d) })
}

// fastRemote keeps the test short: sends within 100 ms, spools after half
// a second of failure, retries at most every half second.
func fastRemote(t *testing.T, dir string) session.RemoteOptions {
	return session.RemoteOptions{SpoolDir: dir, FlushDelay: 100 * time.Millisecond, SpoolAfter: 500 * time.Millisecond,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, ShipTimeout: 5 * time.Second}
}

// open starts a recorder writing to cloudwatch:GROUP with cfg.
func open(t *testing.T, cfg aws.Config, remote session.RemoteOptions, log *slog.Logger) *session.Recorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	remote.Log = log
	r, err := session.OpenDests(ctx, []string{session.CloudWatchPrefix + group + "/"}, session.OpenOptions{Log: log,
		CloudWatch: cwlogs.Opener(func(context.Context) (aws.Config, error) { return cfg, nil }, log), Remote: remote})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// record records n sessions (start, a statement setting a password, end)
// and returns their ids.
func record(r *session.Recorder, n int) []string {
	var ids []string
	for i := range n {
		rec := session.Record{ID: session.NewID(), Start: time.Now().UTC(), Target: "demo-pg", Engine: "postgres",
			DBUser: "app_user", Client: "127.0.0.1:1", Route: "ssm", Endpoint: "demo-pg:5432"}
		r.Start(rec)
		r.Statement(rec, fmt.Sprintf("ALTER ROLE u%d PASSWORD '%s'", i, password))
		rec.End, rec.EndReason = time.Now().UTC(), "client closed"
		r.End(rec)
		ids = append(ids, rec.ID)
	}
	return ids
}

func closeRecorder(t *testing.T, r *session.Recorder, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// events reads every event of the group with the SDK.
func events(t *testing.T, cfg aws.Config) ([]session.Event, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := cloudwatchlogs.NewFromConfig(cfg)
	var out []session.Event
	p := cloudwatchlogs.NewFilterLogEventsPaginator(c, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range page.Events {
			var ev session.Event
			if err := json.Unmarshal([]byte(aws.ToString(e.Message)), &ev); err != nil {
				t.Fatalf("event is not a session record: %v: %s", err, aws.ToString(e.Message))
			}
			out = append(out, ev)
		}
	}
	return out, nil
}

// checkAll checks that evs are exactly the three events of each id,
// passwords redacted.
func checkAll(t *testing.T, evs []session.Event, ids []string) {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	seen := map[string]int{}
	for _, ev := range evs {
		if !want[ev.ID] {
			t.Errorf("unexpected record %s %s", ev.ID, ev.Type)
		}
		seen[ev.ID+" "+ev.Type]++
		if strings.Contains(ev.Statement, password) || (ev.Type == session.TypeStatement && !ev.Redacted) {
			t.Errorf("statement not redacted: %q", ev.Statement)
		}
	}
	for _, id := range ids {
		for _, typ := range []string{session.TypeStart, session.TypeStatement, session.TypeEnd} {
			if seen[id+" "+typ] != 1 {
				t.Errorf("session %s: %d %s records, want 1", id, seen[id+" "+typ], typ)
			}
		}
	}
	if len(evs) != 3*len(ids) {
		t.Errorf("%d records in CloudWatch Logs, want %d", len(evs), 3*len(ids))
	}
}

// waitFor polls until the group holds n events or the deadline passes.
func waitFor(t *testing.T, cfg aws.Config, n int, d time.Duration) []session.Event {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		evs, err := events(t, cfg)
		if err == nil && len(evs) >= n || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func spoolFiles(t *testing.T, dir string) (files, bytes int) {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*", "*.jsonl"))
	for _, n := range names {
		st, err := os.Stat(n)
		if err != nil {
			continue
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("spool file %s has mode %v, want 0600", n, st.Mode().Perm())
		}
		files++
		bytes += int(st.Size())
	}
	return files, bytes
}

// TestRecordsReachSandboxLogs records sessions with a real Recorder and
// reads them back with the AWS CLI v2's get-log-events.
func TestRecordsReachSandboxLogs(t *testing.T) {
	cli := testpeer.AWSCLIv2(t)
	a := startAPI(t)
	r := open(t, a.cfg, fastRemote(t, t.TempDir()), nil)
	ids := record(r, 20)
	closeRecorder(t, r, 10*time.Second)

	sh, err := cwlogs.New(a.cfg, session.Dest{Kind: session.DestCloudWatch, Group: group}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, "--endpoint-url", a.url, "--output", "json", "logs", "get-log-events",
		"--log-group-name", group, "--log-stream-name", sh.Stream(time.Now()), "--start-from-head")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_DEFAULT_REGION=" + world.DefaultRegion, "AWS_ACCESS_KEY_ID=" + akid,
		"AWS_SECRET_ACCESS_KEY=" + secret, "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws logs get-log-events: %v %s", err, out)
	}
	var got struct {
		Events []struct {
			Message string `json:"message"`
		} `json:"events"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	var evs []session.Event
	for _, e := range got.Events {
		var ev session.Event
		if err := json.Unmarshal([]byte(e.Message), &ev); err != nil {
			t.Fatalf("not a session record: %s", e.Message)
		}
		evs = append(evs, ev)
	}
	checkAll(t, evs, ids)
}

// TestLogsDownNoRecordLost records through an outage of the sandbox's
// Logs: the records go to the spool, none is lost, and all arrive once
// Logs is back, before Close.
func TestLogsDownNoRecordLost(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		outage time.Duration
		before int // sessions recorded as the outage begins
		during int // sessions recorded once records are spooled
	}{
		{"short outage", 2 * time.Second, 30, 30},
		{"burst", 3 * time.Second, 500, 10},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			a := startAPI(t)
			spool := t.TempDir()
			logs := &lockedBuffer{}
			log := slog.New(slog.NewTextHandler(logs, nil))
			a.down(tc.outage)
			r := open(t, a.cfg, fastRemote(t, spool), log)
			ids := record(r, tc.before)
			deadline := time.Now().Add(tc.outage)
			for {
				if _, n := spoolFiles(t, spool); n > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if files, n := spoolFiles(t, spool); files == 0 || n == 0 {
				t.Errorf("records were not spooled during the outage (log: %s)", logs.String())
			}
			ids = append(ids, record(r, tc.during)...)
			evs := waitFor(t, a.cfg, 3*len(ids), tc.outage+15*time.Second)
			closeRecorder(t, r, 10*time.Second)
			checkAll(t, evs, ids)
			if files, _ := spoolFiles(t, spool); files != 0 {
				t.Errorf("%d spool files left after every record was sent", files)
			}
			for _, want := range []string{"not sent yet", "spooled", "destination back"} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, logs.String())
				}
			}
			if strings.Contains(logs.String(), password) {
				t.Error("a password reached the log")
			}
		})
	}
}

// TestSpoolSentOnNextStart closes a recorder while Logs is down: its
// records stay in the spool, and the next recorder for the same
// destination sends them.
func TestSpoolSentOnNextStart(t *testing.T) {
	a := startAPI(t)
	spool := t.TempDir()
	a.down(time.Hour)
	r := open(t, a.cfg, fastRemote(t, spool), nil)
	ids := record(r, 15)
	closeRecorder(t, r, 2*time.Second)
	if files, n := spoolFiles(t, spool); files != 1 || n == 0 {
		t.Fatalf("spool after a closed outage: %d files, %d bytes; want 1 file", files, n)
	}
	a.down(0)
	r = open(t, a.cfg, fastRemote(t, spool), nil)
	evs := waitFor(t, a.cfg, 3*len(ids), 15*time.Second)
	closeRecorder(t, r, 10*time.Second)
	checkAll(t, evs, ids)
	if files, _ := spoolFiles(t, spool); files != 0 {
		t.Errorf("%d spool files left after they were sent", files)
	}
}

// TestMotoReceivesRecords sends records to moto_server's CloudWatch Logs
// and reads them back with the AWS CLI.
func TestMotoReceivesRecords(t *testing.T) {
	m := testharness.StartMoto(t)
	cfg := m.AWSConfig()
	r := open(t, cfg, fastRemote(t, t.TempDir()), nil)
	ids := record(r, 10)
	closeRecorder(t, r, 20*time.Second)
	sh, err := cwlogs.New(cfg, session.Dest{Kind: session.DestCloudWatch, Group: group}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := m.CLI(t, "logs", "get-log-events", "--log-group-name", group, "--log-stream-name", sh.Stream(time.Now()),
		"--start-from-head", "--output", "json")
	var got struct {
		Events []struct {
			Message string `json:"message"`
		} `json:"events"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	var evs []session.Event
	for _, e := range got.Events {
		var ev session.Event
		if err := json.Unmarshal([]byte(e.Message), &ev); err != nil {
			t.Fatalf("not a session record: %s", e.Message)
		}
		evs = append(evs, ev)
	}
	checkAll(t, evs, ids)
}
