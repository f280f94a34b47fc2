package sandbox

import (
	"strings"
	"testing"
)

func TestBackendFor(t *testing.T) {
	defer func(pg, my func() bool) { postgresInstalled, mariadbInstalled = pg, my }(postgresInstalled, mariadbInstalled)
	postgresInstalled = func() bool { return true }
	mariadbInstalled = func() bool { return false }
	for _, tc := range []struct {
		choice, engine, want, err string
	}{
		{"", "postgres", BackendInstalled, ""},
		{"auto", "postgres", BackendInstalled, ""},
		{"auto", "mysql", BackendEmbedded, ""},
		{"embedded", "postgres", BackendEmbedded, ""},
		{"installed", "postgres", BackendInstalled, ""},
		{"installed", "mysql", "", "MariaDB (apt-get install mariadb-server) is not installed"},
		{"sqlite", "mysql", "", `unknown backend "sqlite"`},
	} {
		got, err := backendFor(tc.choice, tc.engine)
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("backendFor(%q, %q) = %q, %v; want %q, %q", tc.choice, tc.engine, got, err, tc.want, tc.err)
		}
	}
}
