// Package buildinfo says which rdsgate this is: the version, commit and date
// stamped at build time (or what the Go toolchain recorded), the Go version
// and the platform.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Stamped at build time by the release (GoReleaser's ldflags, `make build`):
//
//	-ldflags "-X github.com/rdsgate/rdsgate/internal/buildinfo.version=v1.2.3
//	          -X github.com/rdsgate/rdsgate/internal/buildinfo.commit=0123456789abcdef...
//	          -X github.com/rdsgate/rdsgate/internal/buildinfo.date=2026-12-01T10:00:00Z"
//
// Each one left empty falls back to what debug.ReadBuildInfo recorded (the
// module version of `go install ...@v1.2.3`, vcs.revision, vcs.time).
var (
	version = ""
	commit  = ""
	date    = ""
)

// Info describes this binary.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	Date      string `json:"date,omitempty"` // RFC 3339, when the commit or build was made
	GoVersion string `json:"go"`
	Platform  string `json:"platform"`
}

// Current is this binary's Info. Version is "dev" when nothing says more.
func Current() Info {
	info, _ := debug.ReadBuildInfo()
	return current(version, commit, date, info)
}

// current merges the stamped values with the toolchain's record; a stamped
// value wins. info may be nil (a binary built without module support).
func current(version, commit, date string, info *debug.BuildInfo) Info {
	b := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info != nil {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		// The toolchain's vcs record describes the tree it built from; a
		// stamped commit may be another one, so then none of it is used.
		if b.Commit == "" {
			for _, s := range info.Settings {
				switch s.Key {
				case "vcs.revision":
					b.Commit = s.Value
				case "vcs.modified":
					b.Modified = s.Value == "true"
				case "vcs.time":
					if b.Date == "" {
						b.Date = s.Value
					}
				}
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	return b
}

// String is the one line `rdsgate version` prints:
// "rdsgate v1.2.3 (0123456789ab+dirty, 2026-12-01T10:00:00Z) go1.26.0 linux/amd64".
func (b Info) String() string {
	commit := b.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if b.Modified {
		commit += "+dirty"
	}
	var paren string
	switch {
	case commit != "" && b.Date != "":
		paren = " (" + commit + ", " + b.Date + ")"
	case commit != "":
		paren = " (" + commit + ")"
	case b.Date != "":
		paren = " (" + b.Date + ")"
	}
	return "rdsgate " + b.Version + paren + " " + b.GoVersion + " " + b.Platform
}
