package awsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/rdsgate/rdsgate/internal/testpeer"
)

func logEvents(base time.Time, msgs ...string) []logtypes.InputLogEvent {
	out := make([]logtypes.InputLogEvent, len(msgs))
	for i, m := range msgs {
		out[i] = logtypes.InputLogEvent{Timestamp: aws.Int64(base.Add(time.Duration(i) * time.Millisecond).UnixMilli()), Message: aws.String(m)}
	}
	return out
}

// TestLogsWriteRead drives the Logs writes and reads with the Go SDK, the
// refusals AWS gives included.
func TestLogsWriteRead(t *testing.T) {
	e := start(t)
	c := ctx(t)
	admin := cloudwatchlogs.NewFromConfig(e.cfg(t, "admin"))
	intern := cloudwatchlogs.NewFromConfig(e.cfg(t, "intern"))
	group, stream := "/rdsgate/sessions", "laptop/2026-12-07"
	now := time.Now()

	if _, err := admin.CreateLogGroup(c, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateLogStream(c, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutLogEvents(c, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
		LogEvents: logEvents(now, `{"type":"session.start","session_id":"a1"}`, `{"type":"session.end","session_id":"a1"}`, `plain text line`)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc string
		call func() error
		code string
	}{
		{"group exists", func() error {
			_, err := admin.CreateLogGroup(c, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)})
			return err
		}, "ResourceAlreadyExistsException"},
		{"bad group name", func() error {
			_, err := admin.CreateLogGroup(c, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("a b")})
			return err
		}, "ValidationException"},
		{"stream exists", func() error {
			_, err := admin.CreateLogStream(c, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)})
			return err
		}, "ResourceAlreadyExistsException"},
		{"stream of no group", func() error {
			_, err := admin.CreateLogStream(c, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("nope"), LogStreamName: aws.String("s")})
			return err
		}, "ResourceNotFoundException"},
		{"put to no stream", func() error {
			_, err := admin.PutLogEvents(c, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String("nope"),
				LogEvents: logEvents(now, "x")})
			return err
		}, "ResourceNotFoundException"},
		{"out of order", func() error {
			evs := logEvents(now, "a", "b")
			evs[0], evs[1] = evs[1], evs[0]
			_, err := admin.PutLogEvents(c, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream), LogEvents: evs})
			return err
		}, "InvalidParameterException"},
		{"span over a day", func() error {
			evs := append(logEvents(now.Add(-25*time.Hour), "a"), logEvents(now, "b")...)
			_, err := admin.PutLogEvents(c, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream), LogEvents: evs})
			return err
		}, "InvalidParameterException"},
		{"too many events", func() error {
			many := make([]string, logsMaxBatchEvents+1)
			for i := range many {
				many[i] = "x"
			}
			_, err := admin.PutLogEvents(c, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
				LogEvents: logEvents(now, many...)})
			return err
		}, "ValidationException"},
		{"event too large", func() error {
			_, err := admin.PutLogEvents(c, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
				LogEvents: logEvents(now, strings.Repeat("x", logsMaxEventBytes+1))})
			return err
		}, "InvalidParameterException"},
		{"intern may not put", func() error {
			_, err := intern.PutLogEvents(c, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
				LogEvents: logEvents(now, "x")})
			return err
		}, "AccessDeniedException"},
		{"intern may not read", func() error {
			_, err := intern.GetLogEvents(c, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)})
			return err
		}, "AccessDeniedException"},
	} {
		t.Run(tc.desc, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}

	// A too new event is reported and not kept.
	out, err := admin.PutLogEvents(c, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
		LogEvents: logEvents(now.Add(3*time.Hour), "from the future")})
	if err != nil || out.RejectedLogEventsInfo == nil || aws.ToInt32(out.RejectedLogEventsInfo.TooNewLogEventStartIndex) != 0 {
		t.Errorf("a too new event: %+v, %v; want it rejected at index 0", out, err)
	}

	got, err := admin.GetLogEvents(c, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
		StartFromHead: aws.Bool(true), Limit: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 2 || !strings.Contains(aws.ToString(got.Events[0].Message), "session.start") {
		t.Fatalf("first page: %+v", got.Events)
	}
	next, err := admin.GetLogEvents(c, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
		StartFromHead: aws.Bool(true), NextToken: got.NextForwardToken})
	if err != nil || len(next.Events) != 1 || aws.ToString(next.Events[0].Message) != "plain text line" {
		t.Fatalf("second page: %+v, %v", next, err)
	}
	last, err := admin.GetLogEvents(c, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
		StartFromHead: aws.Bool(true), NextToken: next.NextForwardToken})
	if err != nil || len(last.Events) != 0 || aws.ToString(last.NextForwardToken) != aws.ToString(next.NextForwardToken) {
		t.Fatalf("the end must repeat the token: %+v, %v", last, err)
	}

	for _, tc := range []struct {
		pattern string
		want    int
	}{
		{"", 3},
		{"session", 2},
		{`"plain text"`, 1},
		{`{ $.type = "session.end" }`, 1},
		{`{ $.session_id = a1 }`, 2},
		{"nothing-like-this", 0},
	} {
		f, err := admin.FilterLogEvents(c, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), FilterPattern: aws.String(tc.pattern)})
		if err != nil {
			t.Errorf("filter %q: %v", tc.pattern, err)
			continue
		}
		if len(f.Events) != tc.want {
			t.Errorf("filter %q: %d events, want %d", tc.pattern, len(f.Events), tc.want)
		}
	}

	groups, err := admin.DescribeLogGroups(c, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/rdsgate")})
	if err != nil || len(groups.LogGroups) != 1 || aws.ToString(groups.LogGroups[0].LogGroupName) != group {
		t.Errorf("DescribeLogGroups: %+v, %v", groups, err)
	}
}

// TestLogsDown checks the logs-down fault: every Logs call is unavailable
// until the world's LogsDownUntil, and served again after.
func TestLogsDown(t *testing.T) {
	e := start(t)
	c := ctx(t)
	cfg := e.cfg(t, "admin")
	admin := cloudwatchlogs.NewFromConfig(cfg)
	e.world.Update(func() { e.world.LogsDownUntil = e.clock.now().Add(time.Hour) })
	_, err := admin.CreateLogGroup(c, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("g")})
	wantCode(t, err, "ServiceUnavailableException")
	if !strings.Contains(e.log.String(), "logs-down fault") {
		t.Errorf("the log does not say why: %s", e.log.String())
	}
	e.world.Update(func() { e.world.LogsDownUntil = time.Time{} })
	if _, err := admin.CreateLogGroup(c, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("g")}); err != nil {
		t.Fatalf("after the fault: %v", err)
	}
}

// TestLogsAWSCLI writes with the SDK and reads back with the AWS CLI v2.
func TestLogsAWSCLI(t *testing.T) {
	cli := testpeer.AWSCLIv2(t)
	e := start(t)
	c := ctx(t)
	admin := principal(t, e.world, "admin")
	api := cloudwatchlogs.NewFromConfig(e.cfg(t, "admin"))
	env := cliEnv(t, admin.AccessKeyID, admin.SecretAccessKey)
	run := func(args ...string) []byte {
		t.Helper()
		cctx, cancel := context.WithTimeout(c, 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, cli, append([]string{"--endpoint-url", e.url, "--output", "json", "logs"}, args...)...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("aws logs %s: %v %s", strings.Join(args, " "), err, out)
		}
		return out
	}
	run("create-log-group", "--log-group-name", "cli-group")
	run("create-log-stream", "--log-group-name", "cli-group", "--log-stream-name", "s1")
	var msgs []string
	for i := range 5 {
		msgs = append(msgs, fmt.Sprintf(`{"n":%d}`, i))
	}
	if _, err := api.PutLogEvents(c, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("cli-group"), LogStreamName: aws.String("s1"),
		LogEvents: logEvents(time.Now(), msgs...)}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Events []struct {
			Message string `json:"message"`
		} `json:"events"`
	}
	if err := json.Unmarshal(run("get-log-events", "--log-group-name", "cli-group", "--log-stream-name", "s1", "--start-from-head"), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 5 || got.Events[4].Message != `{"n":4}` {
		t.Errorf("get-log-events: %+v", got.Events)
	}
	if err := json.Unmarshal(run("filter-log-events", "--log-group-name", "cli-group", "--filter-pattern", "{ $.n = 3 }"), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 1 || got.Events[0].Message != `{"n":3}` {
		t.Errorf("filter-log-events: %+v", got.Events)
	}
	if out := run("describe-log-groups"); !strings.Contains(string(out), `"logGroupName": "cli-group"`) {
		t.Errorf("describe-log-groups: %s", out)
	}
}

// FuzzFilterPattern feeds the filter parser and matcher arbitrary patterns
// and messages: errors, never panics.
func FuzzFilterPattern(f *testing.F) {
	for _, s := range []string{"", "a b", `"x y" z`, `{ $.a = "b" }`, `{ $.a.b = 1 }`, `{ $. = }`, `"`, `{`, `{ $.a != 1 }`} {
		f.Add(s, `{"a":{"b":1},"c":"x y z"}`)
	}
	f.Fuzz(func(t *testing.T, pattern, msg string) {
		m, err := parseFilterPattern(pattern)
		if err != nil {
			return
		}
		m(msg)
	})
}
