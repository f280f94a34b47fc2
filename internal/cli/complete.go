package cli

import (
	"context"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/internal/cmdline"
	"github.com/rdsgate/rdsgate/internal/dbclient"
	"github.com/rdsgate/rdsgate/sandbox"
)

// flagValues are the values shells complete for flags that take one of a
// few, wherever a command has the flag.
var flagValues = map[string][]string{
	"via":          config.RouteKinds(),
	"client":       slices.Concat(dbclient.Names["postgres"], dbclient.Names["mysql"]),
	"fault":        sandbox.AllFaults,
	"output":       {"text", "json", "csv", "sarif", "markdown"},
	"format":       {"json", "terraform", "cloudformation", "cloudformation-json"},
	"alarm-format": {"cli", "terraform"},
	"fail-on":      {"critical", "high", "medium", "low"},
	"engine":       {"postgres", "mysql", "all"},
	"backend":      {"auto", "installed", "embedded"},
}

// addCompletions gives c (the root) and its subcommands dynamic
// completion: target names for the commands that take a TARGET (and token
// --target), fixed values for the flags above, AWS profiles for --profile.
func (a *app) addCompletions(c *cobra.Command) {
	if c.HasParent() && c.Flags().Lookup("target") != nil {
		_ = c.RegisterFlagCompletionFunc("target", a.completeTargets)
	}
	if c.HasParent() && slices.Contains([]string{"connect", "proxy", "tunnel", "doctor", "grant", "revoke", "users", "policy", "token", "sessions", "kill"}, c.Name()) {
		switch db := (cmdline.Ask{Question: "which database?", Hint: "rdsgate ls lists them"}); {
		case c.Name() == "kill":
			cmdline.AskForArgs(c, db, cmdline.Ask{Question: "which session?", Hint: "rdsgate sessions TARGET lists them"})
		case c.Name() != "tunnel": // whose TARGET is optional
			cmdline.AskForArgs(c, db, cmdline.Ask{Question: "which database user?"})
		}
		c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 && c.Name() != "proxy" && c.Name() != "policy" {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return a.completeTargets(cmd, args, toComplete)
		}
	}
	if !c.HasParent() {
		_ = c.RegisterFlagCompletionFunc("profile", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return awsconf.Profiles(a.awsConfigFiles, a.awsCredentialsFiles), cobra.ShellCompDirectiveNoFileComp
		})
		cmdline.CompleteValues(c, flagValues)
	}
	for _, sub := range c.Commands() {
		a.addCompletions(sub)
	}
}

// completeTargets lists the config file's targets, then the region's
// instances and clusters if the RDS API answers within two seconds.
func (a *app) completeTargets(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	var names []string
	if c, err := a.loadConfig(); err == nil {
		names = c.Names()
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
	defer cancel()
	if a.log == nil {
		_ = a.setup()
	}
	if cfg, _, err := a.loadAWS(ctx); err == nil {
		names = dbpath.Names(ctx, cfg, names)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
