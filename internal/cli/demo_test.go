package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/internal/testpeer"
)

// The demo runs its whole path — Session Manager route, verify-full TLS,
// token, login and the query, on both protocols — against the installed
// servers and against the embedded engine.
func TestDemo(t *testing.T) {
	for _, tc := range []struct {
		backend string
		want    []string
	}{
		{"installed", []string{"app_user  3       159.40", "app_user@%  3       159.40"}},
		{"embedded", []string{"demo-pg is served by rdsgate's embedded engine", "demo-mysql is served by rdsgate's embedded engine",
			"app_user  3       159.4", "app_user@%  3       159.4"}},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			if tc.backend == "installed" && (!dbserver.PostgresAvailable() || !dbserver.MariaDBAvailable()) {
				testpeer.Missing(t, "postgresql and mariadb-server", "apt-get install postgresql mariadb-server")
			}
			isolateAWS(t)
			code, out, errOut := run(t, "demo", "--backend", tc.backend)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			all := out + errOut
			for _, want := range append(tc.want, "via ssm", "rdsgate connect demo-pg") {
				if !strings.Contains(all, want) {
					t.Errorf("the demo did not print %q:\n%s", want, all)
				}
			}
		})
	}
}

// On a machine with neither PostgreSQL nor MariaDB installed, the Quickstart's
// first command still works: the binary runs in a mount namespace where the
// server packages' directories are empty and PATH finds nothing.
func TestDemoWithoutServerPackages(t *testing.T) {
	unshare := testpeer.LookPath(t, "apt-get install util-linux", "unshare")
	if os.Geteuid() != 0 {
		testpeer.Missing(t, "root", "a mount namespace needs root")
	}
	bin := filepath.Join(t.TempDir(), "rdsgate")
	build := exec.Command("go", "build", "-o", bin, "./cmd/rdsgate")
	build.Dir, build.Env = moduleRoot, startEnv
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	home := t.TempDir()
	hide := ""
	for _, d := range []string{"/usr/lib/postgresql", "/usr/sbin"} {
		if _, err := os.Stat(d); err == nil {
			hide += "mount -t tmpfs none " + d + " && "
		}
	}
	cmd := exec.Command(unshare, "-m", "sh", "-c", hide+`exec env -i HOME="$1" PATH=/nonexistent "$0" demo`, bin, home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo without server packages: %v\n%s", err, out)
	}
	for _, want := range []string{"demo-pg is served by rdsgate's embedded engine", "demo-mysql is served by rdsgate's embedded engine", "app_user  3"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
