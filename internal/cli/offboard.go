package cli

import (
	"cmp"
	"context"
	"database/sql"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/internal/cmdline"
	"github.com/rdsgate/rdsgate/offboard"
)

type offboardFlags struct {
	admin     adminFlags
	targets   []string
	principal string
	yes       bool
}

func (a *app) newOffboard() *cobra.Command {
	var f offboardFlags
	cmd := cmdline.Command("offboard DBUSER", "Take a person's access away on every target: their database user and rdsgate's IAM policy (prints the plan; --yes applies it)",
		cobra.ExactArgs(1), func(ctx context.Context, args []string) error { return a.runOffboard(ctx, args[0], f) })
	f.admin.register(cmd.Flags())
	cmd.Flags().StringSliceVar(&f.targets, "targets", nil, "the databases, or all (default: all, every target of the config files)")
	cmd.Flags().StringVar(&f.principal, "principal", "", "the person's IAM principal (role/NAME, user/NAME or group/NAME): rdsgate's policy for DBUSER on each target comes off it too")
	cmd.Flags().BoolVar(&f.yes, "yes", false, "apply the plan without asking")
	return cmd
}

func (a *app) runOffboard(ctx context.Context, user string, f offboardFlags) error {
	if len(f.targets) == 0 || len(f.targets) == 1 && f.targets[0] == "all" {
		c, err := a.loadConfig()
		if err != nil {
			return err
		}
		if f.targets = c.Names(); len(f.targets) == 0 {
			return cmdline.Usagef("no targets in the config files: name them with --targets T1,T2")
		}
	}
	c := offboard.Config{DBUser: user, Targets: f.targets, Principal: f.principal,
		Open: func(ctx context.Context, name string) (*dbpath.Path, error) {
			return a.openPath(ctx, name, f.admin.route)
		},
		Admin: func(ctx context.Context, p *dbpath.Path, database string) (*sql.DB, error) {
			db, _, err := a.adminDB(ctx, p, database, f.admin.adminSecret)
			return db, err
		}}
	rep := offboard.Plan(ctx, c)
	defer rep.Close()
	if err := rep.WriteText(a.stderr); err != nil {
		return err
	}
	if err := cmdline.Confirm(f.yes, a.stdin, a.stderr, "offboard"); err != nil {
		return err
	}
	err := rep.Apply(ctx, c)
	return cmp.Or(rep.WriteText(a.stdout), err)
}
