package cli

import (
	"cmp"
	"context"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/internal/cmdline"
	"github.com/rdsgate/rdsgate/sandbox"
)

// sandboxFlags are sandbox.Options (bound to them directly), the spec
// file and the backends.
type sandboxFlags struct {
	opts    sandbox.Options
	spec    string
	backend []string
}

func (a *app) newSandbox() *cobra.Command {
	var f sandboxFlags
	cmd := cmdline.Command("sandbox", "Run a local stand-in for the AWS side: IAM-checked databases and AWS APIs", cobra.NoArgs, func(ctx context.Context, _ []string) error {
		return a.runSandbox(ctx, f)
	})
	fl := cmd.Flags()
	fl.StringVar(&f.opts.Dir, "dir", "", "directory for the client files (default ~/.cache/rdsgate/sandbox)")
	fl.StringSliceVar(&f.opts.Engines, "engine", []string{"all"}, "engines to run: postgres, mysql or all")
	fl.StringSliceVar(&f.opts.Faults, "fault", nil, "fault to switch on (repeatable): "+strings.Join(sandbox.AllFaults, ", "))
	fl.StringVar(&f.spec, "spec", "", "sandbox.yaml declaring engines, faults, extra IAM database users and principals with policies (default DIR/sandbox.yaml when it exists)")
	fl.StringArrayVar(&f.backend, "backend", []string{sandbox.BackendAuto}, "what serves the data behind the fronts: auto, installed, embedded, or an existing server's URL (postgres://USER:PASSWORD@HOST:PORT?sslmode=disable, mysql://USER:PASSWORD@HOST:PORT); repeat for one URL per engine")
	fl.BoolVar(&f.opts.NoBastion, "no-bastion", false, "start without a Session Manager bastion (the databases' groups admit nobody), for 'rdsgate bastion create' to build one")
	fl.BoolVar(&f.opts.Unpaced, "unpaced", false, "let the Session Manager agent send as fast as it can (by default it paces like AWS's, about 1 MB/s)")
	return cmd
}

// setBackends sorts --backend values into a kind and URLs.
func setBackends(opts *sandbox.Options, values []string) error {
	if err := opts.SetBackends(values); err != nil {
		return cmdline.Usagef("--backend: %v", err)
	}
	return nil
}

func (a *app) runSandbox(ctx context.Context, f sandboxFlags) error {
	opts := f.opts
	dir, err := filepath.Abs(cmp.Or(opts.Dir, sandbox.DefaultDir()))
	if err != nil {
		return err
	}
	opts.Dir, opts.Log = dir, a.log
	if err := setBackends(&opts, f.backend); err != nil {
		return err
	}
	if err := opts.ApplySpecFile(f.spec); err != nil {
		return err
	}
	if err := sandbox.CheckFaults(opts.Faults); err != nil {
		return err
	}
	a.log.Info("starting sandbox", "dir", dir)
	sb, err := sandbox.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer sb.Close()
	if !a.g.quiet {
		sb.WriteIntro(a.stdout, flags)
	}
	<-ctx.Done()
	a.log.Info("stopping sandbox")
	return sb.Close()
}
