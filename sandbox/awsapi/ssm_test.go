package awsapi

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

func TestDescribeInstanceInformation(t *testing.T) {
	e := start(t)
	client := ssm.NewFromConfig(e.cfg(t, "admin"))
	out, err := client.DescribeInstanceInformation(ctx(t), &ssm.DescribeInstanceInformationInput{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]types.InstanceInformation{}
	for _, i := range out.InstanceInformationList {
		got[aws.ToString(i.InstanceId)] = i
	}
	on, off := got[bastionID], got[offlineID]
	if on.PingStatus != types.PingStatusOnline || aws.ToString(on.AgentVersion) != "3.3.1142.0" || aws.ToString(on.PlatformName) != "Amazon Linux" ||
		on.PlatformType != types.PlatformTypeLinux || on.LastPingDateTime == nil || aws.ToString(on.IPAddress) != "10.0.1.10" {
		t.Errorf("online bastion: %+v", on)
	}
	if off.PingStatus != types.PingStatusConnectionLost {
		t.Errorf("offline bastion: %+v", off)
	}
	for _, tc := range []struct {
		in   *ssm.DescribeInstanceInformationInput
		want []string
	}{
		{&ssm.DescribeInstanceInformationInput{InstanceInformationFilterList: []types.InstanceInformationFilter{
			{Key: types.InstanceInformationFilterKeyInstanceIds, ValueSet: []string{bastionID}}}}, []string{bastionID}},
		{&ssm.DescribeInstanceInformationInput{Filters: []types.InstanceInformationStringFilter{
			{Key: aws.String("InstanceIds"), Values: []string{offlineID}}}}, []string{offlineID}},
		{&ssm.DescribeInstanceInformationInput{Filters: []types.InstanceInformationStringFilter{
			{Key: aws.String("PingStatus"), Values: []string{"Online"}}}}, []string{bastionID}},
		{&ssm.DescribeInstanceInformationInput{Filters: []types.InstanceInformationStringFilter{
			{Key: aws.String("tag:Name"), Values: []string{"offline-bastion"}}}}, []string{offlineID}},
	} {
		out, err := client.DescribeInstanceInformation(ctx(t), tc.in)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, i := range out.InstanceInformationList {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
		if !cmp.Equal(ids, tc.want) {
			t.Errorf("filter: got %v, want %v", ids, tc.want)
		}
	}
	_, err = client.DescribeInstanceInformation(ctx(t), &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(4)})
	wantCode(t, err, "ValidationException", "greater than or equal to 5")
	_, err = client.DescribeInstanceInformation(ctx(t), &ssm.DescribeInstanceInformationInput{Filters: []types.InstanceInformationStringFilter{
		{Key: aws.String("Colour"), Values: []string{"x"}}}})
	wantCode(t, err, "InvalidFilterKey")
	_, err = ssm.NewFromConfig(e.cfg(t, "intern")).DescribeInstanceInformation(ctx(t), &ssm.DescribeInstanceInformationInput{})
	wantCode(t, err, "AccessDeniedException",
		"User: arn:aws:iam::111122223333:user/intern is not authorized to perform: ssm:DescribeInstanceInformation on resource: arn:aws:ssm:us-east-1:111122223333:*")
}

func startInput(target, doc string, params map[string][]string) *ssm.StartSessionInput {
	return &ssm.StartSessionInput{Target: aws.String(target), DocumentName: aws.String(doc), Parameters: params}
}

func TestStartSession(t *testing.T) {
	var mu sync.Mutex
	var terminated []Session
	e := start(t, func(_ *worldT, o *Options) {
		o.OnTerminate = func(s Session) { mu.Lock(); terminated = append(terminated, s); mu.Unlock() }
	})
	client := ssm.NewFromConfig(e.cfg(t, "admin"))
	remote := map[string][]string{"host": {"demo-pg.c0sandbox.us-east-1.rds.amazonaws.com"}, "portNumber": {"5432"}, "localPortNumber": {"15432"}}
	out, err := client.StartSession(ctx(t), startInput(bastionID, "AWS-StartPortForwardingSessionToRemoteHost", remote))
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.SessionId)
	if !regexp.MustCompile(`^admin-[0-9a-f]{17}$`).MatchString(id) {
		t.Errorf("SessionId = %q", id)
	}
	host := strings.TrimPrefix(e.url, "http://")
	if want := "ws://" + host + "/v1/data-channel/" + id + "?role=publish_subscribe"; aws.ToString(out.StreamUrl) != want {
		t.Errorf("StreamUrl = %q, want %q", aws.ToString(out.StreamUrl), want)
	}
	tok := aws.ToString(out.TokenValue)
	if raw, err := base64.StdEncoding.DecodeString(tok); err != nil || len(raw) != 32 {
		t.Errorf("TokenValue %q is not 256 bits of base64", tok)
	}
	sess, ok := e.srv.Session(id)
	if !ok || sess.Target != bastionID || sess.DocumentName != "AWS-StartPortForwardingSessionToRemoteHost" ||
		sess.Principal != "arn:aws:iam::111122223333:user/admin" || sess.Status != SessionConnected || sess.TokenValue != tok ||
		!cmp.Equal(sess.Parameters, remote) || sess.StartedAt.IsZero() {
		t.Errorf("Session = %+v", sess)
	}
	if _, ok := e.srv.ValidateStreamToken(id, tok); !ok {
		t.Error("ValidateStreamToken refused the token")
	}
	for _, bad := range []string{"", tok + "x", strings.ToLower(tok)} {
		if _, ok := e.srv.ValidateStreamToken(id, bad); ok && bad != tok {
			t.Errorf("ValidateStreamToken accepted %q", bad)
		}
	}

	// Defaults are filled in for the local document.
	out2, err := client.StartSession(ctx(t), startInput(bastionID, "AWS-StartPortForwardingSession", map[string][]string{"portNumber": {"22"}}))
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := e.srv.Session(aws.ToString(out2.SessionId))
	if !cmp.Equal(s2.Parameters, map[string][]string{"portNumber": {"22"}, "localPortNumber": {"0"}}) {
		t.Errorf("parameters with defaults: %v", s2.Parameters)
	}
	if n := len(e.srv.Sessions()); n != 2 {
		t.Errorf("Sessions() has %d", n)
	}

	// Refusals.
	_, err = client.StartSession(ctx(t), startInput(offlineID, "AWS-StartPortForwardingSession", nil))
	wantCode(t, err, "TargetNotConnected", offlineID+" is not connected.")
	_, err = client.StartSession(ctx(t), startInput("i-0123456789abcdef0", "AWS-StartPortForwardingSession", nil))
	wantCode(t, err, "TargetNotConnected")
	_, err = client.StartSession(ctx(t), startInput(bastionID, "AWS-RunShellScript", nil))
	wantCode(t, err, "InvalidDocument")
	_, err = client.StartSession(ctx(t), &ssm.StartSessionInput{Target: aws.String(bastionID)})
	wantCode(t, err, "InvalidDocument")
	_, err = client.StartSession(ctx(t), startInput(bastionID, "AWS-StartPortForwardingSessionToRemoteHost", map[string][]string{"portNumber": {"5432"}}))
	wantCode(t, err, "InvalidParameters", `"host" is required`)
	_, err = client.StartSession(ctx(t), startInput(bastionID, "AWS-StartPortForwardingSession", map[string][]string{"portNumber": {"70000"}}))
	wantCode(t, err, "InvalidParameters")
	_, err = client.StartSession(ctx(t), startInput(bastionID, "AWS-StartPortForwardingSession", map[string][]string{"command": {"rm -rf /"}}))
	wantCode(t, err, "InvalidParameters")

	intern := ssm.NewFromConfig(e.cfg(t, "intern"))
	_, err = intern.StartSession(ctx(t), startInput(bastionID, "AWS-StartPortForwardingSession", nil))
	wantCode(t, err, "AccessDeniedException",
		"is not authorized to perform: ssm:StartSession on resource: arn:aws:ec2:us-east-1:111122223333:instance/"+bastionID)

	// The developer's policy allows the tagged bastion and the AWS
	// documents only.
	dev := ssm.NewFromConfig(e.cfg(t, "dev"))
	devOut, err := dev.StartSession(ctx(t), startInput(bastionID, "AWS-StartPortForwardingSession", nil))
	if err != nil {
		t.Fatalf("dev StartSession: %v", err)
	}
	_, err = dev.StartSession(ctx(t), startInput(offlineID, "AWS-StartPortForwardingSession", nil))
	wantCode(t, err, "AccessDeniedException", "instance/"+offlineID)
	_, err = dev.StartSession(ctx(t), startInput(bastionID, "SSM-SessionManagerRunShell", nil))
	wantCode(t, err, "AccessDeniedException", "on resource: arn:aws:ssm:us-east-1:111122223333:document/SSM-SessionManagerRunShell")

	// ResumeSession: a new token; the old one no longer opens the stream.
	res, err := client.ResumeSession(ctx(t), &ssm.ResumeSessionInput{SessionId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(res.TokenValue) == "" || aws.ToString(res.TokenValue) == tok || aws.ToString(res.StreamUrl) != aws.ToString(out.StreamUrl) {
		t.Errorf("ResumeSession: %+v", res)
	}
	if _, ok := e.srv.ValidateStreamToken(id, tok); ok {
		t.Error("old token still valid after ResumeSession")
	}
	if _, ok := e.srv.ValidateStreamToken(id, aws.ToString(res.TokenValue)); !ok {
		t.Error("new token refused")
	}
	// Another principal's session cannot be resumed, even by an admin.
	_, err = dev.ResumeSession(ctx(t), &ssm.ResumeSessionInput{SessionId: aws.String(id)})
	wantCode(t, err, "AccessDeniedException", "ssm:ResumeSession on resource: arn:aws:ssm:us-east-1:111122223333:session/"+id)
	_, err = client.ResumeSession(ctx(t), &ssm.ResumeSessionInput{SessionId: devOut.SessionId})
	wantCode(t, err, "AccessDeniedException")
	_, err = client.ResumeSession(ctx(t), &ssm.ResumeSessionInput{SessionId: aws.String("admin-00000000000000000")})
	wantCode(t, err, "DoesNotExistException")

	// TerminateSession is idempotent.
	for range 2 {
		tout, err := client.TerminateSession(ctx(t), &ssm.TerminateSessionInput{SessionId: aws.String(id)})
		if err != nil || aws.ToString(tout.SessionId) != id {
			t.Fatalf("TerminateSession: %v %+v", err, tout)
		}
	}
	if s, _ := e.srv.Session(id); s.Status != SessionTerminated || s.TerminatedAt.IsZero() {
		t.Errorf("after TerminateSession: %+v", s)
	}
	mu.Lock()
	if len(terminated) != 1 || terminated[0].ID != id {
		t.Errorf("OnTerminate calls: %+v", terminated)
	}
	mu.Unlock()
	if _, ok := e.srv.ValidateStreamToken(id, aws.ToString(res.TokenValue)); ok {
		t.Error("token valid after TerminateSession")
	}
	// Resuming a terminated session gives no token ("timed out").
	res, err = client.ResumeSession(ctx(t), &ssm.ResumeSessionInput{SessionId: aws.String(id)})
	if err != nil || res.TokenValue != nil || res.StreamUrl != nil {
		t.Errorf("resume terminated: %v %+v", err, res)
	}
	if _, err := client.TerminateSession(ctx(t), &ssm.TerminateSessionInput{SessionId: aws.String("admin-11111111111111111")}); err != nil {
		t.Errorf("terminate unknown: %v", err)
	}
	// The developer may end only sessions named after them.
	_, err = dev.TerminateSession(ctx(t), &ssm.TerminateSessionInput{SessionId: out2.SessionId})
	wantCode(t, err, "AccessDeniedException")
	if _, err := dev.TerminateSession(ctx(t), &ssm.TerminateSessionInput{SessionId: devOut.SessionId}); err != nil {
		t.Errorf("dev terminates own session: %v", err)
	}
}

func TestStreamURLOption(t *testing.T) {
	e := start(t, func(_ *worldT, o *Options) {
		o.StreamURL = func(id string) string { return "ws://stream.example/" + id + "?cell-number=a+b/c" }
	})
	var got string
	e.srv.HandleDataChannel(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.URL.Path }))
	out, err := ssm.NewFromConfig(e.cfg(t, "admin")).StartSession(ctx(t), startInput(bastionID, "AWS-StartPortForwardingSession", nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := "ws://stream.example/" + aws.ToString(out.SessionId) + "?cell-number=a+b/c"; aws.ToString(out.StreamUrl) != want {
		t.Errorf("StreamUrl = %q, want %q", aws.ToString(out.StreamUrl), want)
	}
	resp, err := http.Get(e.url + "/v1/data-channel/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != "/v1/data-channel/x" {
		t.Errorf("data channel handler saw %q", got)
	}
}

func TestDescribeSessions(t *testing.T) {
	e := start(t)
	admin := ssm.NewFromConfig(e.cfg(t, "admin"))
	dev := ssm.NewFromConfig(e.cfg(t, "dev"))
	remote := map[string][]string{"host": {"demo-pg.c0sandbox.us-east-1.rds.amazonaws.com"}, "portNumber": {"5432"}}
	var ids []string
	for _, c := range []*ssm.Client{admin, dev, admin} {
		out, err := c.StartSession(ctx(t), startInput(bastionID, "AWS-StartPortForwardingSessionToRemoteHost", remote))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.SessionId))
		e.clock.advance(time.Second)
	}
	if _, err := admin.TerminateSession(ctx(t), &ssm.TerminateSessionInput{SessionId: aws.String(ids[2])}); err != nil {
		t.Fatal(err)
	}
	startedAt := func(i int) string { s, _ := e.srv.Session(ids[i]); return s.StartedAt.Format(time.RFC3339) }
	filter := func(k types.SessionFilterKey, v string) types.SessionFilter {
		return types.SessionFilter{Key: k, Value: aws.String(v)}
	}
	for _, tc := range []struct {
		desc    string
		state   types.SessionState
		filters []types.SessionFilter
		want    []string // newest first
	}{
		{"active", types.SessionStateActive, nil, []string{ids[1], ids[0]}},
		{"history", types.SessionStateHistory, nil, []string{ids[2]}},
		{"target", types.SessionStateActive, []types.SessionFilter{filter(types.SessionFilterKeyTargetId, bastionID)}, []string{ids[1], ids[0]}},
		{"other target", types.SessionStateActive, []types.SessionFilter{filter(types.SessionFilterKeyTargetId, offlineID)}, nil},
		{"owner", types.SessionStateActive, []types.SessionFilter{filter(types.SessionFilterKeyOwner, "arn:aws:iam::111122223333:user/dev")}, []string{ids[1]}},
		{"session id", types.SessionStateActive, []types.SessionFilter{filter(types.SessionFilterKeySessionId, ids[0])}, []string{ids[0]}},
		{"status", types.SessionStateHistory, []types.SessionFilter{filter(types.SessionFilterKeyStatus, "Terminated")}, []string{ids[2]}},
		{"invoked after", types.SessionStateActive, []types.SessionFilter{filter(types.SessionFilterKeyInvokedAfter, startedAt(1))}, []string{ids[1]}},
		{"invoked before", types.SessionStateActive, []types.SessionFilter{filter(types.SessionFilterKeyInvokedBefore, startedAt(1))}, []string{ids[0]}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			out, err := admin.DescribeSessions(ctx(t), &ssm.DescribeSessionsInput{State: tc.state, Filters: tc.filters})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range out.Sessions {
				got = append(got, aws.ToString(s.SessionId))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("sessions (-want +got):\n%s", diff)
			}
		})
	}

	// One session in full: owner ARN, start, document, no end while active.
	out, err := admin.DescribeSessions(ctx(t), &ssm.DescribeSessionsInput{State: types.SessionStateActive,
		Filters: []types.SessionFilter{filter(types.SessionFilterKeySessionId, ids[1])}})
	if err != nil || len(out.Sessions) != 1 {
		t.Fatalf("DescribeSessions: %v %+v", err, out)
	}
	s := out.Sessions[0]
	if aws.ToString(s.Owner) != "arn:aws:iam::111122223333:user/dev" || aws.ToString(s.Target) != bastionID || s.Status != types.SessionStatusConnected ||
		aws.ToString(s.DocumentName) != "AWS-StartPortForwardingSessionToRemoteHost" || s.StartDate == nil || s.EndDate != nil {
		t.Errorf("session: %+v", s)
	}
	if got := s.StartDate.Format(time.RFC3339); got != startedAt(1) {
		t.Errorf("StartDate %s, want %s", got, startedAt(1))
	}

	// Pages of one.
	page, err := admin.DescribeSessions(ctx(t), &ssm.DescribeSessionsInput{State: types.SessionStateActive, MaxResults: aws.Int32(1)})
	if err != nil || len(page.Sessions) != 1 || page.NextToken == nil {
		t.Fatalf("first page: %v %+v", err, page)
	}
	page, err = admin.DescribeSessions(ctx(t), &ssm.DescribeSessionsInput{State: types.SessionStateActive, MaxResults: aws.Int32(1), NextToken: page.NextToken})
	if err != nil || len(page.Sessions) != 1 || aws.ToString(page.Sessions[0].SessionId) != ids[0] || page.NextToken != nil {
		t.Fatalf("second page: %v %+v", err, page)
	}

	// Refusals.
	_, err = admin.DescribeSessions(ctx(t), &ssm.DescribeSessionsInput{State: types.SessionStateActive,
		Filters: []types.SessionFilter{filter("Document", "x")}})
	wantCode(t, err, "InvalidFilterKey")
	_, err = admin.DescribeSessions(ctx(t), &ssm.DescribeSessionsInput{State: types.SessionStateActive,
		Filters: []types.SessionFilter{filter(types.SessionFilterKeyInvokedAfter, "yesterday")}})
	wantCode(t, err, "InvalidFilterValue")
	_, err = admin.DescribeSessions(ctx(t), &ssm.DescribeSessionsInput{State: "Sleeping"})
	wantCode(t, err, "ValidationException")
	_, err = ssm.NewFromConfig(e.cfg(t, "intern")).DescribeSessions(ctx(t), &ssm.DescribeSessionsInput{State: types.SessionStateActive})
	wantCode(t, err, "AccessDeniedException", "ssm:DescribeSessions")
}

// rdsgate's own policy lets its holder end and resume the sessions it
// started and no one else's, through the aws:ssmmessages:session-id tag.
func TestTerminateOwnSessionsOnly(t *testing.T) {
	policy := `{"Statement":[
		{"Effect":"Allow","Action":"ssm:StartSession","Resource":["arn:aws:ec2:*:*:instance/*","arn:aws:ssm:*::document/AWS-StartPortForwardingSessionToRemoteHost"]},
		{"Effect":"Allow","Action":["ssm:TerminateSession","ssm:ResumeSession"],"Resource":["arn:aws:ssm:*:*:session/*"],
		 "Condition":{"StringLike":{"ssm:resourceTag/aws:ssmmessages:session-id":["${aws:userid}"]}}}]}`
	e := start(t, func(w *worldT, _ *Options) {
		for _, name := range []string{"ana", "bob"} {
			w.Principals = append(w.Principals, world.Principal{Name: name, ARN: "arn:aws:sts::111122223333:assumed-role/dbusers/" + name,
				UserID: "AROASANDBOXDBUSERS:" + name, AccessKeyID: "ASIASANDBOX" + strings.ToUpper(name) + "000001",
				SecretAccessKey: name + "secret0000000000000000000000000000000000", SessionToken: "token-" + name,
				Policies: []iampolicy.Document{mustPolicy(t, policy)}})
		}
	})
	remote := map[string][]string{"host": {"demo-pg.c0sandbox.us-east-1.rds.amazonaws.com"}, "portNumber": {"5432"}}
	ana, bob := ssm.NewFromConfig(e.cfg(t, "ana")), ssm.NewFromConfig(e.cfg(t, "bob"))
	own := map[string]string{}
	for name, c := range map[string]*ssm.Client{"ana": ana, "bob": bob} {
		out, err := c.StartSession(ctx(t), startInput(bastionID, "AWS-StartPortForwardingSessionToRemoteHost", remote))
		if err != nil {
			t.Fatalf("%s StartSession: %v", name, err)
		}
		own[name] = aws.ToString(out.SessionId)
	}
	for _, tc := range []struct {
		desc   string
		client *ssm.Client
		id     string
		ok     bool
	}{
		{"ana resumes bob's", ana, own["bob"], false},
		{"ana ends bob's", ana, own["bob"], false},
		{"ana ends an unknown session", ana, "ana-00000000000000000", false},
		{"ana resumes her own", ana, own["ana"], true},
		{"ana ends her own", ana, own["ana"], true},
		{"bob ends his own", bob, own["bob"], true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var err error
			if strings.Contains(tc.desc, "resumes") {
				_, err = tc.client.ResumeSession(ctx(t), &ssm.ResumeSessionInput{SessionId: aws.String(tc.id)})
			} else {
				_, err = tc.client.TerminateSession(ctx(t), &ssm.TerminateSessionInput{SessionId: aws.String(tc.id)})
			}
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantCode(t, err, "AccessDeniedException", "session/"+tc.id)
		})
	}
	if s, _ := e.srv.Session(own["bob"]); s.Status != SessionTerminated {
		t.Errorf("bob's session: %s", s.Status)
	}
}

// TestSessionLimit: with the world's SessionLimit (the ssm-session-limit
// fault) reached, StartSession is refused as over the service quota until
// a session ends; terminated sessions do not count.
func TestSessionLimit(t *testing.T) {
	e := start(t, func(w *worldT, _ *Options) { w.SessionLimit = 2 })
	client := ssm.NewFromConfig(e.cfg(t, "admin"))
	remote := map[string][]string{"host": {"demo-pg.c0sandbox.us-east-1.rds.amazonaws.com"}, "portNumber": {"5432"}}
	var ids []string
	for i, want := range []string{"", "", "ServiceQuotaExceededException", "ServiceQuotaExceededException"} {
		out, err := client.StartSession(ctx(t), startInput(bastionID, "AWS-StartPortForwardingSessionToRemoteHost", remote))
		if want == "" {
			if err != nil {
				t.Fatalf("session %d: %v", i+1, err)
			}
			ids = append(ids, aws.ToString(out.SessionId))
			continue
		}
		wantCode(t, err, want, "2 active sessions")
	}
	if _, err := client.TerminateSession(ctx(t), &ssm.TerminateSessionInput{SessionId: aws.String(ids[0])}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.StartSession(ctx(t), startInput(bastionID, "AWS-StartPortForwardingSessionToRemoteHost", remote)); err != nil {
		t.Fatalf("after a session ended: %v", err)
	}
}
