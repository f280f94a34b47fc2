package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A project file planted above the working directory must not redirect a
// token, and one the user wrote must be trusted before its endpoint counts.
func TestPlantedProjectFileCannotRedirect(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("RDSGATE_REQUIRE_PEERS") == "1" {
			t.Fatal("this test plants a file owned by nobody and needs root (RDSGATE_REQUIRE_PEERS=1)")
		}
		t.Skip("needs root to chown a file to nobody")
	}
	home := isolateAWS(t)
	useMoto(t)
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, "state"))
	shared := filepath.Join(home, "shared")
	work := filepath.Join(shared, "checkout")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(shared, ".rdsgate.yaml")
	const evil = "evil.attacker.example"
	text := "targets:\n  demo-pg:\n    endpoint: " + evil + "\n    port: 5432\n    engine: postgres\n    user: app\n"
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)

	// Planted by another user: refused, naming the file and its owner.
	if err := os.Chown(file, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, "token", "--target", "demo-pg")
	if code != 1 || strings.Contains(out, evil) || !strings.Contains(stderr, file) || !strings.Contains(stderr, "nobody") {
		t.Fatalf("a file owned by nobody: exit %d, stdout %q, stderr %q", code, out, stderr)
	}

	// The user's own file: its endpoint needs trust, and the error says how.
	if err := os.Chown(file, 0, 0); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = run(t, "token", "--target", "demo-pg")
	if code != 1 || strings.Contains(out, evil) || !strings.Contains(stderr, "targets.demo-pg.endpoint") ||
		!strings.Contains(stderr, "rdsgate config trust "+file) {
		t.Fatalf("an untrusted endpoint: exit %d, stdout %q, stderr %q", code, out, stderr)
	}

	code, out, stderr = run(t, "config", "trust")
	if code != 0 || !strings.Contains(out, "trusted "+file) || !strings.Contains(out, `targets.demo-pg.endpoint = "`+evil+`"`) {
		t.Fatalf("config trust: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	code, out, stderr = run(t, "token", "--target", "demo-pg")
	if code != 0 || !strings.HasPrefix(out, evil+":5432?Action=connect") {
		t.Fatalf("a trusted file: exit %d, stdout %q, stderr %q", code, out, stderr)
	}

	// An edit takes the trust away; untrust forgets it.
	if err := os.WriteFile(file, []byte(text+"    database: other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr = run(t, "token", "--target", "demo-pg"); code != 1 || !strings.Contains(stderr, "changed since you trusted it") {
		t.Fatalf("an edited file: exit %d, stderr %q", code, stderr)
	}
	if code, out, _ = run(t, "config", "untrust", file); code != 0 || !strings.Contains(out, "untrusted "+file) {
		t.Fatalf("config untrust: exit %d, stdout %q", code, out)
	}
}
