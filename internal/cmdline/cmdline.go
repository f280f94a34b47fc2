// Package cmdline holds the conventions every rdsgate command follows,
// whatever it does: a cobra command run with its context, a flag's value
// from its environment variable, an --output the command can print, help
// pages from the command reference, completion of fixed values, and which
// errors are the caller's usage mistakes (exit 2).
package cmdline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rdsgate/rdsgate/internal/humanlog"
	"github.com/rdsgate/rdsgate/internal/tty"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/stage"
)

// Command is a cobra command that runs run with its context and arguments.
func Command(use, short string, args cobra.PositionalArgs, run func(ctx context.Context, args []string) error) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: args, RunE: func(cmd *cobra.Command, args []string) error {
		return run(cmd.Context(), args)
	}}
}

// UsageError is a mistake in how the command was called.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef is a UsageError with a formatted message (%w wraps).
func Usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// IsUsage reports whether err is the caller's mistake: a UsageError, a
// library's setting.ErrInvalid, or one of cobra's own argument and flag
// errors.
func IsUsage(err error) bool {
	var ue UsageError
	if errors.As(err, &ue) || errors.Is(err, setting.ErrInvalid) {
		return true
	}
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "requires at most", "required flag"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// ApplyEnv sets every flag of fs not given on the command line from the
// environment variable prefix+NAME (--ca-bundle: RDSGATE_CA_BUNDLE).
func ApplyEnv(fs *pflag.FlagSet, prefix string, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		name := prefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v := getenv(name)
		if v == "" {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = Usagef("%s=%q: %v", name, v, e)
		}
	})
	return err
}

// CheckOutput refuses an output format cmd cannot print (outputs lists
// each command's formats besides text, by command path), rather than
// printing text where a program expects JSON.
func CheckOutput(cmd *cobra.Command, output string, outputs map[string][]string) error {
	if output == "text" || slices.Contains(outputs[cmd.CommandPath()], output) || strings.HasPrefix(cmd.Name(), cobra.ShellCompRequestCmd) {
		return nil
	}
	return Usagef("--output %s: %s prints %s", output, cmd.CommandPath(), strings.Join(append([]string{"text"}, outputs[cmd.CommandPath()]...), " or "))
}

// AddHelp gives c and its subcommands the description and examples page
// returns for their command path, where it has them.
func AddHelp(c *cobra.Command, page func(path string) (long, example string)) {
	long, example := page(c.CommandPath())
	if long != "" {
		c.Long = long
	}
	if example != "" {
		c.Example = example
	}
	for _, sub := range c.Commands() {
		AddHelp(sub, page)
	}
}

// CompleteValues completes each flag named in values, on c and its
// subcommands, with its fixed values.
func CompleteValues(c *cobra.Command, values map[string][]string) {
	for name, vals := range values {
		if c.Flag(name) != nil { // a persistent one too; registered again, it is refused
			_ = c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(vals, cobra.ShellCompDirectiveNoFileComp))
		}
	}
	for _, sub := range c.Commands() {
		CompleteValues(sub, values)
	}
}

// Flags spells the settings libraries name in their messages as the flags
// that set them: "pass --ca-bundle FILE" where a library says "pass
// ca_bundle=FILE". Each flag is the setting's name without "route.", with
// dashes (route.ssh_identity is --ssh-identity), and the database is --db.
func Flags() setting.Style {
	names := map[setting.Name]string{}
	for _, n := range setting.All() {
		names[n] = "--" + strings.ReplaceAll(strings.TrimPrefix(string(n), "route."), "_", "-")
	}
	names[setting.Database] = "--db" // every command's name for it
	return setting.Style{Assign: " ", Names: names}
}

// Spell is err with the settings its message names spelled in s; it
// unwraps to err, so errors.Is and errors.As see what they saw before.
func Spell(err error, s setting.Style) error {
	if err == nil {
		return nil
	}
	return spelled{msg: setting.Render(err, s), err: err}
}

type spelled struct {
	msg string
	err error
}

func (e spelled) Error() string { return e.msg }
func (e spelled) Unwrap() error { return e.err }

// Report prints err for a person on w, once and on one line: "prog:
// message" with the stage that failed and where to look next (a cobra
// "did you mean" folded in); verbose adds the causes the line leaves out
// (stage.Details). A usage mistake adds where the help is. It returns
// whether err was one.
func Report(w io.Writer, prog string, err error, verbose bool) (usage bool) {
	msg := stage.Line(err)
	if first, sugg, ok := strings.Cut(msg, "; ; Did you mean this?; "); ok { // cobra's unknown command
		msg = first + ": did you mean " + strings.Join(strings.Fields(strings.ReplaceAll(sugg, ";", " ")), " or ") + "?"
	}
	fmt.Fprintf(w, "%s: %s\n", prog, msg)
	if verbose {
		for _, d := range stage.Details(err) {
			fmt.Fprintf(w, "  cause: %s\n", d)
		}
	}
	if usage = IsUsage(err); usage {
		fmt.Fprintf(w, "Run '%s --help' (or COMMAND --help) for usage.\n", prog)
	}
	return usage
}

// Confirm lets a change go ahead: with yes at once; on a terminal when the
// person answers yes; elsewhere never, saying which flag applies it.
// what names the change in the refusal ("bastion create").
func Confirm(yes bool, in io.Reader, out io.Writer, what string) error {
	if yes {
		return nil
	}
	ok, err := tty.Confirm(in, out, "apply? [y/N] ")
	switch {
	case errors.Is(err, tty.ErrNotTerminal):
		return fmt.Errorf("%s: changed nothing: pass --yes to apply the plan above", what)
	case !ok:
		return fmt.Errorf("%s: changed nothing", what)
	}
	return nil
}

// Ask is the question for a missing argument, and where to find one.
type Ask struct{ Question, Hint string }

// AskForArgs makes c's argument errors say what is missing rather than
// cobra's "accepts 2 arg(s), received 1": "CMD: QUESTION USE (HINT)" for
// the first argument missing; other mistakes keep cobra's words with the
// usage line. All are usage errors.
func AskForArgs(c *cobra.Command, ask ...Ask) {
	check := c.Args
	if check == nil {
		return
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		err := check(cmd, args)
		switch {
		case err == nil:
			return nil
		case len(args) < len(ask) && ask[len(args)].Hint != "":
			return Usagef("%s: %s %s (%s)", cmd.CommandPath(), ask[len(args)].Question, cmd.UseLine(), ask[len(args)].Hint)
		case len(args) < len(ask):
			return Usagef("%s: %s %s", cmd.CommandPath(), ask[len(args)].Question, cmd.UseLine())
		}
		return Usagef("%s: %v; %s", cmd.CommandPath(), err, cmd.UseLine())
	}
}

// Logger is the logger for a command line's --log-format (text: short
// lines for people on w; json: slog's JSON on jsonW) at the level that
// --verbose (debug) or --quiet (errors only) ask for.
func Logger(format string, verbose, quiet bool, w, jsonW io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	switch {
	case verbose && quiet:
		return nil, errors.New("--verbose and --quiet contradict each other")
	case verbose:
		level = slog.LevelDebug
	case quiet:
		level = slog.LevelError
	}
	switch format {
	case "text":
		return slog.New(humanlog.New(w, level)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(jsonW, &slog.HandlerOptions{Level: level})), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// ReadPassword reads a password from the terminal with echo off; where
// nobody can type one, it says which flag gives it instead (flag).
func ReadPassword(in io.Reader, out io.Writer, prompt, flag string) (string, error) {
	pw, err := tty.ReadPassword(in, out, prompt)
	if errors.Is(err, tty.ErrNotTerminal) {
		return "", fmt.Errorf("no password source and stdin is not a terminal: pass %s", flag)
	}
	return pw, err
}
