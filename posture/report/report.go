// Package report renders a [posture.Report]: a text table grouped by
// database, JSON (the report itself, schema in docs/audit-json.md), SARIF
// 2.1.0 for code-scanning UIs, and Markdown; and turns --fail-on into an
// exit code.
package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
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
	head := *rep
	head.Databases = []posture.DBReport{}
	err := writeSpliced(w, &head, "  ", "databases", func(emit func(any) error) error {
		for i := range rep.Databases {
			if err := emit(&rep.Databases[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("report: json: %w", err)
	}
	return nil
}

// Exit codes of an audit.
const (
	// ExitFindings: a failed check reached the policy's FailOn.
	ExitFindings = 1
	// ExitIncomplete: the audit cannot vouch for the account (see
	// [posture.Report.Incomplete]), or a check is unknown and the policy
	// says FailOnUnknown. An audit is never green by accident.
	ExitIncomplete = 3
)

// ExitPolicy says which outcomes fail a run.
type ExitPolicy struct {
	// FailOn fails the run on a failed check of this severity or worse;
	// empty: findings never fail it.
	FailOn posture.Severity
	// FailOnUnknown fails the run when any check is unknown (for CI,
	// where a read that silently stopped working must be seen).
	FailOnUnknown bool
}

// ExitCode is ExitFindings when rep has a failed check at p.FailOn or
// worse; otherwise ExitIncomplete when rep is incomplete (always) or has
// an unknown check (with p.FailOnUnknown); otherwise 0.
func ExitCode(rep *posture.Report, p ExitPolicy) int {
	switch {
	case p.FailOn != "" && len(rep.Failing(p.FailOn)) > 0:
		return ExitFindings
	case len(rep.Incomplete) > 0, p.FailOnUnknown && rep.Summary.Unknown > 0:
		return ExitIncomplete
	}
	return 0
}

// shown reports whether a result is listed without Options.All.
func shown(f posture.Finding, opts Options) bool {
	return opts.All || f.Status == posture.StatusFail || f.Status == posture.StatusUnknown
}

func missing(f posture.Finding) string { return posture.UnknownText(f) }

// bySeverity returns the results worst first: failures by severity, then
// unknowns by severity, then passes and skips; the check id breaks ties.
func bySeverity(results []posture.Finding) []posture.Finding {
	out := slices.Clone(results)
	statusRank := map[posture.Status]int{posture.StatusFail: 3, posture.StatusUnknown: 2, posture.StatusPass: 1}
	slices.SortStableFunc(out, func(a, b posture.Finding) int {
		return cmp.Or(
			cmp.Compare(statusRank[b.Status], statusRank[a.Status]),
			cmp.Compare(b.Severity.Rank(), a.Severity.Rank()),
			strings.Compare(a.CheckID, b.CheckID))
	})
	return out
}

// flusher writes what a renderer has built to w each time it passes
// flushSize, so that the rendering of thousands of databases is never held
// in memory whole. The first write error sticks.
type flusher struct {
	w   io.Writer
	b   strings.Builder
	err error
}

const flushSize = 64 << 10

func (f *flusher) maybeFlush() {
	if f.b.Len() >= flushSize {
		f.flush()
	}
}

func (f *flusher) flush() error {
	if f.err == nil && f.b.Len() > 0 {
		_, f.err = io.WriteString(f.w, f.b.String())
	}
	f.b.Reset()
	return f.err
}

// where is a region, prefixed with its account in an organization-wide
// report: "111111111111/us-east-1".
func where(account, region string) string {
	if account == "" {
		return region
	}
	return account + "/" + region
}

// scope is what the report vouches for: "account" or "organization".
func scope(rep *posture.Report) string {
	if rep.Accounts != nil {
		return "organization"
	}
	return "account"
}

// accountLine is one account of an organization-wide report, for a
// person: its regions and databases, or why it was not audited.
func accountLine(a posture.AccountReport) string {
	name := ""
	if a.Name != "" {
		name = " (" + a.Name + ")"
	}
	if a.Failed != "" {
		return fmt.Sprintf("%s%s: not audited: %s", a.ID, name, a.Failed)
	}
	return fmt.Sprintf("%s%s: %d databases in %s", a.ID, name, a.Databases, strings.Join(a.Regions, ", "))
}

func counts(db posture.DBReport) map[posture.Status]int {
	m := map[posture.Status]int{}
	for _, f := range db.Results {
		m[f.Status]++
	}
	return m
}
