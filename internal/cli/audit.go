package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/internal/buildinfo"
	"github.com/rdsgate/rdsgate/internal/cmdline"
	"github.com/rdsgate/rdsgate/posture"
	"github.com/rdsgate/rdsgate/posture/collect"
	"github.com/rdsgate/rdsgate/posture/report"
	"github.com/rdsgate/rdsgate/stage"
)

type auditFlags struct {
	allRegions   bool
	targets      []string
	checks       []string
	failOn       string
	input        string
	save         string
	all          bool
	emitAlarms   bool
	alarmFormat  string
	alarmActions []string
	concurrency  int
	failUnknown  bool
}

func (a *app) newAudit() *cobra.Command {
	var f auditFlags
	cmd := cmdline.Command("audit", "Check every database and the network around it against the hardening guidance", cobra.NoArgs, func(ctx context.Context, _ []string) error {
		return a.runAudit(ctx, f)
	})
	fl := cmd.Flags()
	fl.BoolVar(&f.allRegions, "all-regions", false, "audit every region enabled in the account")
	fl.StringSliceVar(&f.targets, "target", nil, "audit only these databases: config-file names, instance or cluster identifiers (repeatable)")
	fl.StringSliceVar(&f.checks, "check", nil, "run only these check ids (repeatable; see the checks in docs/audit-json.md)")
	fl.StringVar(&f.failOn, "fail-on", "", "exit 1 when a check of this severity or worse fails: critical, high, medium or low")
	fl.StringVar(&f.input, "input", "", "audit a snapshot saved with --save instead of reading the account")
	fl.StringVar(&f.save, "save", "", "also save the collected snapshot to this file (JSON), to share or re-audit")
	fl.BoolVar(&f.all, "all", false, "list passing and skipped checks too")
	fl.BoolVar(&f.emitAlarms, "emit-alarms", false, "print (not apply) the metric filters and alarms that close no-outside-vpc-connection-alarm")
	fl.StringVar(&f.alarmFormat, "alarm-format", "cli", "format of --emit-alarms: cli (AWS CLI commands) or terraform")
	fl.StringSliceVar(&f.alarmActions, "alarm-action", nil, "SNS topic ARN the emitted alarms notify (repeatable)")
	fl.IntVar(&f.concurrency, "concurrency", 8, "AWS API calls in flight")
	fl.BoolVar(&f.failUnknown, "fail-on-unknown", false, "exit 3 when any check is unknown (for CI)")
	return cmd
}

func (a *app) runAudit(ctx context.Context, f auditFlags) error {
	format := report.Format(a.g.output)
	switch a.g.output {
	case "text", "json", "sarif", "markdown":
	default:
		return cmdline.Usagef("--output %s: audit prints text, json, sarif or markdown", a.g.output)
	}
	var failOn posture.Severity
	if f.failOn != "" {
		sev, err := posture.ParseSeverity(f.failOn)
		if err != nil {
			return cmdline.Usagef("--fail-on: %v", err)
		}
		failOn = sev
	}
	for _, id := range f.checks {
		if posture.CheckByID(id) == nil {
			return cmdline.Usagef("--check %q: no such check", id)
		}
	}
	if f.emitAlarms && !slices.Contains(posture.AlarmFormats, f.alarmFormat) {
		return cmdline.Usagef("--alarm-format %q: use cli or terraform", f.alarmFormat)
	}
	f.targets = a.auditTargets(f.targets)
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
		defs := posture.AlarmKit(snap, posture.AlarmOptions{Actions: f.alarmActions, Targets: f.targets})
		return posture.WriteAlarms(a.stdout, defs, f.alarmFormat)
	}
	rep := posture.Audit(snap, posture.AuditOptions{Checks: f.checks, Targets: f.targets})
	if err := report.Render(a.stdout, rep, format, report.Options{Color: a.color(), All: f.all, ToolVersion: buildinfo.Current().Version}); err != nil {
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
	if len(targets) == 0 {
		return targets
	}
	c, err := a.loadConfig()
	if err != nil {
		return targets
	}
	out := make([]string, 0, len(targets))
	for _, t := range targets {
		if e, ok := c.Target(t); ok && e.Identifier != "" {
			t = e.Identifier
		}
		out = append(out, t)
	}
	return out
}

// auditSnapshot reads the saved snapshot or collects one.
func (a *app) auditSnapshot(ctx context.Context, f auditFlags) (*posture.Snapshot, error) {
	if f.input != "" {
		return posture.LoadSnapshot(f.input)
	}
	cfg, profile, err := a.loadAWS(ctx)
	if err != nil {
		return nil, err
	}
	regions := []string{cfg.Region}
	if f.allRegions {
		if regions, err = collect.AllRegions(ctx, cfg); err != nil {
			return nil, fmt.Errorf("list regions: %w", awsconf.Explain(err, profile))
		}
	}
	a.log.Info("collecting", "regions", strings.Join(regions, ","))
	snap, err := collect.Collect(ctx, cfg, collect.Options{Regions: regions, Targets: f.targets, Concurrency: f.concurrency})
	if err != nil {
		if snap == nil {
			return nil, awsconf.Explain(err, profile)
		}
		a.log.Warn("some data could not be collected; affected checks are unknown", "err", err)
		if a.g.verbose {
			for _, d := range stage.Details(err) {
				a.log.Debug("collect", "cause", d)
			}
		}
	}
	return snap, nil
}
