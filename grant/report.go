package grant

import (
	"fmt"
	"io"
	"time"

	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/target"
)

// ProfileOf is the profile the four ways of asking for one select: at
// most one of them (none is ReadOnly).
func ProfileOf(readOnly, readWrite, owner bool, privileges []string) (Profile, error) {
	n, p := 0, ReadOnly
	for _, c := range []struct {
		on bool
		p  Profile
	}{{readOnly, ReadOnly}, {readWrite, ReadWrite}, {owner, Owner}, {len(privileges) > 0, Custom}} {
		if c.on {
			n, p = n+1, c.p
		}
	}
	if n > 1 {
		return "", setting.Invalidf("choose one of %s, %s, %s and %s", setting.ReadOnly, setting.ReadWrite, setting.Owner, setting.Privileges)
	}
	return p, nil
}

// SpecFor is the spec for user on t: the engine's details from t, and
// database, else PostgreSQL's maintenance database postgres (MySQL grants
// need none).
func SpecFor(t target.Target, user, database string) Spec {
	if database == "" && t.Family() == target.FamilyPostgres {
		database = "postgres"
	}
	return Spec{Family: t.Family(), User: user, Database: database, MasterUser: t.MasterUser, Engine: t.Engine, EngineVersion: t.EngineVersion}
}

// DryRun is the plan as SQL under a comment that says what it does and
// that nothing changed (it names the setting that applies it).
func (p *Plan) DryRun(what string) setting.Text {
	return setting.Textf("-- rdsgate %s\n-- Nothing was changed: run again with %s to execute this as the administrative user.\n%s", what, setting.Apply, p.SQL())
}

// WriteResult prints what Apply ran, one statement a line, and a comment
// when some or all of it was already in place.
func WriteResult(w io.Writer, res Result, what string) {
	for _, q := range res.Executed {
		fmt.Fprintf(w, "%s;\n", q)
	}
	switch {
	case !res.Changed():
		fmt.Fprintf(w, "-- nothing to change: %s is already in place (%d statements checked)\n", what, len(res.Skipped))
	case len(res.Skipped) > 0:
		fmt.Fprintf(w, "-- applied %d statements; %d were already in place\n", len(res.Executed), len(res.Skipped))
	}
}

// Next is what the person who applied the plan does next (zero: nothing).
func (p *Plan) Next(targetName string, res Result) setting.Text {
	switch {
	case !res.Changed():
		return setting.Text{}
	case p.Action == "grant":
		return setting.Textf("Next: give the people or programs the IAM policy: rdsgate policy %s %s", targetName, setting.User.Is(p.Spec.User))
	case p.Action == "revoke":
		return setting.Textf("Sessions already open as %s stay open until they end; remove %s from IAM policies too.", p.Spec.User, p.Spec.User)
	}
	return setting.Text{}
}

// Expire sets when the access ends: until (RFC 3339, or a date, its start
// in UTC) or forDur from now; at most one of them.
func (r *PolicyRequest) Expire(until string, forDur time.Duration, now time.Time) error {
	switch {
	case until != "" && forDur != 0:
		return setting.Invalidf("%s and %s: give one", setting.Until, setting.For)
	case forDur < 0:
		return setting.Invalidf("%s: give a duration from now", setting.For.Is(forDur.String()))
	case forDur > 0:
		r.Until = now.Add(forDur).Truncate(time.Second)
	case until != "":
		for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
			if t, err := time.Parse(layout, until); err == nil {
				r.Until = t
				return nil
			}
		}
		return setting.Invalidf("%s: use 2026-12-31T18:00:00Z or 2026-12-31", setting.Until.Is(until))
	}
	return nil
}

// Output is n in format, or with attachTo (role/NAME, user/NAME or
// group/NAME) the aws iam command that puts it on that principal, which
// carries the JSON document.
func (n Named) Output(format, attachTo string) (string, error) {
	if attachTo == "" {
		return n.Render(format)
	}
	if format != FormatJSON && format != "" {
		return "", setting.Invalidf("%s prints an aws iam command with the JSON document: leave out the format", setting.AttachTo)
	}
	return AttachCommand(attachTo, n.Name, n.Doc)
}
