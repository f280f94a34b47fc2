package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/internal/cmdline"
	"github.com/rdsgate/rdsgate/target"
)

func (a *app) newLs() *cobra.Command {
	cmd := cmdline.Command("ls", "List the region's RDS instances and Aurora clusters", cobra.NoArgs, func(ctx context.Context, _ []string) error { return a.runLs(ctx) })
	cmd.Aliases = []string{"list"}
	return cmd
}

func (a *app) runLs(ctx context.Context) error {
	cfg, profile, err := a.loadAWS(ctx)
	if err != nil {
		return err
	}
	all, err := dbpath.List(ctx, cfg)
	if err != nil {
		return awsconf.Explain(err, profile)
	}
	if a.g.output == "json" {
		if all == nil {
			all = []target.Target{}
		}
		return a.writeJSON(all)
	}
	if len(all) == 0 {
		fmt.Fprintf(a.stderr, "no DB instances or clusters in %s (another region? pass --region)\n", cfg.Region)
		return nil
	}
	names := map[string]string{} // what the config files call them
	if c, err := a.loadConfig(); err == nil {
		for _, n := range c.Names() {
			if e, _ := c.Target(n); e.Identifier != "" {
				names[e.Identifier] = n
			}
		}
	}
	return target.WriteTable(a.stdout, all, names)
}
