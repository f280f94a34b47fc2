package awsapi

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/sandbox/world"
)

// CloudWatch Logs limits the sandbox enforces as AWS does.
const (
	// logsMaxBatchEvents and logsMaxBatchBytes bound one PutLogEvents call;
	// an event counts its message's bytes plus logsEventOverhead.
	logsMaxBatchEvents = 10000
	logsMaxBatchBytes  = 1 << 20
	logsEventOverhead  = 26
	logsMaxEventBytes  = 256 << 10
	// logsMaxBatchSpan is the widest time span of one batch.
	logsMaxBatchSpan = 24 * time.Hour
	// Events more than logsTooNew ahead of the server's clock or older than
	// logsTooOld are rejected (and reported), not stored.
	logsTooNew = 2 * time.Hour
	logsTooOld = 14 * 24 * time.Hour
	// logsMaxReadEvents bounds one GetLogEvents or FilterLogEvents answer.
	logsMaxReadEvents = 10000
	// logsMaxStoredBytes bounds what a sandbox keeps in all its streams.
	logsMaxStoredBytes = 64 << 20
)

// logsName checks group names; stream names may hold anything but ':' and '*'.
var logsName = regexp.MustCompile(`^[\.\-_/#A-Za-z0-9]+$`)

// logsOps are the CloudWatch Logs operations the sandbox serves. While the
// world's LogsDownUntil is ahead, every one of them answers
// ServiceUnavailableException (the logs-down fault).
func (s *Server) logsOps() map[string]op {
	ops := map[string]op{
		"DescribeLogGroups": s.describeLogGroups, "DescribeMetricFilters": s.describeMetricFilters,
		"CreateLogGroup": s.createLogGroup, "CreateLogStream": s.createLogStream, "PutLogEvents": s.putLogEvents,
		"GetLogEvents": s.getLogEvents, "FilterLogEvents": s.filterLogEvents,
	}
	for name, fn := range ops {
		ops[name] = s.logsUp(fn)
	}
	return ops
}

// logsUp answers ServiceUnavailableException instead of fn while the
// logs-down fault lasts.
func (s *Server) logsUp(fn op) op {
	return func(c *call) (any, *apiError) {
		var until time.Time
		s.world.View(func() { until = s.world.LogsDownUntil })
		if now := s.now(); now.Before(until) {
			return nil, (&apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailableException", Receiver: true,
				Message: "The service cannot complete the request."}).withReason("logs-down fault for %s more", until.Sub(now).Round(time.Millisecond))
		}
		return fn(c)
	}
}

// logGroupARN is a group's ARN as IAM policies name it.
func (s *Server) logGroupARN(name string) string { return s.arn("logs", "log-group:"+name) }

// logsGroupName validates a logGroupName member.
func logsGroupName(c *call, name *string) (string, *apiError) {
	if name == nil {
		return "", missingParam(c.svc, "LogGroupName")
	}
	if e := lengthBetween(c.svc, "logGroupName", *name, 1, 512); e != nil {
		return "", e
	}
	if !logsName.MatchString(*name) {
		return "", validation(c.svc, "1 validation error detected: Value '%s' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+", shorten(*name))
	}
	return *name, nil
}

// logsStreamName validates a logStreamName member.
func logsStreamName(c *call, name *string) (string, *apiError) {
	if name == nil {
		return "", missingParam(c.svc, "LogStreamName")
	}
	if e := lengthBetween(c.svc, "logStreamName", *name, 1, 512); e != nil {
		return "", e
	}
	if strings.ContainsAny(*name, ":*") {
		return "", validation(c.svc, "1 validation error detected: Value '%s' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*", shorten(*name))
	}
	return *name, nil
}

func noGroup(name string) *apiError {
	return clientError("ResourceNotFoundException", "The specified log group does not exist.").withReason("no log group %s", quoteShort(name))
}

func noStream(group, name string) *apiError {
	return clientError("ResourceNotFoundException", "The specified log stream does not exist.").
		withReason("no log stream %s in group %s", quoteShort(name), quoteShort(group))
}

// describeLogGroups answers CloudWatch Logs DescribeLogGroups: the groups
// CreateLogGroup made (the sandbox's databases export no logs), by name,
// optionally those starting with logGroupNamePrefix.
func (s *Server) describeLogGroups(c *call) (any, *apiError) {
	var in struct {
		Prefix    string `json:"logGroupNamePrefix"`
		Limit     *int   `json:"limit"`
		NextToken string `json:"nextToken"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	if e := s.authorize(c, "logs:DescribeLogGroups", s.arn("logs", "log-group:*"), nil); e != nil {
		return nil, e
	}
	limit := 50
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 50 {
			return nil, validation(c.svc, "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 50", *in.Limit)
		}
		limit = *in.Limit
	}
	groups := []logGroupJSON{}
	s.world.View(func() {
		for _, g := range s.world.LogGroups {
			if strings.HasPrefix(g.Name, in.Prefix) {
				groups = append(groups, logGroupJSON{LogGroupName: g.Name, Arn: g.ARN + ":*", CreationTime: g.Created.UnixMilli()})
			}
		}
	})
	slices.SortFunc(groups, func(a, b logGroupJSON) int { return strings.Compare(a.LogGroupName, b.LogGroupName) })
	start, e := logsToken(c, in.NextToken, len(groups))
	if e != nil {
		return nil, e
	}
	out := map[string]any{}
	end := min(start+limit, len(groups))
	out["logGroups"] = groups[start:end]
	if end < len(groups) {
		out["nextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

// describeMetricFilters answers CloudWatch Logs DescribeMetricFilters:
// none (no-outside-vpc-connection-alarm fails).
func (s *Server) describeMetricFilters(c *call) (any, *apiError) {
	if e := s.authorize(c, "logs:DescribeMetricFilters", s.arn("logs", "log-group:*"), nil); e != nil {
		return nil, e
	}
	return map[string]any{"metricFilters": []struct{}{}}, nil
}

// createLogGroup answers CloudWatch Logs CreateLogGroup.
func (s *Server) createLogGroup(c *call) (any, *apiError) {
	var in struct {
		LogGroupName *string `json:"logGroupName"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	name, e := logsGroupName(c, in.LogGroupName)
	if e != nil {
		return nil, e
	}
	if e := s.authorize(c, "logs:CreateLogGroup", s.logGroupARN(name), nil); e != nil {
		return nil, e
	}
	s.world.Update(func() {
		if _, ok := s.world.LogGroup(name); ok {
			e = clientError("ResourceAlreadyExistsException", "The specified log group already exists").withReason("log group %s exists", quoteShort(name))
			return
		}
		s.world.LogGroups = append(s.world.LogGroups, world.LogGroup{Name: name, ARN: s.logGroupARN(name), Created: s.now().UTC()})
	})
	if e != nil {
		return nil, e
	}
	return struct{}{}, nil
}

// createLogStream answers CloudWatch Logs CreateLogStream.
func (s *Server) createLogStream(c *call) (any, *apiError) {
	var in struct {
		LogGroupName  *string `json:"logGroupName"`
		LogStreamName *string `json:"logStreamName"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	group, stream, e := s.authorizeStream(c, "logs:CreateLogStream", in.LogGroupName, in.LogStreamName)
	if e != nil {
		return nil, e
	}
	s.world.Update(func() {
		g, ok := s.world.LogGroup(group)
		if !ok {
			e = noGroup(group)
			return
		}
		if _, dup := g.Stream(stream); dup {
			e = clientError("ResourceAlreadyExistsException", "The specified log stream already exists").
				withReason("log stream %s exists in %s", quoteShort(stream), quoteShort(group))
			return
		}
		g.Streams = append(g.Streams, world.LogStream{Name: stream, Created: s.now().UTC()})
	})
	if e != nil {
		return nil, e
	}
	return struct{}{}, nil
}

type logEventIn struct {
	Timestamp *int64  `json:"timestamp"`
	Message   *string `json:"message"`
}

// putLogEvents answers CloudWatch Logs PutLogEvents with AWS's checks: at
// most 10,000 events and 1 MiB per batch, in time order, spanning at most
// 24 hours. Events too new or too old are reported as rejected and not
// stored. The sequence token is accepted and ignored, as AWS now does.
func (s *Server) putLogEvents(c *call) (any, *apiError) {
	var in struct {
		LogGroupName  *string      `json:"logGroupName"`
		LogStreamName *string      `json:"logStreamName"`
		LogEvents     []logEventIn `json:"logEvents"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	group, stream, e := s.authorizeStream(c, "logs:PutLogEvents", in.LogGroupName, in.LogStreamName)
	if e != nil {
		return nil, e
	}
	events, e := checkLogBatch(c, in.LogEvents)
	if e != nil {
		return nil, e
	}
	now := s.now().UTC()
	rejected := map[string]int{}
	keep := make([]world.LogEvent, 0, len(events))
	for i, ev := range events {
		switch {
		case ev.Timestamp.After(now.Add(logsTooNew)):
			if _, seen := rejected["tooNewLogEventStartIndex"]; !seen {
				rejected["tooNewLogEventStartIndex"] = i
			}
		case ev.Timestamp.Before(now.Add(-logsTooOld)):
			rejected["tooOldLogEventEndIndex"] = i
		default:
			ev.Ingested = now
			keep = append(keep, ev)
		}
	}
	s.world.Update(func() {
		g, ok := s.world.LogGroup(group)
		if !ok {
			e = noGroup(group)
			return
		}
		st, ok := g.Stream(stream)
		if !ok {
			e = noStream(group, stream)
			return
		}
		if storedLogBytes(s.world)+batchBytes(keep) > logsMaxStoredBytes {
			e = clientError("LimitExceededException", "Resource limit exceeded.").withReason("the sandbox keeps at most %d bytes of log events", logsMaxStoredBytes)
			return
		}
		st.Events = append(st.Events, keep...)
		slices.SortStableFunc(st.Events, func(a, b world.LogEvent) int { return a.Timestamp.Compare(b.Timestamp) })
	})
	if e != nil {
		return nil, e
	}
	out := map[string]any{"nextSequenceToken": strconv.FormatInt(now.UnixNano(), 10)}
	if len(rejected) > 0 {
		out["rejectedLogEventsInfo"] = rejected
	}
	return out, nil
}

// checkLogBatch validates PutLogEvents' events and converts them.
func checkLogBatch(c *call, in []logEventIn) ([]world.LogEvent, *apiError) {
	if len(in) < 1 || len(in) > logsMaxBatchEvents {
		return nil, validation(c.svc, "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length between 1 and %d", logsMaxBatchEvents)
	}
	out := make([]world.LogEvent, len(in))
	size := 0
	for i, ev := range in {
		if ev.Timestamp == nil || ev.Message == nil {
			return nil, validation(c.svc, "1 validation error detected: Value null at 'logEvents.%d.member.%s' failed to satisfy constraint: Member must not be null",
				i+1, map[bool]string{true: "timestamp", false: "message"}[ev.Timestamp == nil])
		}
		if len(*ev.Message) < 1 || len(*ev.Message) > logsMaxEventBytes {
			return nil, clientError("InvalidParameterException", "Log event too large or empty.").withReason("event %d has %d bytes", i, len(*ev.Message))
		}
		size += len(*ev.Message) + logsEventOverhead
		out[i] = world.LogEvent{Timestamp: time.UnixMilli(*ev.Timestamp).UTC(), Message: *ev.Message}
		if i > 0 && out[i].Timestamp.Before(out[i-1].Timestamp) {
			return nil, clientError("InvalidParameterException", "Log events in a single PutLogEvents request must be in chronological order.").
				withReason("event %d is older than event %d", i, i-1)
		}
	}
	if size > logsMaxBatchBytes {
		return nil, clientError("InvalidParameterException", "Upload too large: %d bytes exceeds limit of %d", size, logsMaxBatchBytes)
	}
	if out[len(out)-1].Timestamp.Sub(out[0].Timestamp) > logsMaxBatchSpan {
		return nil, clientError("InvalidParameterException", "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
	}
	return out, nil
}

func batchBytes(evs []world.LogEvent) int {
	n := 0
	for _, ev := range evs {
		n += len(ev.Message) + logsEventOverhead
	}
	return n
}

// storedLogBytes is what the world's streams hold; call it under the lock.
func storedLogBytes(w *world.World) int {
	n := 0
	for _, g := range w.LogGroups {
		for _, st := range g.Streams {
			n += batchBytes(st.Events)
		}
	}
	return n
}

type logEventOut struct {
	LogStreamName string `json:"logStreamName,omitempty"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId,omitempty"`
}

// getLogEvents answers CloudWatch Logs GetLogEvents. Tokens are "f/N" and
// "b/N", N the index of the next event forward (or the end of the page
// backward); the last forward page returns the token it was given, which is
// how clients know they have read everything.
func (s *Server) getLogEvents(c *call) (any, *apiError) {
	var in struct {
		LogGroupName       *string `json:"logGroupName"`
		LogGroupIdentifier *string `json:"logGroupIdentifier"`
		LogStreamName      *string `json:"logStreamName"`
		StartTime          *int64  `json:"startTime"`
		EndTime            *int64  `json:"endTime"`
		NextToken          string  `json:"nextToken"`
		Limit              *int    `json:"limit"`
		StartFromHead      bool    `json:"startFromHead"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	if in.LogGroupName == nil && in.LogGroupIdentifier != nil {
		id := strings.TrimSuffix(*in.LogGroupIdentifier, ":*")
		_, name, _ := strings.Cut(id, ":log-group:")
		in.LogGroupName = &name
		if !strings.HasPrefix(id, "arn:") {
			in.LogGroupName = &id
		}
	}
	group, e := logsGroupName(c, in.LogGroupName)
	if e != nil {
		return nil, e
	}
	stream, e := logsStreamName(c, in.LogStreamName)
	if e != nil {
		return nil, e
	}
	limit, e := logsLimit(c, in.Limit)
	if e != nil {
		return nil, e
	}
	if e := s.authorize(c, "logs:GetLogEvents", s.logGroupARN(group)+":log-stream:"+stream, nil); e != nil {
		return nil, e
	}
	var evs []world.LogEvent
	s.world.View(func() {
		g, ok := s.world.LogGroup(group)
		if !ok {
			e = noGroup(group)
			return
		}
		st, ok := g.Stream(stream)
		if !ok {
			e = noStream(group, stream)
			return
		}
		for _, ev := range st.Events {
			if inTimeRange(ev.Timestamp, in.StartTime, in.EndTime) {
				evs = append(evs, ev)
			}
		}
	})
	if e != nil {
		return nil, e
	}
	var from, to int
	switch {
	case in.NextToken == "" && in.StartFromHead:
		from, to = 0, min(limit, len(evs))
	case in.NextToken == "":
		from, to = max(0, len(evs)-limit), len(evs)
	default:
		dir, n, ok := strings.Cut(in.NextToken, "/")
		i, err := strconv.Atoi(n)
		if !ok || err != nil || (dir != "f" && dir != "b") || i < 0 || i > len(evs) {
			return nil, clientError("InvalidParameterException", "The specified nextToken is invalid.").withReason("token %s", quoteShort(in.NextToken))
		}
		if dir == "f" {
			from, to = i, min(i+limit, len(evs))
		} else {
			from, to = max(0, i-limit), i
		}
	}
	out := make([]logEventOut, 0, to-from)
	for _, ev := range evs[from:to] {
		out = append(out, logEventOut{Timestamp: ev.Timestamp.UnixMilli(), Message: ev.Message, IngestionTime: ev.Ingested.UnixMilli()})
	}
	return map[string]any{"events": out, "nextForwardToken": "f/" + strconv.Itoa(to), "nextBackwardToken": "b/" + strconv.Itoa(from)}, nil
}

// filterLogEvents answers CloudWatch Logs FilterLogEvents: the events of a
// group's streams (all, named, or by prefix) in time order, those matching
// filterPattern (see parseFilterPattern).
func (s *Server) filterLogEvents(c *call) (any, *apiError) {
	var in struct {
		LogGroupName        *string  `json:"logGroupName"`
		LogStreamNames      []string `json:"logStreamNames"`
		LogStreamNamePrefix string   `json:"logStreamNamePrefix"`
		StartTime           *int64   `json:"startTime"`
		EndTime             *int64   `json:"endTime"`
		FilterPattern       string   `json:"filterPattern"`
		NextToken           string   `json:"nextToken"`
		Limit               *int     `json:"limit"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	group, e := logsGroupName(c, in.LogGroupName)
	if e != nil {
		return nil, e
	}
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != "" {
		return nil, clientError("InvalidParameterException", "Cannot specify both LogStreamNames and LogStreamNamePrefix")
	}
	limit, e := logsLimit(c, in.Limit)
	if e != nil {
		return nil, e
	}
	match, err := parseFilterPattern(in.FilterPattern)
	if err != nil {
		return nil, clientError("InvalidParameterException", "Invalid filter pattern").withReason("filter pattern: %v", err)
	}
	if e := s.authorize(c, "logs:FilterLogEvents", s.logGroupARN(group), nil); e != nil {
		return nil, e
	}
	var evs []logEventOut
	s.world.View(func() {
		g, ok := s.world.LogGroup(group)
		if !ok {
			e = noGroup(group)
			return
		}
		for _, st := range g.Streams {
			if (len(in.LogStreamNames) > 0 && !slices.Contains(in.LogStreamNames, st.Name)) || !strings.HasPrefix(st.Name, in.LogStreamNamePrefix) {
				continue
			}
			for i, ev := range st.Events {
				if inTimeRange(ev.Timestamp, in.StartTime, in.EndTime) && match(ev.Message) {
					evs = append(evs, logEventOut{LogStreamName: st.Name, Timestamp: ev.Timestamp.UnixMilli(), Message: ev.Message,
						IngestionTime: ev.Ingested.UnixMilli(), EventID: fmt.Sprintf("%s/%d", st.Name, i)})
				}
			}
		}
	})
	if e != nil {
		return nil, e
	}
	slices.SortStableFunc(evs, func(a, b logEventOut) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
	start, e := logsToken(c, in.NextToken, len(evs))
	if e != nil {
		return nil, e
	}
	end := min(start+limit, len(evs))
	out := map[string]any{"events": evs[start:end], "searchedLogStreams": []struct{}{}}
	if end < len(evs) {
		out["nextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

// logsLimit validates a read's limit member (default and maximum 10,000).
func logsLimit(c *call, limit *int) (int, *apiError) {
	if limit == nil {
		return logsMaxReadEvents, nil
	}
	if *limit < 1 || *limit > logsMaxReadEvents {
		return 0, validation(c.svc, "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", *limit, logsMaxReadEvents)
	}
	return *limit, nil
}

// logsToken parses a list's nextToken: the index of the next item.
func logsToken(c *call, token string, n int) (int, *apiError) {
	if token == "" {
		return 0, nil
	}
	i, err := strconv.Atoi(token)
	if err != nil || i < 0 || i > n {
		return 0, clientError("InvalidParameterException", "The specified nextToken is invalid.").withReason("token %s", quoteShort(token))
	}
	return i, nil
}

// inTimeRange reports whether t is in [start, end) given in epoch
// milliseconds (either may be absent).
func inTimeRange(t time.Time, start, end *int64) bool {
	ms := t.UnixMilli()
	return (start == nil || ms >= *start) && (end == nil || ms < *end)
}

// parseFilterPattern understands the two forms of CloudWatch Logs filter
// patterns session records are searched with: terms, each of which must
// appear in the message (a term may be "double quoted" to hold spaces;
// case-sensitive), and a JSON equality { $.a.b = "v" } or { $.a = 12 }
// against the message parsed as JSON. An empty pattern matches everything.
func parseFilterPattern(p string) (func(string) bool, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return func(string) bool { return true }, nil
	}
	if strings.HasPrefix(p, "{") {
		return parseJSONFilter(p)
	}
	var terms []string
	for rest := p; rest != ""; rest = strings.TrimLeft(rest, " \t") {
		if rest[0] == '"' {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", shorten(p))
			}
			terms = append(terms, rest[1:1+end])
			rest = rest[2+end:]
			continue
		}
		term, after, _ := strings.Cut(rest, " ")
		terms = append(terms, term)
		rest = after
	}
	return func(msg string) bool {
		for _, t := range terms {
			if !strings.Contains(msg, t) {
				return false
			}
		}
		return true
	}, nil
}

// parseJSONFilter parses { $.path = value } (value a "string", a bare word
// or a number) into a matcher.
func parseJSONFilter(p string) (func(string) bool, error) {
	body, ok := strings.CutSuffix(strings.TrimSpace(strings.TrimPrefix(p, "{")), "}")
	if !ok {
		return nil, fmt.Errorf("JSON filter %q lacks its closing brace", shorten(p))
	}
	lhs, rhs, ok := strings.Cut(body, "=")
	if !ok || strings.ContainsAny(lhs, "!<>") {
		return nil, fmt.Errorf("JSON filter %q: only = is supported", shorten(p))
	}
	path, ok := strings.CutPrefix(strings.TrimSpace(lhs), "$.")
	if !ok || path == "" {
		return nil, fmt.Errorf("JSON filter %q: the selector must start with $.", shorten(p))
	}
	want := strings.TrimSpace(rhs)
	if u, err := strconv.Unquote(want); err == nil && strings.HasPrefix(want, `"`) {
		want = u
	}
	keys := strings.Split(path, ".")
	return func(msg string) bool {
		var v any
		if json.Unmarshal([]byte(msg), &v) != nil {
			return false
		}
		for _, k := range keys {
			m, ok := v.(map[string]any)
			if !ok {
				return false
			}
			v = m[k]
		}
		switch x := v.(type) {
		case string:
			return x == want
		case float64:
			f, err := strconv.ParseFloat(want, 64)
			return err == nil && f == x
		case bool:
			return strconv.FormatBool(x) == want
		}
		return false
	}, nil
}

// authorizeStream checks a request's group and stream names and whether
// the caller may do action on that stream.
func (s *Server) authorizeStream(c *call, action string, groupName, streamName *string) (group, stream string, e *apiError) {
	if group, e = logsGroupName(c, groupName); e != nil {
		return "", "", e
	}
	if stream, e = logsStreamName(c, streamName); e != nil {
		return "", "", e
	}
	return group, stream, s.authorize(c, action, s.logGroupARN(group)+":log-stream:"+stream, nil)
}
