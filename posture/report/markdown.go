package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/rdsgate/rdsgate/posture"
)

// Markdown writes a summary table and a section per database with its
// failed and unknown checks (all with Options.All) and the fixes, for a
// pull request comment or a wiki page.
func Markdown(w io.Writer, rep *posture.Report, opts Options) error {
	fl := &flusher{w: w}
	b := &fl.b
	s := rep.Summary
	b.WriteString("# rdsgate audit\n\n")
	fmt.Fprintf(b, "Snapshot of %s", rep.CollectedAt.UTC().Format("2006-01-02 15:04 UTC"))
	if rep.Account != "" {
		fmt.Fprintf(b, ", account %s", rep.Account)
	}
	if rep.Accounts != nil {
		fmt.Fprintf(b, ", organization %s, %d accounts", rep.Organization, len(rep.Accounts))
	}
	fmt.Fprintf(b, ", regions %s.\n\n", strings.Join(rep.Regions, ", "))
	b.WriteString("| databases | fail | critical | high | medium | low | unknown | pass |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(b, "| %d | %d | %d | %d | %d | %d | %d | %d |\n\n", s.Databases, s.Fail,
		s.FailBySeverity[posture.SeverityCritical], s.FailBySeverity[posture.SeverityHigh],
		s.FailBySeverity[posture.SeverityMedium], s.FailBySeverity[posture.SeverityLow], s.Unknown, s.Pass)
	if rep.Accounts != nil {
		b.WriteString("| account | name | databases | regions |\n| --- | --- | ---: | --- |\n")
		for _, a := range rep.Accounts {
			regions := strings.Join(a.Regions, ", ")
			if a.Failed != "" {
				regions = "not audited: " + a.Failed
			}
			fmt.Fprintf(b, "| %s | %s | %d | %s |\n", a.ID, mdCell(a.Name), a.Databases, mdCell(regions))
		}
		b.WriteString("\n")
	}
	for _, db := range rep.Databases {
		fmt.Fprintf(b, "## `%s` (%s %s, %s)\n\n", db.ID, where(db.Account, db.Region), db.Kind, db.Engine)
		if db.Address != "" {
			fmt.Fprintf(b, "Terraform resource `%s`.\n\n", db.Address)
		}
		b.WriteString("| severity | check | status | detail |\n| --- | --- | --- | --- |\n")
		var fixes []posture.Finding
		for _, f := range bySeverity(db.Results) {
			if !shown(f, opts) {
				continue
			}
			fmt.Fprintf(b, "| %s | `%s` | %s | %s%s |\n", f.Severity, f.CheckID, f.Status, mdCell(f.Detail), mdCell(missing(f)))
			if f.Remediation != nil {
				fixes = append(fixes, f)
			}
		}
		b.WriteString("\n")
		if len(fixes) > 0 {
			b.WriteString("<details><summary>Fixes</summary>\n\n")
			for _, f := range fixes {
				fmt.Fprintf(b, "**%s** — %s\n\n```sh\n%s\n```\n\n```hcl\n%s\n```\n\n", f.CheckID, f.Remediation.Text, f.Remediation.CLI, f.Remediation.Terraform)
			}
			b.WriteString("</details>\n\n")
		}
		fl.maybeFlush()
	}
	if len(rep.Gaps) > 0 {
		b.WriteString("## Reads that failed\n\n| region | action | resource | code |\n| --- | --- | --- | --- |\n")
		for _, g := range rep.Gaps {
			fmt.Fprintf(b, "| %s | `%s` | %s | %s (%s) |\n", where(g.Account, g.Region), g.Action, mdCell(g.Resource), g.Kind, g.Code)
		}
		b.WriteString("\n")
	}
	if len(rep.Incomplete) > 0 {
		fmt.Fprintf(b, "## Incomplete\n\nThis audit cannot vouch for the %s:\n\n", scope(rep))
		for _, why := range rep.Incomplete {
			fmt.Fprintf(b, "- %s\n", why)
		}
		b.WriteString("\n")
	}
	if err := fl.flush(); err != nil {
		return fmt.Errorf("report: markdown: %w", err)
	}
	return nil
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
