package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/doctor"
	"github.com/rdsgate/rdsgate/internal/cmdline"
)

func (a *app) newDoctor() *cobra.Command {
	var rf routeFlags
	cmd := cmdline.Command("doctor TARGET", "Check every stage of the path to a database, and say how to fix what is wrong", cobra.ExactArgs(1), func(ctx context.Context, args []string) error {
		return a.runDoctor(ctx, args[0], rf)
	})
	rf.register(cmd.Flags(), 1)
	return cmd
}

func (a *app) runDoctor(ctx context.Context, name string, rf routeFlags) error {
	spec, err := a.pathSpec(name, rf)
	if err != nil {
		return err
	}
	opts := a.pathOptions()
	opts.Observer = nil // the report is the output
	report := doctor.Run(ctx, doctor.Config{Spec: spec, Options: opts})
	ro := doctor.RenderOptions{Settings: flags, Color: a.color()} // fixes say which flag to pass
	if a.g.output == "json" {
		err = report.WriteJSON(a.stdout, ro)
	} else {
		err = report.WriteText(a.stdout, ro)
	}
	if err != nil {
		return err
	}
	if !report.OK() {
		return exitError{code: ExitFailure}
	}
	return nil
}
