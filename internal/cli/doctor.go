package cli

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/doctor"
	"github.com/rdsgate/rdsgate/rdsca"
	"github.com/rdsgate/rdsgate/target"
	"github.com/rdsgate/rdsgate/tunnel"
)

func (a *app) newDoctor() *cobra.Command {
	var rf routeFlags
	cmd := &cobra.Command{
		Use:   "doctor TARGET",
		Short: "Check every stage of the path to a database, and say how to fix what is wrong",
		Long: `Run every stage of the path connect takes and check each precondition:
credentials and identity; the target exists, is available and has IAM database
authentication on; your IAM identity may rds-db:connect as the database user
(checked with the IAM policy simulator, with the exact statement to add if not);
for the ssm route, the bastion, its SSM agent, your ssm:StartSession permission
and the security groups between bastion and database; the route opens; the
server certificate verifies (CA, name, expiry: a warning within 30 days); and
the IAM login works, with the likely causes and the SQL that fixes them if not.

Each check passes, fails, warns or is skipped, with its time. The exit code is 1
when any check fails. -o json prints the report as JSON.`,
		Example: `  rdsgate doctor orders-prod --user jane
  rdsgate doctor orders-prod --via ssm --bastion i-0123456789abcdef0 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDoctor(cmd.Context(), args[0], rf)
		},
	}
	rf.register(cmd.Flags())
	return cmd
}

func (a *app) runDoctor(ctx context.Context, name string, rf routeFlags) error {
	spec, err := a.pathSpec(name, rf)
	if err != nil {
		return err
	}
	opts := a.pathOptions()
	var dialers []tunnel.Dialer
	defer func() {
		for _, d := range dialers {
			closeDialer(d)
		}
	}()
	dc := doctor.Config{
		Name:  name,
		User:  spec.User,
		Route: spec.Route,
		LoadAWS: func(ctx context.Context) (aws.Config, string, error) {
			cfg, err := dbpath.LoadAWS(ctx, spec, opts)
			return cfg, spec.Profile, err
		},
		Resolve: func(ctx context.Context, cfg aws.Config) (target.Target, error) {
			return dbpath.Resolver(cfg, spec).Resolve(ctx, name)
		},
		Dialer: func(ctx context.Context, cfg aws.Config, t target.Target) (tunnel.Dialer, error) {
			d, err := dbpath.NewDialer(ctx, cfg, spec.Route, t.Address(), spec.Profile, a.log)
			if err == nil {
				dialers = append(dialers, d)
			}
			return d, pathHint(err)
		},
		Bundle: func(ctx context.Context, t target.Target) (*rdsca.Bundle, error) {
			return rdsca.Load(ctx, rdsca.Options{File: spec.CABundle, Getenv: a.getenv, Region: t.Region, Log: a.log})
		},
		Login: func(ctx context.Context, cfg aws.Config, t target.Target, d tunnel.Dialer, b *rdsca.Bundle) error {
			p := &dbpath.Path{Spec: spec, Target: t, AWS: cfg, Route: spec.Route, Bundle: b, Dialer: d}
			l, err := a.serveLocal(ctx, p, connectFlags{}, 0, false)
			if err != nil {
				return err
			}
			defer l.close()
			db, err := l.open(ctx, spec.User, spec.Database)
			if err != nil {
				return err
			}
			defer db.Close()
			var one int
			return db.QueryRowContext(ctx, "select 1").Scan(&one)
		},
	}
	quiet := a.g.quiet
	a.g.quiet = true // the report is the output
	report := doctor.Run(ctx, dc)
	a.g.quiet = quiet
	if a.g.output == "json" {
		err = report.WriteJSON(a.stdout)
	} else {
		err = report.WriteText(a.stdout)
	}
	if err != nil {
		return err
	}
	if !report.OK() {
		return exitError{code: ExitFailure}
	}
	return nil
}
