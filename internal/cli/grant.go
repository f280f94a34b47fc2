package cli

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/grant"
	"github.com/rdsgate/rdsgate/internal/tty"
	"github.com/rdsgate/rdsgate/target"
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
	cmd := &cobra.Command{
		Use:   "grant TARGET DBUSER",
		Short: "Create an IAM-authenticated database user with least privilege",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runGrant(cmd.Context(), args[0], args[1], f)
		},
	}
	fl := cmd.Flags()
	f.planFlags.register(fl)
	fl.BoolVar(&f.readOnly, "read-only", false, "SELECT only (the default)")
	fl.BoolVar(&f.readWrite, "read-write", false, "SELECT, INSERT, UPDATE, DELETE")
	fl.BoolVar(&f.own, "owner", false, "everything on the schema/database, including CREATE")
	fl.StringSliceVar(&f.privileges, "privileges", nil, "explicit table privileges, comma-separated (e.g. SELECT,INSERT)")
	return cmd
}

func (f grantFlags) profile() (grant.Profile, error) {
	n := 0
	p := grant.ReadOnly
	for _, c := range []struct {
		on bool
		p  grant.Profile
	}{{f.readOnly, grant.ReadOnly}, {f.readWrite, grant.ReadWrite}, {f.own, grant.Owner}, {len(f.privileges) > 0, grant.Custom}} {
		if c.on {
			n++
			p = c.p
		}
	}
	if n > 1 {
		return "", usagef("choose one of --read-only, --read-write, --owner and --privileges")
	}
	return p, nil
}

func (a *app) newRevoke() *cobra.Command {
	var f planFlags
	cmd := &cobra.Command{
		Use:   "revoke TARGET DBUSER",
		Short: "Undo rdsgate grant: revoke the user's privileges and drop it",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRevoke(cmd.Context(), args[0], args[1], f)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

type policyFlags struct {
	user       string
	via        string
	bastion    string
	format     string
	attachTo   string
	denyDelete bool
	breakGlass []string
	account    string
	until      string
	forDur     time.Duration
}

func (a *app) newPolicy() *cobra.Command {
	var f policyFlags
	cmd := &cobra.Command{
		Use:   "policy TARGET --user DBUSER | policy --deny-delete TARGET...",
		Short: "Print the least-privilege IAM policy to sign in as a database user",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("output") && a.g.output != "text" {
				f.format = a.g.output // -o, as everywhere; -f stays for scripts that use it
			}
			return a.runPolicy(cmd.Context(), args, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.user, "user", "u", "", "database user the policy lets sign in")
	fl.StringVar(&f.via, "via", "", "route the people will use: direct or ssm (ssm adds the Session Manager statements)")
	fl.StringVar(&f.bastion, "bastion", "", "ssm route: bastion instance id")
	fl.StringVarP(&f.format, "format", "f", "json", "json, terraform, cloudformation or cloudformation-json (the same as -o)")
	fl.StringVar(&f.attachTo, "attach-to", "", "print the aws iam command that attaches the policy to role/NAME (or user/NAME, group/NAME)")
	fl.BoolVar(&f.denyDelete, "deny-delete", false, "print the deletion guard for the TARGETs instead")
	fl.StringSliceVar(&f.breakGlass, "break-glass", nil, "--deny-delete: principal ARN (patterns allowed) still allowed to modify the databases")
	fl.StringVar(&f.account, "account", "", "account id of the databases (default: the caller's)")
	fl.StringVar(&f.until, "until", "", "the access ends at this time (2026-12-31T18:00:00Z, or a date): IAM stops allowing it, no one has to revoke it")
	fl.DurationVar(&f.forDur, "for", 0, "the access ends after this long from now (8h, 72h)")
	return cmd
}

func (a *app) newUsers() *cobra.Command {
	var f adminFlags
	var database string
	cmd := &cobra.Command{
		Use:   "users TARGET",
		Short: "List a database's users: IAM or password, TLS, privileges",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runUsers(cmd.Context(), args[0], database, f)
		},
	}
	f.register(cmd.Flags())
	dbFlag(cmd.Flags(), &database, "database to look at privileges in (default: the config file's, PostgreSQL: postgres)")
	return cmd
}

// grantSpec builds the spec for a resolved path.
func grantSpec(p *dbpath.Path, user, database string, schemas []string, prof grant.Profile, privs []string) grant.Spec {
	db := cmp.Or(database, p.Spec.Database)
	if db == "" && p.Target.Family() == target.FamilyPostgres {
		db = "postgres"
	}
	return grant.Spec{Family: p.Target.Family(), User: user, Database: db, Schemas: schemas, Profile: prof,
		Privileges: privs, MasterUser: p.Target.MasterUser, Engine: p.Target.Engine, EngineVersion: p.Target.EngineVersion}
}

func (a *app) runGrant(ctx context.Context, name, user string, f grantFlags) error {
	prof, err := f.profile()
	if err != nil {
		return err
	}
	p, err := a.openPath(ctx, name, f.admin.route)
	if err != nil {
		return err
	}
	plan, err := grant.GrantPlan(grantSpec(p, user, f.database, f.schemas, prof, f.privileges))
	if err != nil {
		return usageError{err}
	}
	return a.runPlan(ctx, p, plan, f.apply, f.admin.adminSecret)
}

func (a *app) runRevoke(ctx context.Context, name, user string, f planFlags) error {
	p, err := a.openPath(ctx, name, f.admin.route)
	if err != nil {
		return err
	}
	plan, err := grant.RevokePlan(grantSpec(p, user, f.database, f.schemas, "", nil))
	if err != nil {
		return usageError{err}
	}
	return a.runPlan(ctx, p, plan, f.apply, f.admin.adminSecret)
}

func (a *app) runPlan(ctx context.Context, p *dbpath.Path, plan *grant.Plan, apply bool, secret string) error {
	s := plan.Spec
	what := plan.Summary(p.Target.Identifier, p.Target.Engine)
	if !apply {
		fmt.Fprintf(a.stdout, "-- rdsgate %s\n-- Nothing was changed: run again with --apply to execute this as the administrative user.\n%s", what, plan.SQL())
		return nil
	}
	db, admin, err := a.adminDB(ctx, p, s.Database, secret)
	if err != nil {
		return err
	}
	defer db.Close()
	t0 := time.Now()
	res, err := plan.Apply(ctx, db)
	for _, q := range res.Executed {
		fmt.Fprintf(a.stdout, "%s;\n", q)
	}
	if err != nil {
		return fmt.Errorf("%s as %s: %w", plan.Action, admin, err)
	}
	switch {
	case !res.Changed():
		fmt.Fprintf(a.stdout, "-- nothing to change: %s is already in place (%d statements checked)\n", what, len(res.Skipped))
	case len(res.Skipped) > 0:
		fmt.Fprintf(a.stdout, "-- applied %d statements; %d were already in place\n", len(res.Executed), len(res.Skipped))
	}
	a.stage(plan.Action, t0, "%s, as %s", what, admin)
	if plan.Action == "grant" && res.Changed() {
		fmt.Fprintf(a.stderr, "Next: give the people or programs the IAM policy: rdsgate policy %s --user %s\n", p.Spec.Name, s.User)
	}
	if plan.Action == "revoke" && res.Changed() {
		fmt.Fprintf(a.stderr, "Sessions already open as %s stay open until they end; remove %s from IAM policies too.\n", s.User, s.User)
	}
	return nil
}

func (a *app) runUsers(ctx context.Context, name, database string, f adminFlags) error {
	p, err := a.openPath(ctx, name, f.route)
	if err != nil {
		return err
	}
	db0 := grantSpec(p, "x", database, nil, grant.ReadOnly, nil).Database
	db, _, err := a.adminDB(ctx, p, db0, f.adminSecret)
	if err != nil {
		return err
	}
	defer db.Close()
	us, err := grant.ListUsers(ctx, db, p.Target.Family(), p.Target.MasterUser)
	if err != nil {
		return err
	}
	if a.g.output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(us)
	}
	return grant.WriteUsers(a.stdout, us, db0)
}

// parseUntil reads an end of access: RFC 3339, or a date (its start, UTC).
func parseUntil(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("use 2026-12-31T18:00:00Z or 2026-12-31")
}

// resolveTarget finds a target and the caller's identity without a route.
func (a *app) resolveTarget(ctx context.Context, name string) (*dbpath.Path, error) {
	spec, err := a.pathSpec(name, routeFlags{})
	if err != nil {
		return nil, err
	}
	opts := a.pathOptions()
	opts.Observer = nil // the policy is the whole output
	return a.resolve(ctx, spec, opts)
}

func (a *app) runPolicy(ctx context.Context, args []string, f policyFlags) error {
	req := grant.PolicyRequest{Targets: args, DBUser: f.user, Via: f.via, Bastion: f.bastion, DenyDelete: f.denyDelete, BreakGlass: f.breakGlass}
	switch {
	case f.until != "" && f.forDur != 0:
		return usagef("--until and --for: give one")
	case f.forDur < 0:
		return usagef("--for %s: give a duration from now", f.forDur)
	case f.forDur > 0:
		req.Until = time.Now().Add(f.forDur).Truncate(time.Second)
	case f.until != "":
		var err error
		if req.Until, err = parseUntil(f.until); err != nil {
			return usagef("--until %q: %v", f.until, err)
		}
	}
	if err := req.Check(); err != nil {
		return usageError{err}
	}
	var dbs []grant.Guarded
	for _, n := range args {
		p, err := a.resolveTarget(ctx, n)
		if err != nil {
			return err
		}
		dbs = append(dbs, grant.Guarded{Target: p.Target, Account: cmp.Or(f.account, p.Identity.Account)})
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
	if f.attachTo != "" {
		if f.format != "json" {
			return usagef("--attach-to prints an aws iam command with the JSON document: drop --format")
		}
		cmd, err := grant.AttachCommand(f.attachTo, named.Name, named.Doc)
		if err != nil {
			return usageError{err}
		}
		_, err = fmt.Fprint(a.stdout, cmd)
		return err
	}
	out, err := named.Render(f.format)
	if err != nil {
		return usageError{err}
	}
	_, err = fmt.Fprint(a.stdout, out)
	return err
}

// adminDB opens a database/sql handle as the administrative user over p's
// route with verify-full TLS (grant.OpenAdmin), and adds the flags that
// help to its errors.
func (a *app) adminDB(ctx context.Context, p *dbpath.Path, database, secretID string) (*sql.DB, string, error) {
	t0 := time.Now()
	db, login, err := grant.OpenAdmin(ctx, grant.AdminConfig{
		Target: p.Target, Database: database,
		Dial: p.Dialer.DialContext, TLS: p.Bundle.TLSConfig(p.Target.Host),
		AWS: p.AWS, Profile: p.Spec.Profile, Secret: secretID,
		Prompt: func(_ context.Context, user string) (string, error) {
			return a.promptPassword(fmt.Sprintf("Password for the administrative user %s of %s: ", user, p.Target.Identifier))
		},
	})
	var le *grant.LoginError
	switch {
	case errors.As(err, &le):
		return nil, "", fmt.Errorf("%w; check the secret (--admin-secret) and the route (rdsgate doctor %s)", err, p.Spec.Name)
	case errors.Is(err, grant.ErrNoMasterSecret):
		return nil, "", fmt.Errorf("%w: pass --admin-secret ARN of a secret with username and password", err)
	case err != nil:
		return nil, "", err
	}
	a.stage("admin", t0, "logged in as %s (password from %s) over TLS verified for %s, via %s", login.User, login.From, p.Target.Host, p.Route.Via)
	return db, login.User, nil
}

// promptPassword reads a password from the terminal with echo off.
func (a *app) promptPassword(prompt string) (string, error) {
	pw, err := tty.ReadPassword(a.stdin, a.stderr, prompt)
	if errors.Is(err, tty.ErrNotTerminal) {
		return "", errors.New("no password source and stdin is not a terminal: pass --admin-secret ARN")
	}
	return pw, err
}
