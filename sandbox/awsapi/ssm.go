package awsapi

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/sandbox/world"
)

// SessionStatus is a Session Manager session's state, named as SSM names it.
type SessionStatus string

// Session states the sandbox uses.
const (
	SessionConnected  SessionStatus = "Connected"
	SessionTerminated SessionStatus = "Terminated"
)

// Session is one Session Manager session opened with StartSession.
type Session struct {
	ID           string
	Target       string // instance id
	DocumentName string
	// Parameters are the document parameters with the document's defaults
	// filled in (e.g. portNumber, localPortNumber, host).
	Parameters map[string][]string
	Reason     string
	// Principal is the ARN of the principal that started the session, and
	// PrincipalUserID its aws:userid: the value of the session's
	// aws:ssmmessages:session-id tag, which IAM conditions on Resume and
	// TerminateSession read.
	Principal       string
	PrincipalUserID string
	// TokenValue is the current stream token: StartSession's, replaced by
	// each ResumeSession.
	TokenValue   string
	StreamURL    string
	Status       SessionStatus
	StartedAt    time.Time
	ResumedAt    time.Time // zero until resumed
	TerminatedAt time.Time // zero until terminated
}

func (x *Session) clone() Session {
	c := *x
	c.Parameters = make(map[string][]string, len(x.Parameters))
	for k, v := range x.Parameters {
		c.Parameters[k] = slices.Clone(v)
	}
	return c
}

// Sessions returns copies of all sessions, in the order they started.
func (s *Server) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Session, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.sessions[id].clone())
	}
	return out
}

// Session returns a copy of the session with id.
func (s *Server) Session(id string) (Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.sessions[id]
	if !ok {
		return Session{}, false
	}
	return x.clone(), true
}

// ValidateStreamToken reports whether token is the current stream token of
// the connected session sessionID (compared in constant time), and returns
// the session. A token replaced by ResumeSession, or of a terminated
// session, is refused.
func (s *Server) ValidateStreamToken(sessionID, token string) (Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.sessions[sessionID]
	if !ok || x.Status != SessionConnected || token == "" || !hmac.Equal([]byte(token), []byte(x.TokenValue)) {
		return Session{}, false
	}
	return x.clone(), true
}

// ssmOps are the Systems Manager operations the sandbox serves.
func (s *Server) ssmOps() map[string]op {
	return map[string]op{
		"DescribeInstanceInformation": s.describeInstanceInformation,
		"StartSession":                s.startSession,
		"ResumeSession":               s.resumeSession,
		"TerminateSession":            s.terminateSession,
		"DescribeSessions":            s.describeSessions,
		"GetParameter":                s.getParameter,
	}
}

type describeSessionsInput struct {
	State   *string
	Filters []struct {
		Key   string  `json:"key"`
		Value *string `json:"value"`
	}
	MaxResults *int
	NextToken  *string
}

type sessionInfo struct {
	SessionID          string     `json:"SessionId"`
	Target             string     `json:"Target"`
	Status             string     `json:"Status"`
	StartDate          epochTime  `json:"StartDate"`
	EndDate            *epochTime `json:"EndDate,omitempty"`
	DocumentName       string     `json:"DocumentName"`
	Owner              string     `json:"Owner"`
	Reason             string     `json:"Reason,omitempty"`
	MaxSessionDuration string     `json:"MaxSessionDuration,omitempty"`
	AccessType         string     `json:"AccessType"`
}

type describeSessionsOutput struct {
	Sessions  []sessionInfo `json:"Sessions"`
	NextToken string        `json:"NextToken,omitempty"`
}

// Session filter keys, as SSM names them.
var sessionFilterKeys = []string{"InvokedAfter", "InvokedBefore", "Target", "Owner", "Status", "SessionId", "AccessType"}

// describeSessions answers SSM DescribeSessions from the session table:
// State Active lists the connected sessions, History the terminated ones,
// newest first, each with the ARN of the principal that started it as
// Owner. Filters (each key once, as SSM allows) are InvokedAfter and
// InvokedBefore (RFC 3339 times), Target, Owner (an ARN), Status,
// SessionId and AccessType. IAM is asked for ssm:DescribeSessions.
func (s *Server) describeSessions(c *call) (any, *apiError) {
	var in describeSessionsInput
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	if in.State == nil {
		return nil, missingParam(c.svc, "State")
	}
	var want SessionStatus
	switch *in.State {
	case "Active":
		want = SessionConnected
	case "History":
		want = SessionTerminated
	default:
		return nil, validation(c.svc, "1 validation error detected: Value '%s' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [Active, History]", shorten(*in.State))
	}
	if e := s.authorize(c, "ssm:DescribeSessions", s.arn("ssm", "*"), nil); e != nil {
		return nil, e
	}
	limit := 20
	if in.MaxResults != nil {
		if n := *in.MaxResults; n < 1 || n > 200 {
			return nil, validation(c.svc, "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 200", n)
		}
		limit = *in.MaxResults
	}
	offset := 0
	if in.NextToken != nil && *in.NextToken != "" {
		n, ok := decodeMarker(*in.NextToken)
		if !ok {
			return nil, clientError("InvalidNextToken", "The specified token isn't valid.")
		}
		offset = n
	}
	if len(in.Filters) > 6 {
		return nil, validation(c.svc, "1 validation error detected: Value at 'filters' failed to satisfy constraint: Member must have length less than or equal to 6")
	}
	keep, e := sessionFilter(in.Filters)
	if e != nil {
		return nil, e
	}
	var list []sessionInfo
	s.mu.Lock()
	for i := len(s.order) - 1; i >= 0; i-- {
		x := s.sessions[s.order[i]]
		if x.Status != want || !keep(x) {
			continue
		}
		info := sessionInfo{SessionID: x.ID, Target: x.Target, Status: string(x.Status), StartDate: epochTime(x.StartedAt),
			DocumentName: x.DocumentName, Owner: x.Principal, Reason: x.Reason, AccessType: "Standard"}
		if !x.TerminatedAt.IsZero() {
			end := epochTime(x.TerminatedAt)
			info.EndDate = &end
		}
		list = append(list, info)
	}
	s.mu.Unlock()
	out := describeSessionsOutput{Sessions: []sessionInfo{}}
	for i := offset; i < len(list) && i < offset+limit; i++ {
		out.Sessions = append(out.Sessions, list[i])
	}
	if offset+limit < len(list) {
		out.NextToken = encodeMarker(offset + limit)
	}
	return out, nil
}

// sessionFilter checks DescribeSessions filters and returns the test a
// session must pass.
func sessionFilter(filters []struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}) (func(*Session) bool, *apiError) {
	var tests []func(*Session) bool
	seen := map[string]bool{}
	for _, f := range filters {
		if !slices.Contains(sessionFilterKeys, f.Key) {
			return nil, clientError("InvalidFilterKey", "The filter key %s is not valid. Valid keys: %s.", shorten(f.Key), strings.Join(sessionFilterKeys, ", "))
		}
		if seen[f.Key] {
			return nil, clientError("InvalidFilterKey", "The filter key %s appears more than once.", f.Key)
		}
		seen[f.Key] = true
		if f.Value == nil || *f.Value == "" || len(*f.Value) > 400 {
			return nil, clientError("InvalidFilterValue", "The filter %s needs a value of 1 to 400 characters.", f.Key)
		}
		v := *f.Value
		switch f.Key {
		case "InvokedAfter", "InvokedBefore":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return nil, clientError("InvalidFilterValue", "The filter value %s is not a valid date (yyyy-MM-ddTHH:mm:ssZ).", shorten(v))
			}
			after := f.Key == "InvokedAfter"
			tests = append(tests, func(x *Session) bool { return x.StartedAt.Before(t) != after })
		case "Target":
			tests = append(tests, func(x *Session) bool { return x.Target == v })
		case "Owner":
			tests = append(tests, func(x *Session) bool { return x.Principal == v })
		case "Status":
			tests = append(tests, func(x *Session) bool { return string(x.Status) == v })
		case "SessionId":
			tests = append(tests, func(x *Session) bool { return x.ID == v })
		case "AccessType":
			tests = append(tests, func(*Session) bool { return v == "Standard" })
		}
	}
	return func(x *Session) bool {
		for _, t := range tests {
			if !t(x) {
				return false
			}
		}
		return true
	}, nil
}

// docParam describes one parameter of a port-forwarding document.
type docParam struct {
	def      string // default; "" with required
	required bool
	minPort  int // for port numbers: lowest allowed; -1 for non-ports
}

// portDocuments are the Session Manager documents the sandbox runs, with
// their parameters as AWS publishes them.
var portDocuments = map[string]map[string]docParam{
	"AWS-StartPortForwardingSession": {
		"portNumber":      {def: "80", minPort: 1},
		"localPortNumber": {def: "0", minPort: 0},
	},
	"AWS-StartPortForwardingSessionToRemoteHost": {
		"host":            {required: true, minPort: -1},
		"portNumber":      {def: "80", minPort: 1},
		"localPortNumber": {def: "0", minPort: 0},
	},
}

// shellDocument is what StartSession runs when DocumentName is left out.
const shellDocument = "SSM-SessionManagerRunShell"

var (
	documentNameRE = regexp.MustCompile(`^[a-zA-Z0-9_\-.:/]{3,128}$`)
)

type startSessionInput struct {
	Target       *string
	DocumentName *string
	Parameters   map[string][]string
	Reason       *string
}

type sessionOutput struct {
	SessionID  string `json:"SessionId"`
	StreamURL  string `json:"StreamUrl,omitempty"`
	TokenValue string `json:"TokenValue,omitempty"`
}

// startSession answers SSM StartSession for the port-forwarding documents.
// IAM is asked for ssm:StartSession on both the instance
// (arn:aws:ec2:REGION:ACCOUNT:instance/ID, with its tags as
// ssm:resourceTag/KEY) and the document (AWS-owned documents have no account
// in their ARN). An unknown or offline target is TargetNotConnected. With
// the world's SessionLimit (the ssm-session-limit fault) reached, it is
// ServiceQuotaExceededException: the exception SSM's API model defines for
// an account quota (which code the service sends for its concurrent-session
// quota is not documented; clients should treat ThrottlingException alike).
func (s *Server) startSession(c *call) (any, *apiError) {
	var in startSessionInput
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	if in.Target == nil {
		return nil, missingParam(c.svc, "Target")
	}
	target := *in.Target
	if e := lengthBetween(c.svc, "target", target, 1, 400); e != nil {
		return nil, e
	}
	docName, docARN := shellDocument, s.arn("ssm", "document/"+shellDocument)
	if in.DocumentName != nil {
		docName = *in.DocumentName
		if !documentNameRE.MatchString(docName) {
			return nil, validation(c.svc, "1 validation error detected: Value '%s' at 'documentName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-.:/]{3,128}$", shorten(docName))
		}
		for _, prefix := range []string{"arn:aws:ssm:" + s.world.Region + "::document/", s.arn("ssm", "document/")} {
			docName = strings.TrimPrefix(docName, prefix)
		}
		docARN = s.arn("ssm", "document/"+docName)
		if strings.HasPrefix(docName, "AWS-") {
			docARN = "arn:aws:ssm:" + s.world.Region + "::document/" + docName
		}
	}
	if in.Reason != nil {
		if e := lengthBetween(c.svc, "reason", *in.Reason, 1, 256); e != nil {
			return nil, e
		}
	}
	bastion, online, known := s.instance(target)
	tags := map[string]string{}
	if known {
		for k, v := range bastion.Tags {
			tags["ssm:resourceTag/"+k] = v
			tags["aws:ResourceTag/"+k] = v
		}
	}
	if e := s.authorize(c, "ssm:StartSession", s.arn("ec2", "instance/"+target), tags); e != nil {
		return nil, e
	}
	if e := s.authorize(c, "ssm:StartSession", docARN, nil); e != nil {
		return nil, e
	}
	spec, ok := portDocuments[docName]
	if !ok {
		return nil, clientError("InvalidDocument", "Document with name %s does not exist.", shorten(docName)).
			withReason("document %s is not one the sandbox runs (only %s)", quoteShort(docName), strings.Join(slices.Sorted(maps.Keys(portDocuments)), ", "))
	}
	if !known {
		return nil, clientError("TargetNotConnected", "%s is not connected.", shorten(target)).withReason("no bastion %s in the sandbox", quoteShort(target))
	}
	if !online {
		return nil, clientError("TargetNotConnected", "%s is not connected.", target).withReason("the SSM agent of %s is offline", target)
	}
	params, e := documentParameters(spec, in.Parameters)
	if e != nil {
		return nil, e
	}
	sess := &Session{
		ID:              sessionID(c.principal),
		Target:          target,
		DocumentName:    docName,
		Parameters:      params,
		Principal:       c.principal.ARN,
		PrincipalUserID: c.principal.UserID,
		TokenValue:      newStreamToken(),
		Status:          SessionConnected,
		StartedAt:       s.now().UTC(),
	}
	if in.Reason != nil {
		sess.Reason = *in.Reason
	}
	sess.StreamURL = s.streamURLFor(c, sess.ID)
	s.mu.Lock()
	if n := s.connectedLocked(); s.world.SessionLimit > 0 && n >= s.world.SessionLimit {
		s.mu.Unlock()
		return nil, clientError("ServiceQuotaExceededException", "The request exceeds the service quota: the account has %d active sessions, its limit.", n).
			withReason("ssm-session-limit fault: %d of %d sessions connected", n, s.world.SessionLimit)
	}
	if len(s.order) >= MaxSessions {
		s.forgetTerminatedLocked()
	}
	if len(s.order) >= MaxSessions {
		s.mu.Unlock()
		return nil, clientError("ThrottlingException", "Rate exceeded").withReason("%d sessions are open; the sandbox keeps at most %d", len(s.order), MaxSessions)
	}
	s.sessions[sess.ID] = sess
	s.order = append(s.order, sess.ID)
	s.mu.Unlock()
	s.log.Info("ssm session started", "session_id", sess.ID, "target", target, "document", docName, "principal", c.principal.ARN)
	return sessionOutput{SessionID: sess.ID, StreamURL: sess.StreamURL, TokenValue: sess.TokenValue}, nil
}

// MaxSessions bounds the sessions the server remembers. When it is reached,
// terminated sessions are forgotten; when all are connected, StartSession
// is throttled.
const MaxSessions = 10000

// connectedLocked counts the connected sessions. s.mu must be held.
func (s *Server) connectedLocked() int {
	n := 0
	for _, x := range s.sessions {
		if x.Status == SessionConnected {
			n++
		}
	}
	return n
}

// forgetTerminatedLocked drops terminated sessions. s.mu must be held.
func (s *Server) forgetTerminatedLocked() {
	s.order = slices.DeleteFunc(s.order, func(id string) bool {
		if s.sessions[id].Status == SessionTerminated {
			delete(s.sessions, id)
			return true
		}
		return false
	})
}

// documentParameters checks the StartSession parameters against a document
// and fills in its defaults. Every value is a one-element list, as the
// documents declare String parameters.
func documentParameters(spec map[string]docParam, in map[string][]string) (map[string][]string, *apiError) {
	out := map[string][]string{}
	for name, vals := range in {
		p, ok := spec[name]
		if !ok {
			return nil, clientError("InvalidParameters", "Parameter %q is not defined by the document.", shorten(name))
		}
		if len(vals) != 1 {
			return nil, clientError("InvalidParameters", "Parameter %q must have exactly one value.", name)
		}
		v := vals[0]
		if p.minPort >= 0 {
			n, err := strconv.Atoi(v)
			if err != nil || n < p.minPort || n > 65535 || strconv.Itoa(n) != v {
				return nil, clientError("InvalidParameters", "Parameter %q value %q is not a port number.", name, shorten(v))
			}
		} else if v == "" || len(v) > 253 {
			return nil, clientError("InvalidParameters", "Parameter %q value must be 1 to 253 characters.", name)
		}
		out[name] = []string{v}
	}
	for name, p := range spec {
		if _, ok := out[name]; ok {
			continue
		}
		if p.required {
			return nil, clientError("InvalidParameters", "Parameter %q is required by the document.", name)
		}
		out[name] = []string{p.def}
	}
	return out, nil
}

type sessionIDInput struct {
	SessionID *string `json:"SessionId"`
}

// sessionTagKey is the tag Session Manager puts on every session, whose
// value is the aws:userid of the principal that started it. AWS's policy
// for "end and resume your own sessions only" conditions on it:
// StringLike ssm:resourceTag/aws:ssmmessages:session-id ${aws:userid}.
const sessionTagKey = "aws:ssmmessages:session-id"

// sessionFor reads and checks the SessionId of Resume/TerminateSession and
// authorizes action on the session's ARN, with the session's tag as the
// ssm:resourceTag/aws:ssmmessages:session-id condition key (absent for an
// unknown session, as AWS has no tags to read then).
func (s *Server) sessionFor(c *call, action string) (string, *apiError) {
	var in sessionIDInput
	if e := decodeJSON(c, &in); e != nil {
		return "", e
	}
	if in.SessionID == nil {
		return "", missingParam(c.svc, "SessionId")
	}
	id := *in.SessionID
	if e := lengthBetween(c.svc, "sessionId", id, 1, 96); e != nil {
		return "", e
	}
	var tags map[string]string
	s.mu.Lock()
	if x, ok := s.sessions[id]; ok && x.PrincipalUserID != "" {
		tags = map[string]string{"ssm:resourceTag/" + sessionTagKey: x.PrincipalUserID, "aws:ResourceTag/" + sessionTagKey: x.PrincipalUserID}
	}
	s.mu.Unlock()
	if e := s.authorize(c, action, s.arn("ssm", "session/"+id), tags); e != nil {
		return "", e
	}
	return id, nil
}

// resumeSession answers SSM ResumeSession: a new stream token for the
// caller's own connected session. A terminated session answers with no
// token and no URL, which clients take for "timed out".
func (s *Server) resumeSession(c *call) (any, *apiError) {
	id, e := s.sessionFor(c, "ssm:ResumeSession")
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.sessions[id]
	if !ok {
		return nil, clientError("DoesNotExistException", "Session %s does not exist.", shorten(id))
	}
	if x.Principal != c.principal.ARN {
		return nil, (&apiError{Status: http.StatusBadRequest, Code: "AccessDeniedException",
			Message: fmt.Sprintf("User: %s is not authorized to perform: ssm:ResumeSession on resource: %s", c.principal.ARN, s.arn("ssm", "session/"+id))}).
			withReason("session %s belongs to %s, not to the caller", id, x.Principal)
	}
	if x.Status != SessionConnected {
		return sessionOutput{SessionID: id}, nil
	}
	x.TokenValue = newStreamToken()
	x.StreamURL = s.streamURLFor(c, id)
	x.ResumedAt = s.now().UTC()
	return sessionOutput{SessionID: id, StreamURL: x.StreamURL, TokenValue: x.TokenValue}, nil
}

// terminateSession answers SSM TerminateSession. It is idempotent: ending an
// ended or unknown session succeeds.
func (s *Server) terminateSession(c *call) (any, *apiError) {
	id, e := s.sessionFor(c, "ssm:TerminateSession")
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	x, ok := s.sessions[id]
	changed := ok && x.Status != SessionTerminated
	var snapshot Session
	if changed {
		x.Status = SessionTerminated
		x.TerminatedAt = s.now().UTC()
		x.TokenValue = ""
		snapshot = x.clone()
	}
	s.mu.Unlock()
	if changed {
		s.log.Info("ssm session terminated", "session_id", id, "principal", c.principal.ARN)
		if s.onTerminate != nil {
			s.onTerminate(snapshot)
		}
	}
	return sessionOutput{SessionID: id}, nil
}

func (s *Server) streamURLFor(c *call, id string) string {
	if s.streamURL != nil {
		return s.streamURL(id)
	}
	return "ws://" + c.r.Host + DataChannelPrefix + id + "?role=publish_subscribe"
}

// sessionID is "<principal name>-<17 hex digits>", as SSM names sessions.
func sessionID(p *world.Principal) string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	name := p.Name
	if name == "" || len(name) > 64 {
		name = "session"
	}
	return name + "-" + hex.EncodeToString(b[:])[:17]
}

// newStreamToken is a random 256-bit token.
func newStreamToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

type describeInstanceInformationInput struct {
	InstanceInformationFilterList []struct {
		Key      string   `json:"key"`
		ValueSet []string `json:"valueSet"`
	}
	Filters []struct {
		Key    string
		Values []string
	}
	MaxResults *int
	NextToken  *string
}

type instanceInformation struct {
	InstanceID       string    `json:"InstanceId"`
	PingStatus       string    `json:"PingStatus"`
	LastPingDateTime epochTime `json:"LastPingDateTime"`
	AgentVersion     string    `json:"AgentVersion"`
	IsLatestVersion  bool      `json:"IsLatestVersion"`
	PlatformType     string    `json:"PlatformType"`
	PlatformName     string    `json:"PlatformName"`
	PlatformVersion  string    `json:"PlatformVersion"`
	ResourceType     string    `json:"ResourceType"`
	IPAddress        string    `json:"IPAddress,omitempty"`
	ComputerName     string    `json:"ComputerName,omitempty"`
	SourceID         string    `json:"SourceId"`
	SourceType       string    `json:"SourceType"`
}

type describeInstanceInformationOutput struct {
	InstanceInformationList []instanceInformation `json:"InstanceInformationList"`
	NextToken               string                `json:"NextToken,omitempty"`
}

// describeInstanceInformation answers SSM DescribeInstanceInformation with
// the bastions' agents: PingStatus Online or ConnectionLost. Both filter
// forms are read (InstanceInformationFilterList's key/valueSet and Filters'
// Key/Values) with the keys InstanceIds, PingStatus, PlatformTypes,
// AgentVersion, ResourceType and tag:KEY.
func (s *Server) describeInstanceInformation(c *call) (any, *apiError) {
	var in describeInstanceInformationInput
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	if e := s.authorize(c, "ssm:DescribeInstanceInformation", s.arn("ssm", "*"), nil); e != nil {
		return nil, e
	}
	limit := 50
	if in.MaxResults != nil {
		n := *in.MaxResults
		switch {
		case n < 5:
			return nil, validation(c.svc, "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 5", n)
		case n > 50:
			return nil, validation(c.svc, "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50", n)
		}
		limit = n
	}
	offset := 0
	if in.NextToken != nil && *in.NextToken != "" {
		n, ok := decodeMarker(*in.NextToken)
		if !ok {
			return nil, clientError("InvalidNextToken", "The specified token isn't valid.")
		}
		offset = n
	}
	var filters []infoFilter
	for _, f := range in.InstanceInformationFilterList {
		filters = append(filters, infoFilter{key: f.Key, vals: f.ValueSet})
	}
	for _, f := range in.Filters {
		filters = append(filters, infoFilter{key: f.Key, vals: f.Values})
	}
	for _, f := range filters {
		switch f.key {
		case "InstanceIds", "PingStatus", "PlatformTypes", "AgentVersion", "ResourceType":
		default:
			if !strings.HasPrefix(f.key, "tag:") || len(f.key) == 4 {
				return nil, clientError("InvalidFilterKey", "The filter key %s is not valid.", shorten(f.key))
			}
		}
		if len(f.vals) == 0 {
			return nil, clientError("InvalidInstanceInformationFilterValue", "The filter %s needs at least one value.", shorten(f.key))
		}
	}
	var list []instanceInformation
	now := s.now()
	s.world.View(func() {
		list = s.matchInstanceInformation(now, func(info instanceInformation, b *world.Bastion) bool {
			return infoMatches(info, b, filters)
		})
	})
	out := describeInstanceInformationOutput{InstanceInformationList: []instanceInformation{}}
	for i := offset; i < len(list) && i < offset+limit; i++ {
		out.InstanceInformationList = append(out.InstanceInformationList, list[i])
	}
	if offset+limit < len(list) {
		out.NextToken = encodeMarker(offset + limit)
	}
	return out, nil
}

// infoFilter is one DescribeInstanceInformation filter.
type infoFilter struct {
	key  string
	vals []string
}

// matchInstanceInformation lists the registered agents that keep says to
// keep. Launched instances whose agent never could register (no profile
// or policy) are not listed. The caller holds the world's lock.
func (s *Server) matchInstanceInformation(now time.Time, keep func(instanceInformation, *world.Bastion) bool) []instanceInformation {
	var list []instanceInformation
	for i := range s.world.Bastions {
		b := &s.world.Bastions[i]
		st := b.StateAt(now)
		if st == world.StateTerminated || st == world.StateShuttingDown || !s.world.Registered(b) {
			continue
		}
		info := s.instanceInformation(b, s.world.AgentOnline(b, now))
		if keep(info, b) {
			list = append(list, info)
		}
	}
	return list
}

func infoMatches(info instanceInformation, b *world.Bastion, filters []infoFilter) bool {
	for _, f := range filters {
		var v string
		switch f.key {
		case "InstanceIds":
			v = info.InstanceID
		case "PingStatus":
			v = info.PingStatus
		case "PlatformTypes":
			v = info.PlatformType
		case "AgentVersion":
			v = info.AgentVersion
		case "ResourceType":
			v = info.ResourceType
		default:
			tv, has := b.Tags[strings.TrimPrefix(f.key, "tag:")]
			if !has {
				return false
			}
			v = tv
		}
		if !slices.Contains(f.vals, v) {
			return false
		}
	}
	return true
}

// instance is a copy of the instance id, whether its agent is online now,
// and whether it exists.
func (s *Server) instance(id string) (b world.Bastion, online, ok bool) {
	now := s.now()
	s.world.View(func() {
		var p *world.Bastion
		if p, ok = s.world.Bastion(id); ok {
			b, online = *p, s.world.AgentOnline(p, now)
			b.Tags, b.SecurityGroups = maps.Clone(p.Tags), slices.Clone(p.SecurityGroups)
		}
	})
	return b, online, ok
}

func (s *Server) instanceInformation(b *world.Bastion, online bool) instanceInformation {
	info := instanceInformation{
		InstanceID:       b.InstanceID,
		PingStatus:       "Online",
		LastPingDateTime: epochTime(s.now().Add(-20 * time.Second)),
		AgentVersion:     or(b.AgentVersion, "3.3.1142.0"),
		PlatformType:     "Linux",
		PlatformName:     or(b.PlatformName, "Amazon Linux"),
		PlatformVersion:  "2023",
		ResourceType:     "EC2Instance",
		IPAddress:        b.PrivateIP,
		ComputerName:     privateDNSName(b.PrivateIP, s.world.Region),
		SourceID:         b.InstanceID,
		SourceType:       "AWS::EC2::Instance",
	}
	if !online {
		info.PingStatus = "ConnectionLost"
		info.LastPingDateTime = epochTime(s.epoch())
	}
	return info
}
