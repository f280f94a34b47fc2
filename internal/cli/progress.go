package cli

import (
	"encoding/json"
	"io"
	"os"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/internal/tty"
)

// progress shows a command's steps on stderr, unless --quiet; the CA
// stage is quiet, as it always was.
func (a *app) progress() *tty.Progress {
	return &tty.Progress{Screen: a.screen(), Quiet: a.g.quiet, Silent: []string{dbpath.StageCA}}
}

// screen is stderr shared by the spinner and the log (one per app).
func (a *app) screen() *tty.Screen {
	if a.scr == nil {
		a.scr = tty.NewScreen(a.stderr)
	}
	return a.scr
}

// color reports whether output may be coloured: stdout a terminal, and
// NO_COLOR (no-color.org) unset.
func (a *app) color() bool {
	f, ok := a.stdout.(*os.File)
	return ok && tty.IsTerminal(f) && a.getenv("NO_COLOR") == ""
}

// show prints v as indented JSON for -o json, else with text.
func (a *app) show(v any, text func(io.Writer) error) error {
	if a.g.output != "json" {
		return text(a.stdout)
	}
	return a.writeJSON(v)
}

// writeJSON prints v as indented JSON, for -o json.
func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
