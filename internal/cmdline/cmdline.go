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
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rdsgate/rdsgate/setting"
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
