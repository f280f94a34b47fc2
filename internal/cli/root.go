// Package cli builds rdsgate's command tree: flags, help, configuration
// precedence, output formatting and exit codes. It holds no logic that a
// library would need; commands call the feature packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/docs"
	"github.com/rdsgate/rdsgate/internal/cmdline"
	"github.com/rdsgate/rdsgate/internal/sigwatch"
	"github.com/rdsgate/rdsgate/internal/tty"
	"github.com/rdsgate/rdsgate/target"
)

// Exit codes. They follow the shell's conventions so scripts can tell a
// usage mistake from a failure.
const (
	ExitOK         = 0
	ExitFailure    = 1
	ExitUsage      = 2
	ExitIncomplete = 3 // audit: could not vouch (inventory unread, no target matched, all unknown)
	ExitSIGINT     = 130
	ExitSIGTERM    = 143
)

// envPrefix is the prefix of the environment variable for every flag:
// --ca-bundle is RDSGATE_CA_BUNDLE.
const envPrefix = "RDSGATE_"

// globals are the flags every command has.
type globals struct {
	profile string
	region  string
	output  string
	// outputAsked: -o was given (RDSGATE_OUTPUT is a default for all).
	outputAsked bool
	logFormat   string
	verbose     bool
	quiet       bool
	config      string
}

// app is one invocation: its streams, global flags and logger.
type app struct {
	g      globals
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
	// getenv reads the environment; tests replace it.
	getenv func(string) string
	// open opens a path (dbpath.Open); tests replace it to see the Spec a
	// command line means without a network.
	open func(context.Context, dbpath.Spec, dbpath.Options) (*dbpath.Path, error)
	// resolve runs a path's first stages (dbpath.Resolve), token signs
	// (dbpath.Token); tests replace them.
	resolve func(context.Context, dbpath.Spec, dbpath.Options) (*dbpath.Path, error)
	token   func(context.Context, dbpath.Spec, string, int, dbpath.Options) (string, target.Target, error)
	// getwd finds the project config; tests replace it.
	getwd func() (string, error)
	// sig watches SIGINT/SIGTERM (nil in some tests).
	sig *sigwatch.Watcher
	// conf is the config loadConfig read, for the user file confPath.
	conf     *config.Config
	confPath string
	// scr is stderr shared by the spinner and the log lines.
	scr *tty.Screen
	// exit ends the process at once on a second interrupt (os.Exit; nil:
	// a second interrupt is like the first).
	exit func(int)
	// awsConfigFiles and awsCredentialsFiles replace the shared AWS files
	// (demo points them at its sandbox's).
	awsConfigFiles, awsCredentialsFiles []string
}

// exitError carries a process exit code that is not a failure to report,
// e.g. the database client's own exit code after connect.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs rdsgate with args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, getwd: os.Getwd, exit: os.Exit}
	return a.main(ctx, args)
}

func (a *app) main(ctx context.Context, args []string) int {
	if a.open == nil {
		a.open = dbpath.Open
	}
	if a.resolve == nil {
		a.resolve = dbpath.Resolve
	}
	if a.token == nil {
		a.token = dbpath.Token
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.sig = sigwatch.Watch(cancel)
	defer a.sig.Stop()
	if a.exit != nil {
		a.sig.Again(func(os.Signal) {
			fmt.Fprintln(a.stderr, "rdsgate: stopped at once (a second interrupt); open sessions were cut")
			a.exit(a.sig.ExitCode())
		})
	}
	root := a.newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ee exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case a.sig.ExitCode() != 0 && (err == nil || errors.Is(err, context.Canceled)):
		return a.sig.ExitCode()
	case err == nil:
		return ExitOK
	}
	return a.report(err)
}

// report prints err for a person, once and on one line, with the stage
// that failed and where to look next; -v adds the internals (SDK errors,
// request ids) that the line leaves out. It returns the exit code.
func (a *app) report(err error) int {
	if cmdline.Report(a.stderr, "rdsgate", withHint(err), a.g.verbose) {
		return ExitUsage
	}
	return ExitFailure
}

// flags spells the settings libraries name as rdsgate's flags; a test
// checks that each such flag exists.
var flags = cmdline.Flags()

// withHint spells the settings a library's error names as flags:
// libraries say what is wrong and which setting changes it, the command
// line says which flag that is.
func withHint(err error) error { return cmdline.Spell(err, flags) }

func (a *app) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "rdsgate",
		Short:         "Secure, keyless, audited access to databases in private AWS networks",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.g.outputAsked = cmd.Flags().Changed("output") // not RDSGATE_OUTPUT, a default for every command
			if err := cmdline.ApplyEnv(cmd.Flags(), envPrefix, a.getenv); err != nil {
				return err
			}
			if err := a.setup(); err != nil {
				return err
			}
			if a.g.outputAsked {
				return cmdline.CheckOutput(cmd, a.g.output, outputs)
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.g.profile, "profile", "", "AWS profile (default: AWS_PROFILE, then the target's profile, then \"default\")")
	pf.StringVar(&a.g.region, "region", "", "AWS region (default: the target's region, then AWS_REGION or the profile's)")
	pf.StringVarP(&a.g.output, "output", "o", "text", "output format: text or json (connect --exec: csv; audit: sarif, markdown)")
	pf.StringVar(&a.g.logFormat, "log-format", "text", "log format on stderr: text (short lines for people) or json")
	pf.BoolVarP(&a.g.verbose, "verbose", "v", false, "show debug logs and the causes of errors")
	pf.BoolVarP(&a.g.quiet, "quiet", "q", false, "show errors only")
	pf.StringVar(&a.g.config, "config", "", "user config file (default ~/.config/rdsgate/config.yaml)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cmdline.UsageError{Err: err} })

	root.AddCommand(a.newVersion(), a.newToken(), a.newLs(), a.newSandbox(), a.newDemo(), a.newProxy(), a.newConnect(), a.newDoctor(), a.newAudit(), a.newTunnel(),
		a.newGrant(), a.newRevoke(), a.newPolicy(), a.newUsers(), a.newConfig(), a.newBastion(), a.newSessions(), a.newOffboard())
	// The completion command captures its output writer when created.
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.InitDefaultCompletionCmd()
	cmdline.AddHelp(root, func(path string) (string, string) {
		page, _ := docs.Command(path)
		return page.Long, page.Example
	})
	a.addCompletions(root)
	return root
}

// outputs are the formats each command can print besides text; a command
// not listed prints text only.
var outputs = map[string][]string{
	"rdsgate version": {"json"}, "rdsgate ls": {"json"}, "rdsgate connect": {"json", "csv"}, "rdsgate doctor": {"json"},
	"rdsgate users": {"json"}, "rdsgate audit": {"json", "sarif", "markdown"}, "rdsgate config trust": {"json"},
	"rdsgate bastion status": {"json"}, "rdsgate sessions": {"json"}, "rdsgate policy": {"json", "terraform", "cloudformation", "cloudformation-json"},
}

// setup validates global flags and builds the logger.
func (a *app) setup() error {
	if a.g.output != "text" && !slices.Contains(slices.Concat(slices.Collect(maps.Values(outputs))...), a.g.output) {
		return cmdline.Usagef("--output %q: use text or json (csv for connect --exec; sarif and markdown for audit)", a.g.output)
	}
	var err error // human lines go through the screen: a warning clears a spinner first
	if a.log, err = cmdline.Logger(a.g.logFormat, a.g.verbose, a.g.quiet, a.screen(), a.stderr); err != nil {
		return cmdline.UsageError{Err: err}
	}
	return nil
}
