// Package report renders a [posture.Report]: a text table grouped by
// database, JSON (the report itself, schema in docs/audit-json.md), SARIF
// 2.1.0 for code-scanning UIs, and Markdown; and turns --fail-on into an
// exit code.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/rdsgate/rdsgate/posture"
)

// Format is an output format.
type Format string

// Formats.
const (
	FormatText     Format = "text"
	FormatJSON     Format = "json"
	FormatSARIF    Format = "sarif"
	FormatMarkdown Format = "markdown"
)

// Formats lists the formats, for flag help.
var Formats = []Format{FormatText, FormatJSON, FormatSARIF, FormatMarkdown}

// Options tune rendering.
type Options struct {
	// Color adds ANSI colours to text output (set it only for a terminal).
	Color bool
	// All lists passing and skipped checks in text and Markdown output
	// too (by default only failures and unknowns are listed).
	All bool
	// ToolVersion is rdsgate's version, for SARIF.
	ToolVersion string
}

// Render writes rep in format f.
func Render(w io.Writer, rep *posture.Report, f Format, opts Options) error {
	switch f {
	case FormatText, "":
		return Text(w, rep, opts)
	case FormatJSON:
		return JSON(w, rep)
	case FormatSARIF:
		return SARIF(w, rep, opts)
	case FormatMarkdown, "md":
		return Markdown(w, rep, opts)
	}
	return fmt.Errorf("report: unknown format %q (want text, json, sarif or markdown)", f)
}

// JSON writes the report as indented JSON.
func JSON(w io.Writer, rep *posture.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("report: json: %w", err)
	}
	return nil
}

// ExitFindings is the exit code when a failed check reaches --fail-on.
const ExitFindings = 1

// ExitCode is 0, or ExitFindings when rep has a failed check of severity
// failOn or worse. Unknown results never fail the run (they are listed as
// collection errors); an empty failOn never fails.
func ExitCode(rep *posture.Report, failOn posture.Severity) int {
	if failOn == "" {
		return 0
	}
	if len(rep.Failing(failOn)) > 0 {
		return ExitFindings
	}
	return 0
}

// shown reports whether a result is listed without Options.All.
func shown(f posture.Finding, opts Options) bool {
	return opts.All || f.Status == posture.StatusFail || f.Status == posture.StatusUnknown
}

func missing(f posture.Finding) string {
	if len(f.MissingActions) == 0 {
		return ""
	}
	return " [missing: " + strings.Join(f.MissingActions, ", ") + "]"
}

func counts(db posture.DBReport) map[posture.Status]int {
	m := map[posture.Status]int{}
	for _, f := range db.Results {
		m[f.Status]++
	}
	return m
}
