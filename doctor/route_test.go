package doctor

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/sandbox"
	"github.com/rdsgate/rdsgate/tunnel/direct"
)

// counted is a route that holds sessions, as the ssm route does.
type counted struct {
	direct.Dialer
	n int
}

func (c *counted) PeakSessions() int { return c.n }

func TestRouteSessions(t *testing.T) {
	tests := []struct {
		desc  string
		d     *counted // nil: a direct route
		route dbpath.Route
		want  string
	}{
		{"direct", nil, dbpath.Route{}, ""},
		{"one, default pool", &counted{n: 1}, dbpath.Route{Via: "ssm"}, " over 1 Session Manager session (proxy and tunnel use up to 4)"},
		{"two, pool set", &counted{n: 2}, dbpath.Route{Via: "ssm", SSMSessions: 6}, " over 2 Session Manager sessions (proxy and tunnel use up to 6)"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var got string
			if tc.d == nil {
				got = routeSessions(&direct.Dialer{}, tc.route)
			} else {
				got = routeSessions(tc.d, tc.route)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRouteLineSaysSessions runs doctor over the sandbox's ssm route: the
// route check passes and says how many Session Manager sessions it used
// (one, to dial the database once) and how many a proxy would use.
func TestRouteLineSaysSessions(t *testing.T) {
	ctx := t.Context()
	sb, err := sandbox.Start(ctx, sandbox.Options{Dir: t.TempDir(), Backend: sandbox.BackendEmbedded, Engines: []string{"postgres"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	inst, _ := sb.Instance(sandbox.InstancePG)
	opts := dbpath.Options{AWSConfigFiles: []string{filepath.Join(sb.Dir, "aws-config")}, AWSCredentialsFiles: []string{filepath.Join(sb.Dir, "aws-credentials")},
		Getenv: func(string) string { return "" }}
	tests := []struct {
		desc  string
		route dbpath.Route
		want  string // in the route line; "" for no sessions
	}{
		{"ssm", dbpath.Route{Via: "ssm", Bastion: sandbox.BastionID}, "via ssm over 1 Session Manager session (proxy and tunnel use up to 4)"},
		{"ssm, 3 for a proxy", dbpath.Route{Via: "ssm", Bastion: sandbox.BastionID, SSMSessions: 3}, "via ssm over 1 Session Manager session (proxy and tunnel use up to 3)"},
		{"direct", dbpath.Route{Via: "direct", Address: inst.FrontAddr}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			spec := dbpath.Spec{Name: inst.Identifier, Profile: sandbox.ProfileAdmin, CABundle: sb.CAFile, User: "app_user", Database: "demo", Route: tc.route}
			r := Run(ctx, Config{Spec: spec, Options: opts})
			var route *Result
			for i := range r.Results {
				if r.Results[i].ID == "route" {
					route = &r.Results[i]
				}
			}
			if route == nil || route.Status != Pass {
				t.Fatalf("route check %+v in %+v", route, r.Results)
			}
			line := route.Detail.String()
			if tc.want == "" && strings.Contains(line, "Session Manager") || !strings.Contains(line, tc.want) {
				t.Errorf("route line %q, want it to contain %q (none: no sessions)", line, tc.want)
			}
			if !r.OK() {
				t.Errorf("doctor failed: %+v", r.Failed())
			}
		})
	}
}
