package cli

import (
	"fmt"
	"time"
)

// stage prints one step of a multi-step command on stderr — "  identity
// arn:aws:iam::... (12ms)" — unless --quiet. Progress goes to stderr so that
// stdout stays clean for query results and connection details.
func (a *app) stage(name string, start time.Time, format string, args ...any) {
	if a.g.quiet {
		return
	}
	fmt.Fprintf(a.stderr, "  %-9s %s (%s)\n", name, fmt.Sprintf(format, args...), time.Since(start).Round(time.Millisecond))
}
