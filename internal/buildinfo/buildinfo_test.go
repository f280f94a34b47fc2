package buildinfo

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCurrent(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	vcs := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/rdsgate/rdsgate", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "1111111111111111111111111111111111111111"},
			{Key: "vcs.modified", Value: "true"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
		},
	}
	for _, tc := range []struct {
		desc                  string
		version, commit, date string
		info                  *debug.BuildInfo
		want                  Info
		line                  string
	}{
		{
			desc: "nothing known",
			want: Info{Version: "dev"},
			line: "rdsgate dev",
		},
		{
			desc:    "stamped by the release",
			version: "v1.2.3", commit: "0123456789abcdef0123456789abcdef01234567", date: "2026-12-01T10:00:00Z",
			info: vcs,
			want: Info{Version: "v1.2.3", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-12-01T10:00:00Z"},
			line: "rdsgate v1.2.3 (0123456789ab, 2026-12-01T10:00:00Z)",
		},
		{
			desc:   "a stamped commit ignores the toolchain's vcs record",
			commit: "0123456789abcdef0123456789abcdef01234567",
			info:   vcs,
			want:   Info{Version: "dev", Commit: "0123456789abcdef0123456789abcdef01234567"},
			line:   "rdsgate dev (0123456789ab)",
		},
		{
			desc: "go build in a git tree: the toolchain's record",
			info: vcs,
			want: Info{Version: "dev", Commit: "1111111111111111111111111111111111111111", Modified: true, Date: "2026-01-02T03:04:05Z"},
			line: "rdsgate dev (111111111111+dirty, 2026-01-02T03:04:05Z)",
		},
		{
			desc: "go install ...@v1.4.0: the module version",
			info: &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}},
			want: Info{Version: "v1.4.0"},
			line: "rdsgate v1.4.0",
		},
		{
			desc:    "a stamped version wins over the module version",
			version: "v2.0.0-rc1",
			info:    &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}},
			want:    Info{Version: "v2.0.0-rc1"},
			line:    "rdsgate v2.0.0-rc1",
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got := current(tc.version, tc.commit, tc.date, tc.info)
			tc.want.GoVersion, tc.want.Platform = runtime.Version(), platform
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("current (-want +got):\n%s", diff)
			}
			if want := tc.line + " " + runtime.Version() + " " + platform; got.String() != want {
				t.Errorf("String() = %q, want %q", got.String(), want)
			}
		})
	}
}

// TestLdflagsStamp builds a program with the release's -X flags: a renamed
// variable makes the linker ignore the flag silently, and this test fail.
func TestLdflagsStamp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	const pkg = "github.com/rdsgate/rdsgate/internal/buildinfo"
	bin := filepath.Join(t.TempDir(), "stamped")
	ldflags := strings.Join([]string{
		"-X", pkg + ".version=v9.8.7",
		"-X", pkg + ".commit=fedcba9876543210fedcba9876543210fedcba98",
		"-X", pkg + ".date=2026-12-01T10:00:00Z",
	}, " ")
	build := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "./testdata/stamped")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var got Info
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	want := Info{Version: "v9.8.7", Commit: "fedcba9876543210fedcba9876543210fedcba98", Date: "2026-12-01T10:00:00Z", GoVersion: got.GoVersion, Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stamped binary (-want +got):\n%s", diff)
	}
}
