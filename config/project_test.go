package config

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// nobody is the uid and gid of the unprivileged account on Debian.
const nobody = 65534

// asRoot skips a test that needs chown, unless peers are required (CI runs
// as root, and there the test must run).
func asRoot(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("no Unix ownership on Windows")
	}
	if os.Getuid() != 0 {
		if os.Getenv("RDSGATE_REQUIRE_PEERS") == "1" {
			t.Fatal("this test plants a file owned by another user and needs root (RDSGATE_REQUIRE_PEERS=1)")
		}
		t.Skip("needs root to chown a file to another user")
	}
}

const redirect = "targets:\n  demo-pg:\n    identifier: demo-pg\n    route:\n      via: direct\n      address: 203.0.113.7:5432\n    ca_bundle: /tmp/evil-ca.pem\n"

func TestFindProjectRefusesPlantedFiles(t *testing.T) {
	asRoot(t)
	tests := []struct {
		desc    string
		plant   func(t *testing.T, dir, file string)
		wantErr string // "" when the file must be found
	}{
		{"the user's own file", func(*testing.T, string, string) {}, ""},
		{"a file owned by another user", func(t *testing.T, _, file string) { chown(t, file, nobody, nobody) },
			"owned by another user (owner uid 65534 (nobody))"},
		{"a file in a directory another user owns", func(t *testing.T, dir, _ string) { chown(t, dir, nobody, nobody) },
			"its directory"},
		{"a world-writable file", func(t *testing.T, _, file string) { chmod(t, file, 0o666) }, "world-writable"},
		{"a world-writable directory, even sticky", func(t *testing.T, dir, _ string) { chmod(t, dir, 0o777|os.ModeSticky) },
			"world-writable"},
		{"a file writable by another group", func(t *testing.T, _, file string) {
			chown(t, file, 0, nobody)
			chmod(t, file, 0o664)
		}, "group-writable"},
		{"a symbolic link to another user's file", func(t *testing.T, dir, file string) {
			other := filepath.Join(t.TempDir(), "planted.yaml")
			write(t, other, redirect)
			chown(t, other, nobody, nobody)
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(other, file); err != nil {
				t.Fatal(err)
			}
		}, "owned by another user"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			base := t.TempDir()
			shared := filepath.Join(base, "shared")
			file := filepath.Join(shared, ProjectFileName)
			write(t, file, redirect)
			work := filepath.Join(shared, "work", "sub")
			if err := os.MkdirAll(work, 0o755); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, shared, file)
			got, err := FindProject(work, base)
			if tc.wantErr == "" {
				if err != nil || got != file {
					t.Fatalf("FindProject = %q, %v; want %q", got, err, file)
				}
				return
			}
			var ue *UnsafeError
			if !errors.As(err, &ue) {
				t.Fatalf("FindProject = %q, %v; want an *UnsafeError", got, err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), file) {
				t.Errorf("error %q\nwant it to name %s and say %q", err, file, tc.wantErr)
			}
			// Load refuses it the same way, trust or no trust.
			if _, err := Load("", file, &TrustStore{Path: filepath.Join(base, "trusted.json")}); !errors.As(err, &ue) {
				t.Errorf("Load = %v, want an *UnsafeError", err)
			}
		})
	}
}

func TestFindProjectStopsAtHome(t *testing.T) {
	base := t.TempDir()
	write(t, filepath.Join(base, ProjectFileName), redirect) // above home: never read
	home := filepath.Join(base, "home")
	work := filepath.Join(home, "src", "app")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := FindProject(work, home); got != "" || err != nil {
		t.Errorf("FindProject walked past home: %q, %v", got, err)
	}
	// Home itself is the last directory looked at.
	inHome := filepath.Join(home, ProjectFileName)
	write(t, inHome, "targets:\n  a:\n    identifier: a\n")
	if got, err := FindProject(work, home); got != inHome || err != nil {
		t.Errorf("FindProject = %q, %v; want %q", got, err, inHome)
	}
	// Outside home, the walk goes on to the root (a test directory has no
	// foreign files above it).
	if got, err := FindProject(work, filepath.Join(base, "elsewhere")); got != inHome || err != nil {
		t.Errorf("FindProject outside home = %q, %v; want %q", got, err, inHome)
	}
}

func TestSensitiveSettings(t *testing.T) {
	f, err := Parse("p.yaml", []byte(`defaults:
  ca_bundle: ca.pem
  route:
    via: ssh
    ssh: jump@a,me@b
    ssh_identity: ~/.ssh/id
targets:
  safe:
    identifier: safe
    user: jane
    database: app
    region: eu-west-1
    route:
      via: ssm
      bastion: i-0abc
  pw:
    endpoint: db.example.com
    auth: password
    password_env: PW
    route:
      via: direct
      address: 127.0.0.1:15432
  known:
    identifier: known
    route:
      via: ssh
      ssh: me@host
      ssh_known_hosts: kh
`))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range f.SensitiveSettings() {
		keys = append(keys, s.Key+"="+s.Value)
	}
	want := []string{
		"defaults.ca_bundle=ca.pem", "defaults.route.ssh=jump@a,me@b", "defaults.route.ssh_identity=~/.ssh/id",
		"targets.known.route.ssh=me@host", "targets.known.route.ssh_known_hosts=kh",
		"targets.pw.auth=password", "targets.pw.endpoint=db.example.com", "targets.pw.password_env=PW",
		"targets.pw.route.address=127.0.0.1:15432",
	}
	if d := cmp.Diff(want, keys); d != "" {
		t.Errorf("sensitive settings (-want +got):\n%s", d)
	}
}

func TestTrustGatesSensitiveKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "repo", ProjectFileName)
	write(t, file, redirect)
	store := &TrustStore{Path: filepath.Join(dir, "state", "rdsgate", "trusted.json")}

	_, err := Load("", file, store)
	var ue *UntrustedError
	if !errors.As(err, &ue) || ue.Changed {
		t.Fatalf("an untrusted redirect loaded: %v", err)
	}
	for _, k := range []string{"targets.demo-pg.route.address", "targets.demo-pg.ca_bundle", file} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error %q does not name %s", err, k)
		}
	}
	if _, err := Load("", file, nil); !errors.As(err, &ue) {
		t.Errorf("no trust store must trust nothing: %v", err)
	}

	p, err := InspectProject(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Trust(file, p.SHA256, time.Now()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(store.Path)
	if err != nil || st.Mode().Perm() != 0o600 && runtime.GOOS != "windows" {
		t.Errorf("trust record: %v, mode %v; want 0600", err, st.Mode())
	}
	c, err := Load("", file, store)
	if err != nil {
		t.Fatalf("trusted file refused: %v", err)
	}
	if got, _ := c.Target("demo-pg"); got.Route.Address != "203.0.113.7:5432" {
		t.Errorf("trusted address not honoured: %+v", got.Route)
	}

	// An edit takes the trust away; the message says it changed.
	write(t, file, strings.Replace(redirect, "203.0.113.7", "198.51.100.9", 1))
	if _, err := Load("", file, store); !errors.As(err, &ue) || !ue.Changed || !strings.Contains(err.Error(), "changed since you trusted it") {
		t.Errorf("an edited file kept its trust: %v", err)
	}

	// Untrust removes the record, once.
	if had, err := store.Untrust(file); !had || err != nil {
		t.Errorf("Untrust = %v, %v", had, err)
	}
	if had, err := store.Untrust(file); had || err != nil {
		t.Errorf("second Untrust = %v, %v", had, err)
	}

	// A file with nothing sensitive needs no trust.
	write(t, file, "targets:\n  orders:\n    identifier: orders\n    user: jane\n    route:\n      via: ssm\n      bastion: i-0abc\n")
	if _, err := Load("", file, nil); err != nil {
		t.Errorf("a file with no sensitive key was refused: %v", err)
	}
}

func TestTrustPath(t *testing.T) {
	env := map[string]string{"HOME": "/home/jane"}
	getenv := func(k string) string { return env[k] }
	if runtime.GOOS == "linux" {
		if got := TrustPath(getenv); got != "/home/jane/.local/state/rdsgate/trusted.json" {
			t.Errorf("TrustPath = %q", got)
		}
	}
	env["XDG_STATE_HOME"] = "/x/state"
	if got := TrustPath(getenv); got != filepath.Join("/x/state", "rdsgate", "trusted.json") {
		t.Errorf("TrustPath with XDG_STATE_HOME = %q", got)
	}
	env["XDG_STATE_HOME"] = "relative"
	if got := TrustPath(getenv); strings.HasPrefix(got, "relative") {
		t.Errorf("a relative XDG_STATE_HOME must be ignored, as the spec says: %q", got)
	}
}

func chown(t *testing.T, path string, uid, gid int) {
	t.Helper()
	if err := os.Lchown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
