// Package buildinfo says which rdsgate this is: the version set at build
// time (or the module's), the commit, the Go version and the platform.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// version is set at build time:
// -ldflags "-X github.com/rdsgate/rdsgate/internal/buildinfo.version=v1.2.3".
var version = ""

// Info describes this binary.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go"`
	Platform  string `json:"platform"`
}

// Current is this binary's Info. Version is "dev" when nothing says more.
func Current() Info {
	b := Info{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	return b
}

// String is the one line `rdsgate version` prints:
// "rdsgate v1.2.3 (0123456789ab+dirty) go1.26.0 linux/amd64".
func (b Info) String() string {
	commit := b.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if b.Modified {
		commit += "+dirty"
	}
	if commit != "" {
		commit = " (" + commit + ")"
	}
	return "rdsgate " + b.Version + commit + " " + b.GoVersion + " " + b.Platform
}
