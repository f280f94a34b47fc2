package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Destination kinds (Dest.Kind).
const (
	DestFile       = "file"
	DestStderr     = "stderr"
	DestStdout     = "stdout"
	DestCloudWatch = "cloudwatch"
)

// CloudWatchPrefix starts a CloudWatch Logs destination:
// cloudwatch:GROUP[/STREAM].
const CloudWatchPrefix = "cloudwatch:"

// ErrNoCloudWatch is returned by Open for a CloudWatch Logs destination
// when OpenOptions.CloudWatch is nil.
var ErrNoCloudWatch = errors.New("CloudWatch Logs destinations need an AWS configuration")

// Dest is one place session records go.
type Dest struct {
	// Kind is DestFile, DestStderr, DestStdout or DestCloudWatch.
	Kind string
	// Path is a file's path.
	Path string
	// Group and Stream name a CloudWatch Logs group and stream; an empty
	// Stream means one per host and day.
	Group, Stream string
}

func (d Dest) String() string {
	switch d.Kind {
	case DestFile:
		return d.Path
	case DestCloudWatch:
		if d.Stream == "" {
			return CloudWatchPrefix + d.Group + "/"
		}
		return CloudWatchPrefix + d.Group + "/" + d.Stream
	}
	return d.Kind
}

// ParseDests reads destinations, each value a comma-separated list of:
//
//	"-"                      standard error
//	stdout                   standard output (a container's log collector)
//	cloudwatch:GROUP         CloudWatch Logs, a stream per host and day
//	cloudwatch:GROUP/STREAM  CloudWatch Logs, one stream
//	anything else            a file (appended to, created 0600)
//
// A CloudWatch value splits at its last '/': a group whose name holds
// slashes takes a trailing one for the default stream
// (cloudwatch:/rdsgate/sessions/). Empty values are skipped; a destination
// given twice counts once.
func ParseDests(values []string) ([]Dest, error) {
	var out []Dest
	seen := map[Dest]bool{}
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			d, err := parseDest(s)
			if err != nil {
				return nil, err
			}
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out, nil
}

func parseDest(s string) (Dest, error) {
	switch {
	case s == "-":
		return Dest{Kind: DestStderr}, nil
	case s == "stdout":
		return Dest{Kind: DestStdout}, nil
	case strings.HasPrefix(s, CloudWatchPrefix):
		rest := strings.TrimPrefix(s, CloudWatchPrefix)
		group, stream := rest, ""
		if i := strings.LastIndexByte(rest, '/'); i > 0 {
			group, stream = rest[:i], rest[i+1:]
		}
		if err := checkGroup(group); err != nil {
			return Dest{}, fmt.Errorf("session: %q: %w", s, err)
		}
		if len(stream) > 512 || strings.ContainsAny(stream, ":*") {
			return Dest{}, fmt.Errorf("session: %q: a log stream name has at most 512 characters and no ':' or '*'", s)
		}
		return Dest{Kind: DestCloudWatch, Group: group, Stream: stream}, nil
	}
	return Dest{Kind: DestFile, Path: s}, nil
}

// checkGroup applies CloudWatch Logs' rule for group names.
func checkGroup(g string) error {
	if g == "" || len(g) > 512 {
		return errors.New("a log group name has 1 to 512 characters")
	}
	for _, r := range g {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/#", r)) {
			return fmt.Errorf("a log group name has only letters, digits and . _ - / #, not %q", r)
		}
	}
	return nil
}

// OpenOptions are what Open needs besides the destinations.
type OpenOptions struct {
	// Log receives one line per session and the sinks' errors.
	Log *slog.Logger
	// Stderr and Stdout are the streams "-" and "stdout" write to
	// (default os.Stderr, os.Stdout).
	Stderr, Stdout io.Writer
	// CloudWatch returns the Shipper of a CloudWatch Logs destination
	// (cwlogs.Opener); nil makes such a destination an error
	// (ErrNoCloudWatch). It is called once per destination, by Open.
	CloudWatch func(ctx context.Context, d Dest) (Shipper, error)
	// Remote tunes the CloudWatch Logs sinks (spool directory, delays).
	Remote RemoteOptions
	// ExpandPath, if set, rewrites a file destination's path before it is
	// opened (config.ExpandHome, for ~/).
	ExpandPath func(string) string
}

// OpenDests returns a recorder that logs sessions to opts.Log and writes
// them to every destination (see ParseDests for their syntax). ctx bounds
// what opening needs (loading the AWS configuration); nothing is sent yet.
func OpenDests(ctx context.Context, dests []string, opts OpenOptions) (*Recorder, error) {
	ds, err := ParseDests(dests)
	if err != nil {
		return nil, err
	}
	var sinks []Sink
	fail := func(err error) (*Recorder, error) {
		for _, s := range sinks {
			_ = s.Close(ctx)
		}
		return nil, err
	}
	for _, d := range ds {
		switch d.Kind {
		case DestStderr:
			sinks = append(sinks, NewWriterSink(orWriter(opts.Stderr, os.Stderr)))
		case DestStdout:
			sinks = append(sinks, NewWriterSink(orWriter(opts.Stdout, os.Stdout)))
		case DestFile:
			path := d.Path
			if opts.ExpandPath != nil {
				path = opts.ExpandPath(path)
			}
			fs, err := OpenFile(path)
			if err != nil {
				return fail(err)
			}
			sinks = append(sinks, fs)
		case DestCloudWatch:
			if opts.CloudWatch == nil {
				return fail(fmt.Errorf("session: %s: %w", d, ErrNoCloudWatch))
			}
			sh, err := opts.CloudWatch(ctx, d)
			if err != nil {
				return fail(fmt.Errorf("session: %s: %w", d, err))
			}
			ro := opts.Remote
			if ro.Log == nil {
				ro.Log = opts.Log
			}
			rs, err := NewRemoteSink(sh, ro)
			if err != nil {
				return fail(err)
			}
			sinks = append(sinks, rs)
		}
	}
	return NewRecorder(opts.Log, sinks...), nil
}

// Open returns a recorder that logs sessions to log and also writes them
// as JSON lines to dest: nowhere else when dest is "", stderr when it is
// "-", stdout when it is "stdout", else the file dest (appended to,
// created private). It is OpenDests without CloudWatch Logs.
func Open(dest string, log *slog.Logger, stderr io.Writer) (*Recorder, error) {
	return OpenDests(context.Background(), []string{dest}, OpenOptions{Log: log, Stderr: stderr})
}

func orWriter(w, def io.Writer) io.Writer {
	if w == nil {
		return def
	}
	return w
}
