package stage

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestLineAndDetails(t *testing.T) {
	sdk := errors.New("operation error SSM: StartSession, RequestID: 1234")
	offline := errors.New("the bastion's SSM agent is offline")
	hidden := Hidef(sdk, "%v: i-0abc is not connected; start it", offline)
	tests := []struct {
		err     error
		line    string
		details []string
	}{
		{WrapTarget(Route, "orders", fmt.Errorf("open route to db:5432: %w", hidden)),
			"route: open route to db:5432: the bastion's SSM agent is offline: i-0abc is not connected; start it (rdsgate doctor orders checks every stage)",
			[]string{sdk.Error()}},
		{WrapTarget(Target, "orders", errors.New("target: no DB instance \"orders\"")), `target: no DB instance "orders"`, nil},
		{Wrap(Login, errors.New("rdsgate: refused\nhint: grant it")), "login: refused; hint: grant it", nil},
		{errors.New("plain"), "plain", nil},
	}
	for _, tc := range tests {
		if got := Line(tc.err); got != tc.line {
			t.Errorf("Line:\n got %q\nwant %q", got, tc.line)
		}
		if got := Details(tc.err); !slices.Equal(got, tc.details) {
			t.Errorf("Details(%q) = %q, want %q", tc.err, got, tc.details)
		}
	}
	if !errors.Is(tests[0].err, offline) || !errors.Is(tests[0].err, sdk) || Of(tests[0].err) != Route {
		t.Error("the hidden errors are not reachable")
	}
	if Wrap(TLS, tests[0].err) != tests[0].err || Wrap(TLS, nil) != nil {
		t.Error("Wrap replaced an inner stage")
	}
}
