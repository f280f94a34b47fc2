package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/doctor"
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
	opts.Observer = nil // the report is the output
	report := doctor.Run(ctx, doctor.Config{Spec: spec, Options: opts})
	ro := doctor.RenderOptions{Settings: flags} // fixes say which flag to pass
	if a.g.output == "json" {
		err = report.WriteJSON(a.stdout, ro)
	} else {
		err = report.WriteText(a.stdout, ro)
	}
	if err != nil {
		return err
	}
	if !report.OK() {
		return exitError{code: ExitFailure}
	}
	return nil
}
