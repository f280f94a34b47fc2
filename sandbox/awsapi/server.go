// Package awsapi is the sandbox's AWS API: the subset of STS, RDS, EC2, SSM,
// IAM, Secrets Manager, CloudTrail, CloudWatch (Logs), KMS and EC2 Instance
// Connect that rdsgate and the stock
// AWS tools call, served on one loopback HTTP endpoint, authenticated with
// SigV4 and IAM policies as AWS does, and answered from a [world.World].
package awsapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

// Limits of the HTTP front.
const (
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes = 1 << 20
	// apiTimeout bounds reading a request and writing its answer. It is set
	// per API request, so that data-channel websockets are not cut by it.
	apiTimeout        = 30 * time.Second
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// DefaultTransition is how long the sandbox's instances take to boot, stop
// or terminate: long enough to be seen pending, short for tests.
const DefaultTransition = time.Second

// DataChannelPrefix is the path under which requests go to the handler
// given to [Server.HandleDataChannel].
const DataChannelPrefix = "/v1/data-channel/"

// Options configure a [Server].
type Options struct {
	// World is the account the server answers from. Required. While the
	// server runs, its EC2 and IAM writes change the world under its lock;
	// others read the changing parts inside World.View.
	World *world.World
	// Now is the server's clock (default time.Now). Tests skew it.
	Now func() time.Time
	// Log receives one line per refused request with the precise reason
	// (default: discard).
	Log *slog.Logger
	// StreamURL builds the websocket URL StartSession and ResumeSession
	// return for a session id. The default is
	// ws://<host the client called>/v1/data-channel/<id>?role=publish_subscribe,
	// on this server.
	StreamURL func(sessionID string) string
	// Transition is how long an instance stays pending after RunInstances
	// or StartInstances, stopping after StopInstances and shutting-down
	// after TerminateInstances (default DefaultTransition).
	Transition time.Duration
	// OnTerminate, if set, is called (outside any lock) when TerminateSession
	// ends a session, so that the data channel can close its streams.
	OnTerminate func(Session)
}

// Server is the sandbox's AWS API endpoint. Its methods are safe for
// concurrent use.
//
// Every request is authenticated as AWS does it: a SigV4 Authorization
// header checked against the world's access keys (signature, credential
// scope, clock skew, security token), then the call is authorized with the
// principal's IAM policies. Refusals carry the code, HTTP status and body
// shape of the service's protocol (awsQuery for STS, RDS and IAM; ec2Query;
// awsJson1_1 for SSM, Secrets Manager and EC2 Instance Connect), so that
// the AWS SDKs and CLI surface the same errors as against AWS; the log says
// the precise reason, never a secret or a signature.
//
// The server also keeps the Session Manager sessions StartSession opens
// (their stream tokens are checked by the data channel, mounted with
// [Server.HandleDataChannel]) and the SSH keys pushed with
// SendSSHPublicKey.
type Server struct {
	world       *world.World
	now         func() time.Time
	log         *slog.Logger
	streamURL   func(string) string
	onTerminate func(Session)
	transition  time.Duration

	services  []*service
	byName    map[string]*service
	byVersion map[string]*service
	byTarget  map[string]*service
	byAction  map[string]*service

	mu       sync.Mutex
	sessions map[string]*Session
	order    []string // session ids in start order
	keys     []pushedKey
	dc       http.Handler
	servers  []*http.Server
	closed   bool
	// started is when the server was made: the sandbox's resources say they
	// were created then.
	started time.Time
}

// New returns a server for opts. It panics if opts.World is nil, a
// programming error.
func New(opts Options) *Server {
	if opts.World == nil {
		panic("awsapi: New: Options.World is nil")
	}
	s := &Server{
		world:       opts.World,
		now:         opts.Now,
		log:         opts.Log,
		streamURL:   opts.StreamURL,
		onTerminate: opts.OnTerminate,
		transition:  opts.Transition,
		sessions:    map[string]*Session{},
	}
	if s.transition <= 0 {
		s.transition = DefaultTransition
	}
	// Every group has egress rules; one built without gets AWS's default.
	s.world.Update(func() {
		for i := range s.world.SecurityGroups {
			if s.world.SecurityGroups[i].Egress == nil {
				s.world.SecurityGroups[i].Egress = []world.Rule{allTraffic()}
			}
		}
	})
	if s.now == nil {
		s.now = time.Now
	}
	s.started = s.now().UTC().Truncate(time.Second)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.services = s.newServices()
	s.byName, s.byVersion, s.byTarget, s.byAction = map[string]*service{}, map[string]*service{}, map[string]*service{}, map[string]*service{}
	for _, svc := range s.services {
		s.byName[svc.name] = svc
		if svc.version != "" {
			s.byVersion[svc.version] = svc
		}
		if svc.target != "" {
			s.byTarget[svc.target] = svc
		}
		if svc.proto != protoJSON && svc.proto != protoCBOR {
			for op := range svc.ops {
				s.byAction[op] = svc
			}
		}
	}
	return s
}

// op answers one operation; the result is rendered by the service's protocol.
type op func(c *call) (any, *apiError)

// service is one AWS service the sandbox speaks.
type service struct {
	name    string // SigV4 signing name, e.g. "rds"
	proto   protocol
	version string // API version of query protocols
	xmlns   string // XML namespace of query protocols
	target  string // X-Amz-Target prefix of JSON protocols
	ops     map[string]op
}

func (s *Server) newServices() []*service {
	return []*service{
		{name: "sts", proto: protoQuery, version: "2011-06-15", xmlns: "https://sts.amazonaws.com/doc/2011-06-15/",
			ops: map[string]op{"GetCallerIdentity": s.getCallerIdentity}},
		{name: "rds", proto: protoQuery, version: "2014-10-31", xmlns: "http://rds.amazonaws.com/doc/2014-10-31/",
			ops: map[string]op{"DescribeDBInstances": s.describeDBInstances, "DescribeDBClusters": s.describeDBClusters,
				"DescribeDBSubnetGroups":             s.describeDBSubnetGroups,
				"DescribeDBSnapshots":                s.describeDBSnapshots,
				"DescribeDBSnapshotAttributes":       s.describeDBSnapshotAttributes,
				"DescribeDBParameters":               s.describeDBParameters,
				"DescribeEventSubscriptions":         s.rdsEmptyList("rds:DescribeEventSubscriptions", "es:*", describeEventSubscriptionsResult{}),
				"DescribeDBClusterSnapshots":         s.rdsEmptyList("rds:DescribeDBClusterSnapshots", "cluster-snapshot:*", describeDBClusterSnapshotsResult{}),
				"DescribeDBInstanceAutomatedBackups": s.rdsEmptyList("rds:DescribeDBInstanceAutomatedBackups", "auto-backup:*", describeAutomatedBackupsResult{})}},
		{name: "iam", proto: protoQuery, version: "2010-05-08", xmlns: "https://iam.amazonaws.com/doc/2010-05-08/",
			ops: merge(s.userPolicyOps(), map[string]op{"SimulatePrincipalPolicy": s.simulatePrincipalPolicy, "ListPolicies": s.listPolicies,
				"GetRole": s.getRole, "CreateRole": s.createRole, "DeleteRole": s.deleteRole,
				"AttachRolePolicy": s.attachRolePolicy, "DetachRolePolicy": s.detachRolePolicy, "ListAttachedRolePolicies": s.listAttachedRolePolicies,
				"GetInstanceProfile": s.getInstanceProfile, "CreateInstanceProfile": s.createInstanceProfile, "DeleteInstanceProfile": s.deleteInstanceProfile,
				"AddRoleToInstanceProfile": s.addRoleToInstanceProfile, "RemoveRoleFromInstanceProfile": s.removeRoleFromInstanceProfile})},
		{name: "ec2", proto: protoEC2, version: "2016-11-15", xmlns: "http://ec2.amazonaws.com/doc/2016-11-15/",
			ops: map[string]op{"DescribeInstances": s.describeInstances, "DescribeSecurityGroups": s.describeSecurityGroups,
				"DescribeSubnets": s.describeSubnets, "DescribeRouteTables": s.describeRouteTables, "DescribeVpcEndpoints": s.describeVpcEndpoints,
				"CreateSecurityGroup": s.createSecurityGroup, "DeleteSecurityGroup": s.deleteSecurityGroup,
				"AuthorizeSecurityGroupIngress": s.changeRules(false, true), "AuthorizeSecurityGroupEgress": s.changeRules(true, true),
				"RevokeSecurityGroupIngress": s.changeRules(false, false), "RevokeSecurityGroupEgress": s.changeRules(true, false),
				"CreateTags": s.createTags, "RunInstances": s.runInstances,
				"StartInstances": s.startInstances, "StopInstances": s.stopInstances, "TerminateInstances": s.terminateInstances,
				"CreateVpcEndpoint": s.createVpcEndpoint, "DeleteVpcEndpoints": s.deleteVpcEndpoints,
				"DescribeVpcs": s.describeVpcs, "DescribeInternetGateways": s.describeInternetGateways, "DescribeNetworkAcls": s.describeNetworkAcls}},
		{name: "ssm", proto: protoJSON, target: "AmazonSSM",
			ops: s.ssmOps()},
		{name: "secretsmanager", proto: protoJSON, target: "secretsmanager",
			ops: map[string]op{"GetSecretValue": s.getSecretValue, "ListSecrets": s.listSecrets}},
		{name: "cloudtrail", proto: protoJSON, target: "CloudTrail_20131101",
			ops: map[string]op{"DescribeTrails": s.describeTrails}},
		{name: "logs", proto: protoJSON, target: "Logs_20140328",
			ops: s.logsOps()},
		{name: "kms", proto: protoJSON, target: "TrentService",
			ops: map[string]op{"DescribeKey": s.describeKey}},
		{name: "monitoring", proto: protoCBOR, target: cloudWatchService,
			ops: map[string]op{"DescribeAlarms": s.describeAlarms}},
		{name: "ec2-instance-connect", proto: protoJSON, target: "AWSEC2InstanceConnectService",
			ops: map[string]op{"SendSSHPublicKey": s.sendSSHPublicKey}},
	}
}

// merge is ops with more's operations added.
func merge(ops, more map[string]op) map[string]op {
	maps.Copy(ops, more)
	return ops
}

// call is one API request being answered.
type call struct {
	svc    *service
	action string
	reqID  string
	r      *http.Request
	body   []byte
	// params are the query protocols' parameters (URL query and form body).
	params url.Values
	// cbor is the RPC v2 CBOR request body.
	cbor cbor.Map
	// parseErr is set when the request could not be parsed; it is answered
	// after authentication, as AWS does.
	parseErr  *apiError
	principal *world.Principal
}

// Handler returns the whole API as an http.Handler: the AWS operations on
// any path, and the data channel under [DataChannelPrefix].
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// HandleDataChannel mounts h for requests under [DataChannelPrefix] (the
// Session Manager streams). Until it is called such requests get 404.
func (s *Server) HandleDataChannel(h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dc = h
}

// Serve answers requests on ln until ctx is done or Close is called. It
// returns nil after a shutdown and the listener's error otherwise.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { hs.Close() })
	defer stop()
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("awsapi: serve %s: %w", ln.Addr(), err)
}

// Close stops every Serve and closes their connections.
func (s *Server) Close() error {
	s.mu.Lock()
	servers := s.servers
	s.servers, s.closed = nil, true
	s.mu.Unlock()
	var errs []error
	for _, hs := range servers {
		if err := hs.Close(); err != nil {
			errs = append(errs, fmt.Errorf("awsapi: close: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, DataChannelPrefix) {
		s.mu.Lock()
		dc := s.dc
		s.mu.Unlock()
		if dc == nil {
			http.NotFound(w, r)
			return
		}
		dc.ServeHTTP(w, r)
		return
	}
	s.serveAPI(w, r)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(apiTimeout)
	_ = rc.SetReadDeadline(deadline)
	_ = rc.SetWriteDeadline(deadline)

	c := &call{r: r, reqID: newRequestID()}
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	c.body = body
	s.route(c)
	if readErr != nil {
		var tooBig *http.MaxBytesError
		if errors.As(readErr, &tooBig) {
			s.fail(w, c, (&apiError{Status: http.StatusRequestEntityTooLarge, Code: "RequestEntityTooLarge",
				Message: fmt.Sprintf("Request body must be at most %d bytes", MaxBodyBytes)}).
				withReason("body larger than %d bytes", MaxBodyBytes))
			return
		}
		s.fail(w, c, clientError("IncompleteBody", "The request body could not be read").withReason("reading body: %v", readErr))
		return
	}
	p, aerr := s.authenticate(r, body, c.svc)
	if aerr != nil {
		s.fail(w, c, c.svc.proto.authShape(aerr))
		return
	}
	c.principal = p
	if c.parseErr != nil {
		s.fail(w, c, c.parseErr)
		return
	}
	fn := c.svc.ops[c.action]
	if fn == nil {
		s.fail(w, c, c.svc.proto.unknownOperation(c.action, c.params.Get("Version")))
		return
	}
	out, e := fn(c)
	if e != nil {
		s.fail(w, c, e)
		return
	}
	s.log.Debug("aws api call", "request_id", c.reqID, "service", c.svc.name, "action", c.action, "principal", p.ARN)
	switch c.svc.proto {
	case protoQuery:
		s.writeQuery(w, c, out)
	case protoEC2:
		s.writeEC2(w, c, out)
	case protoCBOR:
		s.writeCBOR(w, c, out)
	default:
		s.writeJSON(w, c, out)
	}
}

// route decides which service and operation a request is for, before
// authentication: the path for RPC v2 CBOR services (Smithy-Protocol
// header); the X-Amz-Target prefix for JSON services; for query
// services the Version parameter, else the credential scope's service, else
// the Action. A request matching nothing is answered in the query shape.
func (s *Server) route(c *call) {
	r := c.r
	scopeSvc := ""
	if a, err := parseAuthorization(r.Header.Get("Authorization")); err == nil {
		scopeSvc = a.Service
	}
	if s.routeCBOR(c) {
		return
	}
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		prefix, opName, _ := strings.Cut(t, ".")
		c.action = opName
		c.svc = s.byTarget[prefix]
		if c.svc == nil {
			if svc := s.byName[scopeSvc]; svc != nil && svc.proto == protoJSON {
				c.svc = svc
			} else {
				c.svc = &service{name: or(scopeSvc, "unknown"), proto: protoJSON}
			}
			c.action = t // the prefix is wrong: no operation matches
		}
		return
	}
	params, err := queryParams(r, c.body)
	c.params = params
	if err != nil {
		c.parseErr = clientError("MalformedQueryString", "The query string or form body is malformed").withReason("%v", err)
	}
	c.action = params.Get("Action")
	switch {
	case s.byVersion[params.Get("Version")] != nil:
		c.svc = s.byVersion[params.Get("Version")]
	case s.byName[scopeSvc] != nil && s.byName[scopeSvc].proto != protoJSON:
		c.svc = s.byName[scopeSvc]
	case s.byAction[c.action] != nil:
		c.svc = s.byAction[c.action]
	default:
		c.svc = &service{name: or(scopeSvc, "sts"), proto: protoQuery, xmlns: s.byName["sts"].xmlns}
	}
}

// fail logs a refusal and answers it in the call's protocol.
func (s *Server) fail(w http.ResponseWriter, c *call, e *apiError) {
	attrs := []any{"request_id", c.reqID, "service", c.svc.name, "action", shorten(c.action),
		"status", e.Status, "code", e.Code, "reason", or(e.reason, e.Message), "remote", c.r.RemoteAddr}
	if c.principal != nil {
		attrs = append(attrs, "principal", c.principal.ARN)
	}
	s.log.Warn("aws api request refused", attrs...)
	switch c.svc.proto {
	case protoQuery:
		s.writeQueryError(w, c, e)
	case protoEC2:
		s.writeEC2Error(w, c, e)
	case protoCBOR:
		s.writeCBORError(w, c, e)
	default:
		s.writeJSONError(w, c, e)
	}
}

// commonHeaders sets the headers every answer carries. Date follows the
// server's clock, so that SDKs correct their clock skew against it as they
// do against AWS.
func (s *Server) commonHeaders(w http.ResponseWriter, c *call, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Amzn-Requestid", c.reqID)
	h.Set("Date", s.now().UTC().Format(http.TimeFormat))
}

// authorize checks that c's principal may perform action on resource, with
// the request's global condition keys and extra ones, and returns the
// protocol's AccessDenied answer when IAM would refuse.
func (s *Server) authorize(c *call, action, resource string, extra map[string]string) *apiError {
	ctx := map[string]string{
		// The sandbox endpoint is plain HTTP on loopback: say so, so that a
		// policy demanding TLS is not silently satisfied.
		"aws:SecureTransport": "false",
		"aws:RequestedRegion": s.world.Region,
		"aws:CurrentTime":     s.now().UTC().Format(time.RFC3339),
		"aws:EpochTime":       strconv.FormatInt(s.now().Unix(), 10),
	}
	if host, _, err := net.SplitHostPort(c.r.RemoteAddr); err == nil {
		ctx["aws:SourceIp"] = host
	}
	for k, v := range extra {
		ctx[k] = v
	}
	res := s.world.Authorize(c.principal, action, resource, ctx)
	if res.Decision == iampolicy.Allowed {
		return nil
	}
	e := c.svc.proto.accessDenied(c.principal.ARN, action, resource, res)
	if res.Decision == iampolicy.ImplicitDeny {
		// Allowed once, by a statement whose time has passed: say so in
		// the log, as the reason a person would look for.
		if then, ok := s.world.Expired(c.principal, action, resource, ctx); ok {
			e = e.withReason("expired access: statement %q allows %s on %s only before a DateLessThan aws:CurrentTime that has passed", then.Statement.Sid, action, resource)
		}
	}
	return e
}

// epoch is the creation time of the sandbox's resources.
func (s *Server) epoch() time.Time { return s.started }

// arn builds an ARN in the sandbox's region and account.
func (s *Server) arn(service, resource string) string {
	return "arn:aws:" + service + ":" + s.world.Region + ":" + s.world.Account + ":" + resource
}

// newRequestID returns a random UUID, as AWS request ids are.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
