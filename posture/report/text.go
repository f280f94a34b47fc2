package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/rdsgate/rdsgate/posture"
)

const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiGreen  = "\x1b[32m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
)

// Text writes a table per database, worst first: severity, check, status
// and detail of each failed or unknown check (all with Options.All), each
// failure followed by its fix (the AWS CLI commands); then the summary,
// the reads that failed and why, and what makes the audit incomplete.
func Text(w io.Writer, rep *posture.Report, opts Options) error {
	paint := func(code, s string) string {
		if !opts.Color {
			return s
		}
		return code + s + ansiReset
	}
	fl := &flusher{w: w}
	b := &fl.b
	for _, db := range rep.Databases {
		c := counts(db)
		fmt.Fprintf(b, "%s  %s %s (%s): %d fail, %d unknown, %d pass\n", paint(ansiBold, db.ID), where(db.Account, db.Region), db.Kind, db.Engine,
			c[posture.StatusFail], c[posture.StatusUnknown], c[posture.StatusPass])
		if db.Address != "" {
			fmt.Fprintf(b, "  resource %s\n", db.Address)
		}
		// The rows are aligned on their own, then each failure's fix goes
		// under its row, so that fixes do not widen the columns.
		var rows strings.Builder
		tw := tabwriter.NewWriter(&rows, 0, 4, 2, ' ', 0)
		var listed []posture.Finding
		for _, f := range bySeverity(db.Results) {
			if !shown(f, opts) {
				continue
			}
			listed = append(listed, f)
			status := strings.ToUpper(string(f.Status))
			switch f.Status {
			case posture.StatusFail:
				status = paint(ansiRed, status)
			case posture.StatusUnknown:
				status = paint(ansiYellow, status)
			case posture.StatusPass:
				status = paint(ansiGreen, status)
			default:
				status = paint(ansiDim, status)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s%s\n", f.Severity, f.CheckID, status, f.Detail, missing(f))
		}
		tw.Flush()
		n := len(listed)
		for i, row := range strings.SplitAfter(rows.String(), "\n") {
			b.WriteString(row)
			if i < n && listed[i].Remediation != nil {
				fmt.Fprintf(b, "      fix: %s\n", listed[i].Remediation.Text)
				for _, l := range strings.Split(listed[i].Remediation.CLI, "\n") {
					fmt.Fprintf(b, "        %s\n", paint(ansiDim, l))
				}
			}
		}
		if n == 0 {
			b.WriteString("  all checks pass\n")
		}
		b.WriteString("\n")
		fl.maybeFlush()
	}
	if rep.Accounts != nil {
		fmt.Fprintf(b, "organization %s, %d accounts:\n", rep.Organization, len(rep.Accounts))
		for _, a := range rep.Accounts {
			fmt.Fprintf(b, "  %s\n", accountLine(a))
		}
		b.WriteString("\n")
	}
	s := rep.Summary
	fmt.Fprintf(b, "%d databases: %d fail (critical %d, high %d, medium %d, low %d), %d unknown, %d pass, %d skip\n",
		s.Databases, s.Fail, s.FailBySeverity[posture.SeverityCritical], s.FailBySeverity[posture.SeverityHigh],
		s.FailBySeverity[posture.SeverityMedium], s.FailBySeverity[posture.SeverityLow], s.Unknown, s.Pass, s.Skip)
	if len(rep.Gaps) > 0 {
		b.WriteString("\nreads that failed (checks that need them say unknown):\n")
		for _, g := range rep.Gaps {
			fmt.Fprintf(b, "  %s  %s (%s)\n", where(g.Account, g.Region), g.Explain(), g.Code)
		}
	}
	if len(rep.Incomplete) > 0 {
		b.WriteString("\n" + paint(ansiYellow, "incomplete: this audit cannot vouch for the "+scope(rep)+":") + "\n")
		for _, why := range rep.Incomplete {
			fmt.Fprintf(b, "  %s\n", why)
		}
	}
	if err := fl.flush(); err != nil {
		return fmt.Errorf("report: text: %w", err)
	}
	return nil
}
