// Package cwlogs sends session records to Amazon CloudWatch Logs: a
// session.Shipper that creates its log group and stream when they are
// missing and keeps to PutLogEvents' limits. It is apart from package
// session so that a recorder without CloudWatch links no AWS client.
package cwlogs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/rdsgate/rdsgate/session"
)

// PutLogEvents limits (AWS's): events and bytes per call, an event's bytes
// counting its message plus EventOverhead, and the widest time span.
const (
	MaxBatchEvents = 10000
	MaxBatchBytes  = 1 << 20
	EventOverhead  = 26
	MaxEventBytes  = 256<<10 - EventOverhead
	MaxBatchSpan   = 24 * time.Hour
)

// Events older than oldest or newer than newest would be rejected; their
// timestamp is moved inside the window (the record keeps its own time).
const (
	oldest = 14*24*time.Hour - time.Hour
	newest = 2*time.Hour - time.Minute
)

// Shipper puts session records into one log group; see New.
type Shipper struct {
	api  *cloudwatchlogs.Client
	dest session.Dest
	host string
	log  *slog.Logger
	now  func() time.Time
}

// New returns a shipper for d (a session.DestCloudWatch) using cfg. With
// no stream in d, records go to the stream HOST/YYYY-MM-DD of their day
// (UTC). log receives refused records (never their content).
func New(cfg aws.Config, d session.Dest, log *slog.Logger) (*Shipper, error) {
	if d.Kind != session.DestCloudWatch {
		return nil, fmt.Errorf("cwlogs: %s is not a CloudWatch Logs destination", d)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Shipper{api: cloudwatchlogs.NewFromConfig(cfg), dest: d, host: host, log: log, now: time.Now}, nil
}

// Opener returns the OpenOptions.CloudWatch of session.OpenDests: it loads
// the AWS configuration with load (once per destination, when the recorder
// opens) and makes a Shipper.
func Opener(load func(context.Context) (aws.Config, error), log *slog.Logger) func(context.Context, session.Dest) (session.Shipper, error) {
	return func(ctx context.Context, d session.Dest) (session.Shipper, error) {
		cfg, err := load(ctx)
		if err != nil {
			return nil, fmt.Errorf("cwlogs: AWS configuration: %w", err)
		}
		return New(cfg, d, log)
	}
}

// String names the destination.
func (s *Shipper) String() string { return s.dest.String() }

// Stream returns the stream a record of time t goes to.
func (s *Shipper) Stream(t time.Time) string {
	if s.dest.Stream != "" {
		return s.dest.Stream
	}
	return s.host + "/" + t.UTC().Format(time.DateOnly)
}

// Ship puts lines (in time order) in as few PutLogEvents calls as the
// limits allow, one stream at a time, and returns how many were stored.
func (s *Shipper) Ship(ctx context.Context, lines []session.Line) (int, error) {
	now := s.now()
	sent := 0
	for sent < len(lines) {
		stream := s.Stream(lines[sent].Time)
		n, events := batch(lines[sent:], stream, s.Stream, now)
		if dropped := n - len(events); dropped > 0 {
			s.log.Error("session records too large for CloudWatch Logs: dropped", "records", dropped, "max_bytes", MaxEventBytes)
		}
		if len(events) > 0 {
			if err := s.put(ctx, stream, events); err != nil {
				return sent, err
			}
		}
		sent += n
	}
	return sent, nil
}

// batch takes from lines (in time order) the longest run that one
// PutLogEvents call to stream can take; n counts the lines used, events
// those sent (a line over MaxEventBytes is used and not sent).
func batch(lines []session.Line, stream string, streamOf func(time.Time) string, now time.Time) (n int, events []types.InputLogEvent) {
	size := 0
	var first time.Time
	for _, l := range lines {
		if streamOf(l.Time) != stream || len(events) == MaxBatchEvents {
			break
		}
		if len(l.Data) > MaxEventBytes || len(l.Data) == 0 {
			n++
			continue
		}
		ts := clampTime(l.Time, now)
		if len(events) == 0 {
			first = ts
		}
		if size+len(l.Data)+EventOverhead > MaxBatchBytes || ts.Sub(first) > MaxBatchSpan {
			break
		}
		size += len(l.Data) + EventOverhead
		events = append(events, types.InputLogEvent{Timestamp: aws.Int64(ts.UnixMilli()), Message: aws.String(string(l.Data))})
		n++
	}
	return n, events
}

// clampTime moves t into the window CloudWatch Logs accepts around now;
// it keeps the order of times.
func clampTime(t, now time.Time) time.Time {
	if lo := now.Add(-oldest); t.Before(lo) {
		return lo
	}
	if hi := now.Add(newest); t.After(hi) {
		return hi
	}
	return t
}

// put sends one batch; when CloudWatch says the stream (or the group) is
// missing, it creates it and sends again. A principal that may only put
// events can record into a group and stream made beforehand.
func (s *Shipper) put(ctx context.Context, stream string, events []types.InputLogEvent) error {
	for attempt := 0; ; attempt++ {
		out, err := s.api.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
			LogGroupName: aws.String(s.dest.Group), LogStreamName: aws.String(stream), LogEvents: events})
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) && attempt == 0 {
			if err := s.create(ctx, stream); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("cwlogs: put %d records in %s stream %s: %w", len(events), s.dest.Group, stream, err)
		}
		if r := out.RejectedLogEventsInfo; r != nil {
			s.log.Error("session records refused by CloudWatch Logs (outside its time window)", "group", s.dest.Group, "stream", stream,
				"too_new_from", aws.ToInt32(r.TooNewLogEventStartIndex), "too_old_until", aws.ToInt32(r.TooOldLogEventEndIndex),
				"expired_until", aws.ToInt32(r.ExpiredLogEventEndIndex))
		}
		return nil
	}
}

// create makes the stream, and the group first if it is missing too.
func (s *Shipper) create(ctx context.Context, stream string) error {
	var exists *types.ResourceAlreadyExistsException
	var nf *types.ResourceNotFoundException
	createStream := func() error {
		_, err := s.api.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(s.dest.Group), LogStreamName: aws.String(stream)})
		if errors.As(err, &exists) {
			return nil
		}
		return err
	}
	err := createStream()
	if errors.As(err, &nf) {
		_, err = s.api.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(s.dest.Group)})
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("cwlogs: create log group %s: %w", s.dest.Group, err)
		}
		s.log.Info("session records: log group created", "group", s.dest.Group)
		err = createStream()
	}
	if err != nil {
		return fmt.Errorf("cwlogs: create log stream %s in %s: %w", stream, s.dest.Group, err)
	}
	return nil
}
