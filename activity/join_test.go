package activity

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestJoin(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	const (
		jane = "arn:aws:iam::111122223333:user/jane"
		ops  = "arn:aws:sts::111122223333:assumed-role/ops/bob"
		me   = "arn:aws:iam::111122223333:user/admin"
	)
	janeS := tunnelSession{ID: "jane-0001", Owner: jane, Started: t0}
	janeS2 := tunnelSession{ID: "jane-0002", Owner: jane, Started: t0.Add(time.Minute)}
	bobS := tunnelSession{ID: "bob-0001", Owner: ops, Started: t0.Add(2 * time.Minute)}
	mine := tunnelSession{ID: "admin-0001", Owner: me, Started: t0.Add(time.Hour)}
	conn := func(pid int64, app string, since time.Time) connection {
		return connection{PID: pid, User: "app_user", Application: app, Client: "10.0.1.10", Since: since}
	}
	type row struct {
		ID, Identity string
		Match        Match
		SSM, App     string
	}
	for _, tc := range []struct {
		desc    string
		tunnels []tunnelSession
		conns   []connection
		addrs   []string
		want    []row
	}{
		{"only session", []tunnelSession{janeS, mine}, []connection{conn(7, "psql", t0.Add(time.Second))}, nil,
			[]row{{"7", jane, MatchOnlySession, "jane-0001", "psql"}, {"admin-0001", me, "", "admin-0001", ""}}},
		{"one owner, two sessions", []tunnelSession{janeS, janeS2}, []connection{conn(7, "", t0.Add(2*time.Minute))}, nil,
			[]row{{"jane-0001", jane, "", "jane-0001", ""}, {"jane-0002", jane, "", "jane-0002", ""}, {"7", jane, MatchOneOwner, "", ""}}},
		{"two owners: unknown", []tunnelSession{janeS, bobS}, []connection{conn(7, "", t0.Add(3*time.Minute))}, nil,
			[]row{{"jane-0001", jane, "", "jane-0001", ""}, {"bob-0001", ops, "", "bob-0001", ""}, {"7", "", "", "", ""}}},
		{"started before the later session", []tunnelSession{janeS, bobS}, []connection{conn(7, "", t0.Add(time.Second))}, nil,
			[]row{{"7", jane, MatchOnlySession, "jane-0001", ""}, {"bob-0001", ops, "", "bob-0001", ""}}},
		{"tag picks the owner", []tunnelSession{janeS, bobS}, []connection{conn(7, "psql rdsgate:assumed-role/ops/bob", t0.Add(3*time.Minute))}, nil,
			[]row{{"jane-0001", jane, "", "jane-0001", ""}, {"7", ops, MatchTag, "bob-0001", "psql"}}},
		{"tag with no session", []tunnelSession{janeS}, []connection{conn(7, "rdsgate:user/eve", t0.Add(time.Minute))}, nil,
			[]row{{"jane-0001", jane, "", "jane-0001", ""}, {"7", "user/eve", MatchUnconfirmed, "", ""}}},
		{"not from the bastion", []tunnelSession{janeS}, []connection{conn(7, "app", t0.Add(time.Minute))}, []string{"10.0.9.9"},
			[]row{{"jane-0001", jane, "", "jane-0001", ""}, {"7", "", "", "", "app"}}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var got []row
			for _, s := range join(tc.tunnels, tc.conns, tc.addrs, []string{mine.ID}) {
				got = append(got, row{s.ID, s.AWSIdentity, s.Match, s.SSMSession, s.Application})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}
