package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/docs"
	"github.com/rdsgate/rdsgate/internal/cmdline"
	"github.com/rdsgate/rdsgate/internal/humanlog"
	"github.com/rdsgate/rdsgate/sandbox"
)

func (a *app) newDemo() *cobra.Command {
	var opts sandbox.Options
	var backend []string
	cmd := cmdline.Command("demo", "Walk the whole path to a private database against a local sandbox", cobra.NoArgs, func(ctx context.Context, _ []string) error {
		return a.runDemo(ctx, opts, backend)
	})
	cmd.Flags().StringSliceVar(&opts.Engines, "engine", []string{"all"}, "engines to try: postgres, mysql or all")
	cmd.Flags().StringArrayVar(&backend, "backend", []string{sandbox.BackendAuto}, "what serves the data: auto, installed, embedded or a server's URL (see 'rdsgate sandbox --help')")
	return cmd
}

func (a *app) runDemo(ctx context.Context, opts sandbox.Options, backend []string) error {
	if err := setBackends(&opts, backend); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "rdsgate-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Fprintln(a.stderr, "rdsgate demo: the path to a private database, against a local sandbox")
	t0 := time.Now()
	// The sandbox's own log is for refusals and failures here; -v shows all.
	sbLog := a.log
	if !a.g.verbose {
		sbLog = slog.New(humanlog.MinLevel{Handler: a.log.Handler(), Min: slog.LevelWarn})
	}
	opts.Dir, opts.Log = dir, sbLog
	sb, err := sandbox.Start(ctx, opts)
	if err != nil {
		return fmt.Errorf("start the sandbox: %w", err)
	}
	defer sb.Close()
	a.progress().Since("sandbox", t0, "AWS APIs at %s; %d database(s) in a private network behind bastion %s", sb.APIURL, len(sb.World.Instances), sandbox.BastionID)
	sb.WriteEmbedded(a.stderr)

	// From here on, exactly what a user runs: the sandbox's profile and
	// config file, and connect.
	a.awsConfigFiles = []string{filepath.Join(dir, "aws-config")}
	a.awsCredentialsFiles = []string{filepath.Join(dir, "aws-credentials")}
	a.g.config, a.g.profile = filepath.Join(dir, "rdsgate.yaml"), sandbox.ProfileAdmin
	for _, inst := range sb.World.Instances {
		fmt.Fprintf(a.stderr, "\nrdsgate connect %s --exec ...\n", inst.Identifier)
		err := a.runConnect(ctx, inst.Identifier, nil, connectFlags{exec: "select current_user as db_user, count(*) as orders, sum(total) as total from orders"})
		if err != nil {
			return err
		}
	}

	page, _ := docs.Command("rdsgate demo")
	fmt.Fprintf(a.stderr, "\n%s\n", page.Next)
	return nil
}
