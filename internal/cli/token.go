package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/internal/cmdline"
)

type tokenFlags struct {
	host   string
	port   int
	user   string
	target string
}

func (a *app) newToken() *cobra.Command {
	var f tokenFlags
	cmd := &cobra.Command{
		Use:   "token (TARGET | --host HOST --port PORT) --user DBUSER",
		Short: "Print an IAM database authentication token",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 { // the target as an argument, as every command takes it
				if f.target != "" && f.target != args[0] {
					return cmdline.Usagef("give the target once: %s or --target %s", args[0], f.target)
				}
				f.target = args[0]
			}
			return a.runToken(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.host, "host", "", "database endpoint host name (the real RDS endpoint, not a tunnel's localhost)")
	fl.IntVar(&f.port, "port", 0, "database port (default: the target's, or 5432/3306 by engine)")
	fl.StringVarP(&f.user, "user", "u", "", "database user to sign for (case-sensitive)")
	fl.StringVar(&f.target, "target", "", "look the endpoint up: config entry, instance or cluster id, or endpoint")
	return cmd
}

func (a *app) runToken(ctx context.Context, f tokenFlags) error {
	if f.target == "" && f.host == "" {
		return cmdline.Usagef("pass --host and --port, or --target")
	}
	var spec dbpath.Spec
	if f.target != "" {
		var err error
		if spec, err = a.pathSpec(f.target, routeFlags{o: dbpath.Override{User: f.user}}); err != nil {
			return err
		}
	} else {
		spec = dbpath.Spec{Profile: a.g.profile, Region: a.g.region, User: f.user}
	}
	opts := a.pathOptions()
	opts.Observer = nil // the token is the whole output
	tok, _, err := a.token(ctx, spec, f.host, f.port, opts)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.stdout, tok)
	return err
}
