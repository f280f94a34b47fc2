package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/activity"
	"github.com/rdsgate/rdsgate/internal/cmdline"
)

// sessionsFlags are the route and admin login of the listing, and the
// kill's.
type sessionsFlags struct {
	admin    adminFlags
	database string
	tunnel   bool
	yes      bool
}

func (a *app) newSessions() *cobra.Command {
	var f sessionsFlags
	list := cmdline.Command("sessions TARGET", "Show who is connected to a database now: AWS identity, database user, since when, doing what", cobra.ExactArgs(1),
		func(ctx context.Context, args []string) error { return a.runSessions(ctx, args[0], "", f) })
	kill := cmdline.Command("kill TARGET ID", "End a database connection or a Session Manager session (prints it; --yes ends it)", cobra.ExactArgs(2),
		func(ctx context.Context, args []string) error { return a.runSessions(ctx, args[0], args[1], f) })
	for _, c := range []*cobra.Command{list, kill} {
		f.admin.register(c.Flags())
		dbFlag(c.Flags(), &f.database, "database to log in to as the administrative user (default: the config file's, PostgreSQL: postgres)")
	}
	kill.Flags().BoolVar(&f.tunnel, "tunnel", false, "also terminate the Session Manager session that carries the connection (and every connection on it)")
	kill.Flags().BoolVar(&f.yes, "yes", false, "end it without asking")
	list.AddCommand(kill)
	return list
}

// runSessions lists who is connected to name, or with an id ends that
// session. The database side needs the administrative login; without it,
// the Session Manager side is listed alone.
func (a *app) runSessions(ctx context.Context, name, id string, f sessionsFlags) error {
	p, err := a.openPath(ctx, name, f.admin.route)
	if err != nil {
		return err
	}
	defer p.Close()
	db, _, err := a.adminDB(ctx, p, grantSpec(p, "", f.database).Database, f.admin.adminSecret)
	if err != nil {
		a.log.Warn("the database's side is not shown", "err", withHint(err))
	} else {
		defer db.Close()
	}
	src := activity.SourcesFor(p, db)
	rep, err := activity.List(ctx, src)
	if err != nil {
		return err
	}
	for _, w := range rep.Warnings {
		a.log.Warn(w)
	}
	if id == "" {
		return a.show(rep, rep.WriteText)
	}
	plan, err := rep.PlanKill(src, id, activity.KillOptions{Tunnel: f.tunnel})
	if err != nil {
		return err
	}
	fmt.Fprint(a.stderr, plan.String())
	if err := cmdline.Confirm(f.yes, a.stdin, a.stderr, "sessions kill"); err != nil {
		return err
	}
	return plan.Apply(ctx)
}
