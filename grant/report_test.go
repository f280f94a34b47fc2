package grant

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/setting"
)

func TestProfileOf(t *testing.T) {
	for _, tc := range []struct {
		ro, rw, own bool
		privs       []string
		want        Profile
		err         bool
	}{
		{want: ReadOnly},
		{ro: true, want: ReadOnly},
		{rw: true, want: ReadWrite},
		{own: true, want: Owner},
		{privs: []string{"SELECT"}, want: Custom},
		{ro: true, rw: true, err: true},
		{own: true, privs: []string{"SELECT"}, err: true},
	} {
		got, err := ProfileOf(tc.ro, tc.rw, tc.own, tc.privs)
		if (err != nil) != tc.err || got != tc.want && !tc.err {
			t.Errorf("ProfileOf(%v,%v,%v,%v) = %q, %v", tc.ro, tc.rw, tc.own, tc.privs, got, err)
		}
		if err != nil && !errors.Is(err, setting.ErrInvalid) {
			t.Errorf("%v is not marked invalid", err)
		}
	}
}

func TestExpire(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 500, time.UTC)
	for _, tc := range []struct {
		until string
		dur   time.Duration
		want  time.Time
		err   string
	}{
		{},
		{dur: 8 * time.Hour, want: time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)},
		{until: "2026-12-31", want: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)},
		{until: "2026-12-31T18:00:00Z", want: time.Date(2026, 12, 31, 18, 0, 0, 0, time.UTC)},
		{until: "2026-12-31T18:00", want: time.Date(2026, 12, 31, 18, 0, 0, 0, time.UTC)},
		{until: "tomorrow", err: "until=tomorrow: use"},
		{until: "2026-12-31", dur: time.Hour, err: "until and for: give one"},
		{dur: -time.Hour, err: "for=-1h0m0s: give a duration"},
	} {
		var r PolicyRequest
		err := r.Expire(tc.until, tc.dur, now)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, setting.ErrInvalid) {
				t.Errorf("Expire(%q, %s) = %v, want an invalid-settings error with %q", tc.until, tc.dur, err, tc.err)
			}
			continue
		}
		if err != nil || !r.Until.Equal(tc.want) {
			t.Errorf("Expire(%q, %s): Until %v, err %v; want %v", tc.until, tc.dur, r.Until, err, tc.want)
		}
	}
}

func TestWriteResultAndNext(t *testing.T) {
	p := &Plan{Action: "grant", Spec: Spec{User: "jane"}}
	for _, tc := range []struct {
		res       Result
		out, next string
	}{
		{Result{Skipped: []string{"a", "b"}}, "-- nothing to change: W is already in place (2 statements checked)\n", ""},
		{Result{Executed: []string{"CREATE USER jane"}, Skipped: []string{"b"}}, "CREATE USER jane;\n-- applied 1 statements; 1 were already in place\n",
			"Next: give the people or programs the IAM policy: rdsgate policy db1 user=jane"},
	} {
		var b bytes.Buffer
		WriteResult(&b, tc.res, "W")
		if b.String() != tc.out {
			t.Errorf("WriteResult: %q, want %q", b.String(), tc.out)
		}
		if got := p.Next("db1", tc.res).Render(setting.Style{}); got != tc.next {
			t.Errorf("Next: %q, want %q", got, tc.next)
		}
	}
}
