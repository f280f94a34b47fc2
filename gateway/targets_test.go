package gateway

import (
	"context"
	"errors"
	"testing"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/setting"
)

func TestOpenTargets(t *testing.T) {
	open := func(opened *[]string) func(context.Context, string) (*dbpath.Path, error) {
		return func(_ context.Context, name string) (*dbpath.Path, error) {
			if name == "broken" {
				return nil, errors.New("no route")
			}
			*opened = append(*opened, name)
			return &dbpath.Path{Spec: dbpath.Spec{Name: name}}, nil
		}
	}
	for _, tc := range []struct {
		args    []string
		want    []Target
		opened  int
		invalid bool
		err     string
	}{
		{args: []string{"pg", "my=3307", "any=0"}, want: []Target{{}, {Port: 3307}, {AnyPort: true}}, opened: 3},
		{args: []string{"pg", "my=70000"}, invalid: true, err: `"my=70000": the port after = must be a number 0-65535`},
		{args: []string{"pg", "my=x"}, invalid: true},
		{args: []string{"pg", "broken"}, opened: 1, err: "broken: no route"},
	} {
		var opened []string
		ts, err := OpenTargets(context.Background(), tc.args, open(&opened))
		if len(opened) != tc.opened {
			t.Errorf("%v: opened %v, want %d paths (none before every argument is read)", tc.args, opened, tc.opened)
		}
		if tc.err != "" || tc.invalid {
			if err == nil || tc.err != "" && err.Error() != tc.err || errors.Is(err, setting.ErrInvalid) != tc.invalid {
				t.Errorf("%v: err %v, want %q (invalid settings: %v)", tc.args, err, tc.err, tc.invalid)
			}
			continue
		}
		if err != nil || len(ts) != len(tc.want) {
			t.Fatalf("%v: %v %v", tc.args, ts, err)
		}
		for i, w := range tc.want {
			if ts[i].Port != w.Port || ts[i].AnyPort != w.AnyPort || ts[i].Path.Spec.Name == "" {
				t.Errorf("%v: target %d = %+v, want %+v", tc.args, i, ts[i], w)
			}
		}
	}
}
