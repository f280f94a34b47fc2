package cli

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rdsgate/rdsgate/bastion"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/grant"
	"github.com/rdsgate/rdsgate/internal/cmdline"
)

// adminFlags are shared by the commands that log in as the administrative
// user: the route (as connect's, without --user/--db) and the secret.
type adminFlags struct {
	route       routeFlags
	adminSecret string
}

func (f *adminFlags) register(fs *pflag.FlagSet) {
	f.route.registerRoute(fs)
	fs.StringVar(&f.adminSecret, "admin-secret", "", "Secrets Manager secret (ARN or name) with the administrative user's username and password (default: the instance's managed master secret, else a prompt)")
}

// planFlags are grant's and revoke's: where the plan runs, and whether.
type planFlags struct {
	admin    adminFlags
	database string
	schemas  []string
	apply    bool
}

func (f *planFlags) register(fs *pflag.FlagSet) {
	f.admin.register(fs)
	dbFlag(fs, &f.database, "database the privileges are on (default: the config file's, PostgreSQL: postgres)")
	fs.StringSliceVar(&f.schemas, "schema", nil, "PostgreSQL schemas (default public; revoke --apply also finds the others the user has grants in)")
	fs.BoolVar(&f.apply, "apply", false, "run the SQL as the administrative user (default: print it and change nothing)")
}

// dbFlag registers --db (-d) as every command names the database, with
// --database, these commands' older name, as an alias.
func dbFlag(fs *pflag.FlagSet, p *string, usage string) {
	fs.StringVarP(p, "db", "d", "", usage)
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "database" {
			name = "db"
		}
		return pflag.NormalizedName(name)
	})
}

type grantFlags struct {
	planFlags
	readOnly, readWrite, own bool
	privileges               []string
}

func (a *app) newGrant() *cobra.Command {
	var f grantFlags
	cmd := cmdline.Command("grant TARGET DBUSER", "Create an IAM-authenticated database user with least privilege", cobra.ExactArgs(2), func(ctx context.Context, args []string) error {
		return a.runGrant(ctx, args[0], args[1], f)
	})
	fl := cmd.Flags()
	f.planFlags.register(fl)
	fl.BoolVar(&f.readOnly, "read-only", false, "SELECT only (the default)")
	fl.BoolVar(&f.readWrite, "read-write", false, "SELECT, INSERT, UPDATE, DELETE")
	fl.BoolVar(&f.own, "owner", false, "everything on the schema/database, including CREATE")
	fl.StringSliceVar(&f.privileges, "privileges", nil, "explicit table privileges, comma-separated (e.g. SELECT,INSERT)")
	return cmd
}

func (a *app) newRevoke() *cobra.Command {
	var f planFlags
	cmd := cmdline.Command("revoke TARGET DBUSER", "Undo rdsgate grant: revoke the user's privileges and drop it", cobra.ExactArgs(2), func(ctx context.Context, args []string) error {
		return a.runRevoke(ctx, args[0], args[1], f)
	})
	f.register(cmd.Flags())
	return cmd
}

// policyFlags are a grant.PolicyRequest (bound to it directly) and how
// to print it.
type policyFlags struct {
	req              grant.PolicyRequest
	format, attachTo string
	account, until   string
	forDur           time.Duration
	bastionAdmin     bool
	apply, detach    bool
}

func (a *app) newPolicy() *cobra.Command {
	var f policyFlags
	cmd := cmdline.Command("policy TARGET --user DBUSER | policy --deny-delete TARGET... | policy --bastion-admin TARGET",
		"Print the least-privilege IAM policy to sign in as a database user", cobra.MinimumNArgs(1), func(ctx context.Context, args []string) error {
			if a.g.outputAsked && a.g.output != "text" {
				f.format = a.g.output // -o, as everywhere; -f stays for scripts that use it
			}
			return a.runPolicy(ctx, args, f)
		})
	fl := cmd.Flags()
	fl.StringVarP(&f.req.DBUser, "user", "u", "", "database user the policy lets sign in")
	fl.StringVar(&f.req.Via, "via", "", "route the people will use: direct or ssm (ssm adds the Session Manager statements; default: the config's route)")
	fl.StringVar(&f.req.Bastion, "bastion", "", "ssm route: bastion instance id")
	fl.StringVarP(&f.format, "format", "f", "json", "json, terraform, cloudformation or cloudformation-json (the same as -o)")
	fl.StringVar(&f.attachTo, "attach-to", "", "print the aws iam command that puts the policy on role/NAME (or user/NAME, group/NAME) as an inline policy")
	fl.BoolVar(&f.apply, "apply", false, "with --attach-to: put the policy on the principal (or take it off, with --detach) instead of printing the command")
	fl.BoolVar(&f.detach, "detach", false, "with --attach-to: take the policy off the principal (the command, or with --apply the change)")
	fl.BoolVar(&f.req.DenyDelete, "deny-delete", false, "print the deletion guard for the TARGETs instead")
	fl.StringSliceVar(&f.req.BreakGlass, "break-glass", nil, "--deny-delete: principal ARN (patterns allowed) still allowed to modify the databases")
	fl.BoolVar(&f.bastionAdmin, "bastion-admin", false, "print the least policy to run rdsgate bastion create/start/stop/destroy for TARGET's VPC instead")
	fl.StringVar(&f.account, "account", "", "account id of the databases (default: the caller's)")
	fl.StringVar(&f.until, "until", "", "the access ends at this time (2026-12-31T18:00:00Z, or a date): IAM stops allowing it, no one has to revoke it")
	fl.DurationVar(&f.forDur, "for", 0, "the access ends after this long from now (8h, 72h)")
	return cmd
}

func (a *app) newUsers() *cobra.Command {
	var f adminFlags
	var database string
	cmd := cmdline.Command("users TARGET", "List a database's users: IAM or password, TLS, privileges", cobra.ExactArgs(1), func(ctx context.Context, args []string) error {
		return a.runUsers(ctx, args[0], database, f)
	})
	f.register(cmd.Flags())
	dbFlag(cmd.Flags(), &database, "database to look at privileges in (default: the config file's, PostgreSQL: postgres)")
	return cmd
}

// grantSpec is the spec for user on p's target; database overrides the
// path's.
func grantSpec(p *dbpath.Path, user, database string) grant.Spec {
	return grant.SpecFor(p.Target, user, cmp.Or(database, p.Spec.Database))
}

func (a *app) runGrant(ctx context.Context, name, user string, f grantFlags) error {
	prof, err := grant.ProfileOf(f.readOnly, f.readWrite, f.own, f.privileges)
	if err != nil {
		return err
	}
	p, err := a.openPath(ctx, name, f.admin.route)
	if err != nil {
		return err
	}
	s := grantSpec(p, user, f.database)
	s.Schemas, s.Profile, s.Privileges = f.schemas, prof, f.privileges
	plan, err := grant.GrantPlan(s)
	if err != nil {
		return cmdline.UsageError{Err: err}
	}
	return a.runPlan(ctx, p, plan, f.apply, f.admin.adminSecret)
}

func (a *app) runRevoke(ctx context.Context, name, user string, f planFlags) error {
	p, err := a.openPath(ctx, name, f.admin.route)
	if err != nil {
		return err
	}
	s := grantSpec(p, user, f.database)
	s.Schemas = f.schemas
	plan, err := grant.RevokePlan(s)
	if err != nil {
		return cmdline.UsageError{Err: err}
	}
	return a.runPlan(ctx, p, plan, f.apply, f.admin.adminSecret)
}

func (a *app) runPlan(ctx context.Context, p *dbpath.Path, plan *grant.Plan, apply bool, secret string) error {
	what := plan.Summary(p.Target.Identifier, p.Target.Engine)
	if !apply {
		_, err := fmt.Fprint(a.stdout, plan.DryRun(what).Render(flags))
		return err
	}
	db, admin, err := a.adminDB(ctx, p, plan.Spec.Database, secret)
	if err != nil {
		return err
	}
	defer db.Close()
	t0 := time.Now()
	res, err := plan.Apply(ctx, db)
	grant.WriteResult(a.stdout, res, what)
	if err != nil {
		return fmt.Errorf("%s as %s: %w", plan.Action, admin, err)
	}
	a.progress().Since(plan.Action, t0, "%s, as %s", what, admin)
	if next := plan.Next(p.Spec.Name, res); !next.IsZero() {
		fmt.Fprintln(a.stderr, next.Render(flags))
	}
	return nil
}

func (a *app) runUsers(ctx context.Context, name, database string, f adminFlags) error {
	p, err := a.openPath(ctx, name, f.route)
	if err != nil {
		return err
	}
	db0 := grantSpec(p, "", database).Database
	db, _, err := a.adminDB(ctx, p, db0, f.adminSecret)
	if err != nil {
		return err
	}
	defer db.Close()
	us, err := grant.ListUsers(ctx, db, p.Target.Family(), p.Target.MasterUser)
	if err != nil {
		return err
	}
	return a.show(us, func(w io.Writer) error { return grant.WriteUsers(w, us, db0) })
}

// resolveTarget finds a target and the caller's identity without a route.
// Quiet: no progress lines (the policy is the whole output).
func (a *app) resolveTarget(ctx context.Context, name string, quiet bool) (*dbpath.Path, error) {
	spec, err := a.pathSpec(name, routeFlags{})
	if err != nil {
		return nil, err
	}
	opts := a.pathOptions()
	if quiet {
		opts.Observer = nil
	}
	return a.resolve(ctx, spec, opts)
}

func (a *app) runPolicy(ctx context.Context, args []string, f policyFlags) error {
	req := f.req
	req.Targets = args
	if (f.apply || f.detach) && f.attachTo == "" {
		return cmdline.Usagef("--apply and --detach change a principal: name it with --attach-to role/NAME, user/NAME or group/NAME")
	}
	if f.bastionAdmin {
		if req.DBUser != "" || req.DenyDelete || len(args) != 1 {
			return cmdline.Usagef("--bastion-admin takes one TARGET, whose VPC's bastion it is for, and no --user or --deny-delete")
		}
		p, err := a.resolveTarget(ctx, args[0], true)
		if err != nil {
			return err
		}
		return a.printPolicy(ctx, p, bastion.AdminPolicy(bastion.ScopeOf(p.Target, cmp.Or(f.account, p.Identity.Account))), f)
	}
	if err := req.Expire(f.until, f.forDur, time.Now()); err != nil {
		return err
	}
	if err := req.Check(); err != nil {
		return cmdline.UsageError{Err: err}
	}
	var dbs []grant.Guarded
	var p *dbpath.Path
	for _, n := range args {
		var err error
		if p, err = a.resolveTarget(ctx, n, true); err != nil {
			return err
		}
		dbs = append(dbs, grant.Guarded{Target: p.Target, Account: cmp.Or(f.account, p.Identity.Account)})
		if req.Via == "" && !req.DenyDelete && p.Spec.Route.Via != "ssh" {
			req.Via = p.Spec.Route.Via // the route the config gives the people
		}
		if req.Via == "ssm" && req.Bastion == "" { // the config's bastion, its tag's, or the VPC's rdsgate bastion
			if req.Bastion, err = p.BastionID(ctx); err != nil {
				return err
			}
		}
	}
	named, err := req.Build(dbs)
	if err != nil {
		return err
	}
	return a.printPolicy(ctx, p, named, f)
}

// printPolicy prints a policy in the format asked for, or the command
// that attaches it.
func (a *app) printPolicy(ctx context.Context, p *dbpath.Path, named grant.Named, f policyFlags) error {
	if at := (grant.Attachment{Principal: f.attachTo, Policy: named, Remove: f.detach}); f.apply {
		if err := at.Apply(ctx, p.AWS); err != nil {
			return err
		}
		_, err := fmt.Fprintln(a.stderr, at)
		return err
	} else if f.detach {
		out, err := at.Command()
		if err == nil {
			_, err = fmt.Fprint(a.stdout, out)
		}
		return err
	}
	out, err := named.Output(f.format, f.attachTo)
	if err != nil {
		return cmdline.UsageError{Err: err}
	}
	_, err = fmt.Fprint(a.stdout, out)
	return err
}

// adminDB logs in as the administrative user over p's route.
func (a *app) adminDB(ctx context.Context, p *dbpath.Path, database, secret string) (*sql.DB, string, error) {
	t0 := time.Now()
	db, login, err := p.Admin(ctx, database, secret, func(_ context.Context, user string) (string, error) {
		return cmdline.ReadPassword(a.stdin, a.stderr, fmt.Sprintf("Password for the administrative user %s of %s: ", user, p.Target.Identifier), "--admin-secret ARN")
	})
	if err != nil {
		return nil, "", err
	}
	a.progress().Since("admin", t0, "logged in as %s (password from %s) over TLS verified for %s, via %s", login.User, login.From, p.Target.Host, p.Route.Via)
	return db, login.User, nil
}
