package cli

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/internal/buildinfo"
	"github.com/rdsgate/rdsgate/internal/cmdline"
	"github.com/rdsgate/rdsgate/posture"
	"github.com/rdsgate/rdsgate/posture/collect"
	"github.com/rdsgate/rdsgate/posture/report"
	"github.com/rdsgate/rdsgate/posture/tfplan"
	"github.com/rdsgate/rdsgate/stage"
)

// auditFlags are posture.AuditOptions and collect.OrgOptions (bound to
// them directly), where the snapshot comes from and how it is reported.
type auditFlags struct {
	opts                     posture.AuditOptions
	org                      collect.OrgOptions
	orgWide, allRegions      bool
	failOn, production       string
	input, save, alarmFormat string
	plan                     string
	all, emitAlarms          bool
	failUnknown              bool
	alarmActions             []string
}

func (a *app) newAudit() *cobra.Command {
	var f auditFlags
	cmd := cmdline.Command("audit", "Check every database and the network around it against the hardening guidance", cobra.NoArgs, func(ctx context.Context, _ []string) error {
		return a.runAudit(ctx, f)
	})
	fl := cmd.Flags()
	fl.StringSliceVar(&f.org.Regions, "regions", nil, "regions to audit: all (every region enabled in the account), or names (default: the profile's region; with --org: all)")
	fl.BoolVar(&f.allRegions, "all-regions", false, "the same as --regions all")
	fl.BoolVar(&f.orgWide, "org", false, "audit every account of the AWS organization, assuming --role-name in each (run from the management or a delegated administrator account)")
	fl.StringVar(&f.org.RoleName, "role-name", collect.DefaultRoleName, "--org: the role to assume in each account")
	fl.StringSliceVar(&f.org.Accounts, "accounts", nil, "--org: audit only these account ids")
	fl.IntVar(&f.org.Parallel, "parallel", collect.DefaultParallel, "--org: account-regions read at once")
	fl.StringSliceVar(&f.opts.Targets, "target", nil, "audit only these databases: config-file names, instance or cluster identifiers (repeatable)")
	fl.StringSliceVar(&f.opts.Checks, "check", nil, "run only these check ids (repeatable; see docs/audit-checks.md)")
	fl.StringVar(&f.production, "production-tag", "", "tags that mark a production database, KEY=VALUE[|VALUE] (default: environment, env or stage = production, prod or prd)")
	fl.StringSliceVar(&f.opts.TrustedAccounts, "trusted-account", nil, "account id snapshots may be shared with besides the audited one's (repeatable)")
	fl.StringVar(&f.failOn, "fail-on", "", "exit 1 when a check of this severity or worse fails: critical, high, medium or low")
	fl.StringVar(&f.input, "input", "", "audit a snapshot saved with --save instead of reading the account")
	fl.StringVar(&f.plan, "plan", "", "audit a Terraform plan (terraform show -json PLANFILE > FILE) before it is applied: findings name resource addresses")
	fl.StringVar(&f.save, "save", "", "also save the collected snapshot to this file (JSON), to share or re-audit")
	fl.BoolVar(&f.all, "all", false, "list passing and skipped checks too")
	fl.BoolVar(&f.emitAlarms, "emit-alarms", false, "print (not apply) the metric filters and alarms that close no-outside-vpc-connection-alarm")
	fl.StringVar(&f.alarmFormat, "alarm-format", "cli", "format of --emit-alarms: cli (AWS CLI commands) or terraform")
	fl.StringSliceVar(&f.alarmActions, "alarm-action", nil, "SNS topic ARN the emitted alarms notify (repeatable)")
	fl.IntVar(&f.org.Concurrency, "concurrency", 8, "AWS API calls in flight (per account-region with --org)")
	fl.BoolVar(&f.failUnknown, "fail-on-unknown", false, "exit 3 when any check is unknown (for CI)")
	return cmd
}

// check refuses flags that cannot go together or name nothing.
func (f *auditFlags) check() (failOn posture.Severity, err error) {
	if failOn, f.opts.Production, err = posture.ParseOptions(f.failOn, f.production, f.opts.Checks); err != nil {
		return "", err
	}
	switch {
	case f.emitAlarms && !slices.Contains(posture.AlarmFormats, f.alarmFormat):
		return "", cmdline.Usagef("--alarm-format %q: use cli or terraform", f.alarmFormat)
	case f.emitAlarms && f.orgWide:
		return "", cmdline.Usagef("--emit-alarms is for one account: leave out --org")
	case f.plan != "" && (f.input != "" || f.orgWide):
		return "", cmdline.Usagef("--plan audits a Terraform plan: leave out --input and --org")
	case !f.orgWide && (len(f.org.Accounts) > 0 || f.org.RoleName != collect.DefaultRoleName):
		return "", cmdline.Usagef("--accounts and --role-name go with --org")
	}
	if f.allRegions {
		f.org.Regions = []string{collect.EveryRegion}
	}
	return failOn, nil
}

func (a *app) runAudit(ctx context.Context, f auditFlags) error {
	failOn, err := f.check()
	if err != nil {
		return err
	}
	f.opts.Targets = a.auditTargets(f.opts.Targets)
	snap, err := a.auditSnapshot(ctx, f)
	if err != nil {
		return err
	}
	if f.save != "" {
		if err := posture.SaveSnapshot(f.save, snap); err != nil {
			return err
		}
	}
	if f.emitAlarms {
		defs := posture.AlarmKit(snap, posture.AlarmOptions{Actions: f.alarmActions, Targets: f.opts.Targets})
		return posture.WriteAlarms(a.stdout, defs, f.alarmFormat)
	}
	rep := posture.Audit(snap, f.opts)
	if err := report.Render(a.stdout, rep, report.Format(a.g.output), report.Options{Color: a.color(), All: f.all, ToolVersion: buildinfo.Current().Version}); err != nil {
		return err
	}
	code := report.ExitCode(rep, report.ExitPolicy{FailOn: failOn, FailOnUnknown: f.failUnknown})
	if code == report.ExitIncomplete {
		why := rep.Incomplete
		if len(why) == 0 {
			why = []string{fmt.Sprintf("%d checks are unknown", rep.Summary.Unknown)}
		}
		fmt.Fprintf(a.stderr, "rdsgate: audit incomplete (exit %d): %s\n", ExitIncomplete, strings.Join(why, "; "))
	}
	if code != 0 {
		return exitError{code: code}
	}
	return nil
}

// auditTargets maps the config file's names among targets to their
// instance or cluster identifiers; other values stay as given.
func (a *app) auditTargets(targets []string) []string {
	c, err := a.loadConfig()
	if err != nil {
		return targets
	}
	out := slices.Clone(targets)
	for i, t := range out {
		if e, ok := c.Target(t); ok && e.Identifier != "" {
			out[i] = e.Identifier
		}
	}
	return out
}

// auditSnapshot reads the saved snapshot, or collects one from the
// account or (--org) from every account of the organization, with a
// progress count on a terminal.
func (a *app) auditSnapshot(ctx context.Context, f auditFlags) (*posture.Snapshot, error) {
	switch {
	case f.input != "":
		return posture.LoadSnapshot(f.input)
	case f.plan != "":
		return tfplan.Load(f.plan)
	}
	cfg, profile, err := a.loadAWS(ctx)
	if err != nil {
		return nil, err
	}
	f.org.Targets = f.opts.Targets
	var snap *posture.Snapshot
	if f.orgWide {
		if a.getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(250 << 20) // 10,000 databases' report stays under 300 MB (docs/benchmarks.md)
		}
		f.org.Progress = func(p collect.OrgProgress) {
			a.screen().Status(fmt.Sprintf("accounts %d/%d  regions %d/%d", p.AccountsDone, p.Accounts, p.RegionsDone, p.Regions))
		}
		snap, err = collect.CollectOrg(ctx, cfg, f.org)
		a.screen().Status("")
	} else {
		snap, err = collect.Collect(ctx, cfg, f.org.Options)
	}
	if err != nil && snap == nil {
		return nil, awsconf.Explain(err, profile)
	} else if err != nil {
		a.log.Warn("some data could not be collected; affected checks are unknown", "err", err)
		for _, d := range stage.Details(err) {
			a.log.Debug("collect", "cause", d)
		}
	}
	return snap, nil
}
