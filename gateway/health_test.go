package gateway

import (
	"errors"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/setting"
)

// TestStartHealth: health and metrics may face the node, /quitquitquit
// only with non-loopback allowed; quit needs an address. (Non-loopback
// addresses are refused before anything binds, so no test binds one.)
func TestStartHealth(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		c       HealthConfig
		invalid string
	}{
		{desc: "quit without an address", c: HealthConfig{Quit: func() {}}, invalid: "quitquitquit needs http_address"},
		{desc: "quit on a non-loopback address", c: HealthConfig{Address: "10.9.9.9:9090", Quit: func() {}}, invalid: "anyone who reaches it could stop the proxy"},
		{desc: "loopback with quit", c: HealthConfig{Address: "127.0.0.1:0", Quit: func() {}}},
		{desc: "no address: readiness only", c: HealthConfig{}},
	} {
		h, stop, err := StartHealth(tc.c)
		if tc.invalid != "" {
			if err == nil || !strings.Contains(err.Error(), tc.invalid) || !errors.Is(err, setting.ErrInvalid) {
				t.Errorf("%s: %v, want an invalid-settings error with %q", tc.desc, err, tc.invalid)
			}
			continue
		}
		if err != nil || h == nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		stop()
	}
}
