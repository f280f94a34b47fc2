package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/internal/tty"
)

// stage prints one step of a multi-step command on stderr — "  identity
// arn:aws:iam::... (12ms)" — unless --quiet. Progress goes to stderr so that
// stdout stays clean for query results and connection details.
func (a *app) stage(name string, start time.Time, format string, args ...any) {
	a.stageLine(name, time.Since(start), fmt.Sprintf(format, args...))
}

func (a *app) stageLine(name string, took time.Duration, detail string) {
	if a.g.quiet {
		return
	}
	fmt.Fprintf(a.stderr, "  %-9s %s (%s)\n", name, detail, took.Round(time.Millisecond))
}

// progress shows a path's stages: a spinner while one runs, a line when it
// is done. The CA stage is quiet, as it always was.
type progress struct {
	a    *app
	stop func()
}

func (p *progress) Begin(stage string) {
	if stage != dbpath.StageCA {
		p.stop = p.a.spin(stage)
	}
}

func (p *progress) Done(stage string, took time.Duration, detail string) {
	if p.stop != nil {
		p.stop()
		p.stop = nil
	}
	if took >= 0 && stage != dbpath.StageCA {
		p.a.stageLine(stage, took, detail)
	}
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

// spin shows a spinner for a stage in progress on a terminal, unless
// --quiet.
func (a *app) spin(name string) (stop func()) {
	if a.g.quiet {
		return func() {}
	}
	return a.screen().Spin(name)
}
