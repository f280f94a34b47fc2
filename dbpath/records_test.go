package dbpath_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/sandbox"
	"github.com/rdsgate/rdsgate/session"
)

// A session proxied over the ssm route says in its record how many Session
// Manager sessions the route used; over a direct route the record has no
// such field.
func TestRecordRouteSessions(t *testing.T) {
	inst, ok := sb.Instance(sandbox.InstancePG)
	if !ok {
		t.Fatal("the sandbox has no PostgreSQL instance")
	}
	tests := []struct {
		desc  string
		route dbpath.Route
		// min is the least route_sessions wanted; 0: the field is absent.
		min int
	}{
		{"ssm", dbpath.Route{Via: "ssm", Bastion: sandbox.BastionID}, 1},
		{"ssm with a pool", dbpath.Route{Via: "ssm", Bastion: sandbox.BastionID, SSMSessions: 4}, 1},
		{"direct", dbpath.Route{Via: "direct", Address: inst.FrontAddr}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			ctx := t.Context()
			p, err := dbpath.Open(ctx, dbpath.Spec{Name: inst.Identifier, Route: tc.route}, dbpath.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var buf bytes.Buffer
			rec := session.NewRecorder(nil, session.NewWriterSink(&buf))
			local, err := p.Serve(ctx, dbpath.LocalOptions{Recorder: rec})
			if err != nil {
				t.Fatal(err)
			}
			db, err := local.OpenDB("app_user", "demo")
			if err != nil {
				t.Fatal(err)
			}
			var one int
			if err := db.QueryRowContext(ctx, "select 1").Scan(&one); err != nil {
				t.Fatal(err)
			}
			db.Close()
			local.Close() // waits for the session to end
			if err := rec.Close(ctx); err != nil {
				t.Fatal(err)
			}
			var ends []map[string]any
			dec := json.NewDecoder(&buf)
			for dec.More() {
				var ev map[string]any
				if err := dec.Decode(&ev); err != nil {
					t.Fatal(err)
				}
				if ev["type"] == session.TypeEnd {
					ends = append(ends, ev)
				}
			}
			if len(ends) != 1 {
				t.Fatalf("%d end records, want 1:\n%s", len(ends), buf.String())
			}
			n, has := ends[0]["route_sessions"].(float64)
			switch {
			case tc.min == 0 && has:
				t.Errorf("route_sessions = %v on a route without sessions", n)
			case tc.min > 0 && (!has || int(n) < tc.min):
				t.Errorf("route_sessions = %v (present %v), want at least %d: %v", n, has, tc.min, ends[0])
			case ends[0]["route"] != tc.route.Via:
				t.Errorf("route = %v, want %s", ends[0]["route"], tc.route.Via)
			}
		})
	}
}
