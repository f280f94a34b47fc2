package cli

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/internal/cmdline"
	"github.com/rdsgate/rdsgate/internal/dbclient"
	"github.com/rdsgate/rdsgate/proxy"
	ssmtunnel "github.com/rdsgate/rdsgate/tunnel/ssm"
)

type tunnelFlags struct {
	route  routeFlags
	remote string
	port   int
}

func (a *app) newTunnel() *cobra.Command {
	var f tunnelFlags
	cmd := &cobra.Command{
		Use:   "tunnel (TARGET | --remote HOST:PORT) --port LOCAL",
		Short: "Forward a plain local port through the route, for tools rdsgate does not speak",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			if (name == "") == (f.remote == "") {
				return cmdline.Usagef("give a TARGET or --remote HOST:PORT (one of them)")
			}
			return a.runTunnel(cmd.Context(), name, f)
		},
	}
	f.route.register(cmd.Flags(), ssmtunnel.DefaultSessions)
	cmd.Flags().StringVar(&f.remote, "remote", "", "forward to this HOST:PORT instead of a target's endpoint")
	cmd.Flags().IntVar(&f.port, "port", 0, "local port on 127.0.0.1 (default: the target's local_port, else any free port)")
	return cmd
}

func (a *app) runTunnel(ctx context.Context, name string, f tunnelFlags) error {
	var p *dbpath.Path
	var err error
	remote := f.remote
	port := f.port
	if name != "" {
		if p, err = a.openPath(ctx, name, f.route); err != nil {
			return err
		}
		remote = p.Target.Address()
		if port == 0 {
			port = p.Spec.LocalPort
		}
	} else {
		spec, err := specFor("", config.Target{}, f.route, a.g, a.getenv)
		if err != nil {
			return err
		}
		opts := a.pathOptions()
		opts.SSMSessions = f.route.sessions
		if p, err = dbpath.OpenRoute(ctx, spec, remote, opts); err != nil {
			return err
		}
	}
	defer p.Close()
	ln, err := proxy.Listen(proxy.ListenConfig{Address: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))})
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Fprintf(a.stdout, "Forwarding %s -> %s via %s. Press Ctrl-C to stop.\n", ln.Addr(), remote, p.Route.Via)
	if name != "" {
		dbclient.WriteTunnelRecipe(a.stdout, p, ln.Addr().(*net.TCPAddr).Port, func(user string) string {
			return fmt.Sprintf("rdsgate token --target %s --user %s", p.Spec.Name, user)
		})
	}
	return proxy.Forward(ctx, ln, p.Dialer, remote, a.log)
}
