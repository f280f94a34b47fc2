package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/target"
)

func (a *app) newLs() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the region's RDS instances and Aurora clusters",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runLs(cmd.Context())
		},
	}
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
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(all)
	}
	if len(all) == 0 {
		fmt.Fprintf(a.stderr, "no DB instances or clusters in %s (another region? pass --region)\n", cfg.Region)
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTIFIER\tKIND\tENGINE\tSTATUS\tIAM AUTH\tPUBLIC\tENDPOINT")
	for _, t := range all {
		iam := "yes"
		if !t.IAMAuth {
			iam = "NO"
		}
		public := "no"
		if t.Public {
			public = "YES"
		}
		kind := string(t.Kind)
		if t.ClusterIdentifier != "" {
			kind += " of " + t.ClusterIdentifier
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s:%d\n", t.Identifier, kind, t.Engine, t.Status, iam, public, t.Host, t.Port)
		if t.ReaderHost != "" {
			fmt.Fprintf(tw, "\t\t\t\t\t\t%s:%d (reader)\n", t.ReaderHost, t.Port)
		}
	}
	return tw.Flush()
}
