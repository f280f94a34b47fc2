package activity

import (
	"cmp"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/rdsgate/rdsgate/dbpath"
	ssmtunnel "github.com/rdsgate/rdsgate/tunnel/ssm"
)

// SourcesFor are the sources of the path p: its target, the administrative
// handle admin (nil: no database side), and on the ssm route the bastion,
// Session Manager and the path's own sessions (marked Self).
func SourcesFor(p *dbpath.Path, admin *sql.DB) Sources {
	src := Sources{Target: p.Target, DB: admin, Account: p.Identity.Account}
	if p.Route.Via == "ssm" && p.Route.Bastion != "" {
		src.SSM, src.Bastion = ssm.NewFromConfig(p.AWS), p.Route.Bastion
		if d, ok := p.Dialer.(*ssmtunnel.Dialer); ok {
			src.Own = d.Sessions()
		}
	}
	return src
}

// WriteText prints the report as a table, one row per session; "*" marks
// the listing's own connection, and the identity says how it was matched
// when not by rdsgate's tag.
func (r *Report) WriteText(w io.Writer) error {
	if len(r.Sessions) == 0 {
		_, err := fmt.Fprintf(w, "nobody is connected to %s\n", r.Target)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAWS IDENTITY\tDB USER\tDATABASE\tAPPLICATION\tSINCE\tSTATE\tSTATEMENT")
	for _, s := range r.Sessions {
		id := s.ID
		if s.Self {
			id += "*"
		}
		who := cmp.Or(arnResource(s.AWSIdentity), "-")
		if s.Match != "" && s.Match != MatchTag {
			who += " [" + string(s.Match) + "]"
		}
		stmt := oneLine(s.Statement, 60)
		if s.StatementHidden {
			stmt = "(hidden)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, who, cmp.Or(s.DBUser, "-"), cmp.Or(s.Database, "-"),
			cmp.Or(s.Application, "-"), age(r.Time, s.Since), cmp.Or(s.State, "-"), cmp.Or(stmt, "-"))
	}
	return tw.Flush()
}

// age is how long ago t was, from now, short; "-" when unknown.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// oneLine is s on one line, cut to n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
