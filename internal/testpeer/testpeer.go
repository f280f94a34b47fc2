// Package testpeer decides what a test does when a real peer it needs (a
// PostgreSQL server, the AWS CLI, moto_server, ...) is not on the machine.
//
// By default the test is skipped with a message saying how to get the peer.
// With RDSGATE_REQUIRE_PEERS=1 (set by CI) the test fails instead, so that a
// missing install step can never turn a red run green.
package testpeer

import (
	"os"
	"os/exec"
	"testing"
)

// RequireEnv is the environment variable that turns missing peers into failures.
const RequireEnv = "RDSGATE_REQUIRE_PEERS"

// Required reports whether missing peers must fail tests.
func Required() bool {
	v := os.Getenv(RequireEnv)
	return v != "" && v != "0" && v != "false"
}

// Missing skips t (or fails it when peers are required) because peer what is
// not available; how tells the reader how to get it.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if Required() {
		t.Fatalf("required peer %s is not available (%s=1): %s", what, RequireEnv, how)
	}
	t.Skipf("peer %s is not available: %s (set %s=1 to make this a failure)", what, how, RequireEnv)
}

// LookPath returns the first of candidates that exists and is executable:
// a bare name is searched in PATH, a path is checked as is. When none is
// found it calls Missing with how, so the return value is always usable.
func LookPath(t testing.TB, how string, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	name := "(none)"
	if len(candidates) > 0 {
		name = candidates[0]
	}
	Missing(t, name, how)
	return ""
}

// AWSCLIv2 returns the path of an AWS CLI version 2. Debian's awscli package
// installs it at /usr/bin/aws; a pyenv shim earlier in PATH is often v1,
// whose output differs, so the Debian path is preferred.
func AWSCLIv2(t testing.TB) string {
	t.Helper()
	return LookPath(t, "apt-get install awscli (AWS CLI v2 at /usr/bin/aws)", "/usr/bin/aws")
}
