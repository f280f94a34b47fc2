package cli

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/sandbox"
)

type sandboxFlags struct {
	dir     string
	engines []string
	faults  []string
	spec    string
	unpaced bool
	backend []string
}

func (a *app) newSandbox() *cobra.Command {
	var f sandboxFlags
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a local stand-in for the AWS side: IAM-checked databases and AWS APIs",
		Long: `Run, on loopback and in the foreground until Ctrl-C, the AWS side of the path to a
private database, so that rdsgate (and your own IAM-auth code) can be tried and
tested with no AWS account:

  * demo-pg (PostgreSQL) and demo-mysql (MariaDB), each behind a front that acts
    like RDS: TLS with a certificate for its endpoint name, and IAM database
    authentication that checks the token's signature, expiry, host:port, user,
    region and the caller's rds-db:connect permission. Refusals read like RDS's;
    the sandbox log says the precise reason. The IAM database user is app_user.
  * an AWS API endpoint (STS, RDS, EC2, SSM, IAM, Secrets Manager) that checks
    every request's SigV4 signature.

The servers behind the fronts (--backend): with "auto" (the default), real
PostgreSQL and MariaDB started from the installed packages (postgresql,
mariadb-server) where they are installed, and the embedded engine where they
are not; "installed" requires the packages; a URL names an existing server
for its engine (the sandbox creates the demo's roles, users and database there,
marks them, and refuses to take over any it did not create); "embedded"
always uses the embedded engine: SQLite inside rdsgate behind the PostgreSQL and MySQL
protocols. It runs the demo data and everyday SELECT/INSERT/UPDATE/DELETE,
DDL and transactions; it does not run account statements (CREATE ROLE,
GRANT: 'rdsgate grant --apply' needs installed servers), catalog queries such
as psql's \d, or PostgreSQL-only syntax such as ::casts.

It writes into --dir: aws-config and aws-credentials (profile rdsgate-sandbox,
allowed everything; rdsgate-sandbox-intern, allowed nothing), ca.pem,
rdsgate.yaml (targets demo-pg and demo-mysql), env (source it), sandbox.json,
and last of all ready. An optional sandbox.yaml (--spec, or DIR/sandbox.yaml)
declares engines, faults, extra IAM database users, and extra principals, each
with an IAM policy and a profile of its own.

Faults (--fault, repeatable) make the sandbox wrong in one way, to see what
rdsgate says: ` + strings.Join(sandbox.AllFaults, ", ") + `.`,
		Example: `  # terminal 1
  rdsgate sandbox --dir /tmp/sb
  # terminal 2
  . /tmp/sb/env
  rdsgate ls
  aws rds generate-db-auth-token --hostname demo-pg.c0sandbox.us-east-1.rds.amazonaws.com --port 5432 --username app_user

  # no PostgreSQL or MariaDB installed, or to try the embedded engine anyway
  rdsgate sandbox --dir /tmp/sb --backend embedded

  # only PostgreSQL, with IAM authentication switched off on the instance
  rdsgate sandbox --dir /tmp/sb --engine postgres --fault iam-auth-disabled`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runSandbox(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", "", "directory for the client files (default ~/.cache/rdsgate/sandbox)")
	fl.StringSliceVar(&f.engines, "engine", []string{"all"}, "engines to run: postgres, mysql or all")
	fl.StringSliceVar(&f.faults, "fault", nil, "fault to switch on (repeatable): "+strings.Join(sandbox.AllFaults, ", "))
	fl.StringVar(&f.spec, "spec", "", "sandbox.yaml declaring engines, faults, extra IAM database users and principals with policies (default DIR/sandbox.yaml when it exists)")
	fl.StringArrayVar(&f.backend, "backend", []string{sandbox.BackendAuto}, "what serves the data behind the fronts: auto, installed, embedded, or an existing server's URL (postgres://USER:PASSWORD@HOST:PORT?sslmode=disable, mysql://USER:PASSWORD@HOST:PORT); repeat for one URL per engine")
	fl.BoolVar(&f.unpaced, "unpaced", false, "let the Session Manager agent send as fast as it can (by default it paces like AWS's, about 1 MB/s)")
	return cmd
}

// setBackends sorts --backend values into a kind and URLs.
func setBackends(opts *sandbox.Options, values []string) error {
	if err := opts.SetBackends(values); err != nil {
		return usagef("--backend: %v", err)
	}
	return nil
}

func (a *app) runSandbox(ctx context.Context, f sandboxFlags) error {
	dir, err := filepath.Abs(cmp.Or(f.dir, sandbox.DefaultDir()))
	if err != nil {
		return err
	}
	opts := sandbox.Options{Dir: dir, Engines: f.engines, Faults: f.faults, Unpaced: f.unpaced, Log: a.log}
	if err := setBackends(&opts, f.backend); err != nil {
		return err
	}
	if err := opts.ApplySpecFile(f.spec); err != nil {
		return err
	}
	a.log.Info("starting sandbox", "dir", dir)
	sb, err := sandbox.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer sb.Close()
	if !a.g.quiet {
		fmt.Fprintf(a.stdout, "Sandbox running. In another shell:\n\n  . %s\n  rdsgate ls\n", filepath.Join(dir, "env"))
		for _, inst := range sb.World.Instances {
			fmt.Fprintf(a.stdout, "  rdsgate token --target %s --user %s\n", inst.Identifier, sandbox.IAMUser)
		}
		fmt.Fprintf(a.stdout, "\nPress Ctrl-C to stop.\n")
	}
	<-ctx.Done()
	a.log.Info("stopping sandbox")
	return sb.Close()
}
