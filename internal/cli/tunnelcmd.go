package cli

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/target"
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
				return usagef("give a TARGET or --remote HOST:PORT (one of them)")
			}
			return a.runTunnel(cmd.Context(), name, f)
		},
	}
	f.route.register(cmd.Flags())
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
		if _, _, err := net.SplitHostPort(remote); err != nil {
			return usagef("--remote %q: want HOST:PORT", remote)
		}
		spec, err := specFor("", config.Target{}, f.route, a.g, a.getenv)
		if err != nil {
			return err
		}
		if p, err = dbpath.OpenRoute(ctx, spec, remote, a.pathOptions()); err != nil {
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
		a.tunnelRecipe(p, ln.Addr().(*net.TCPAddr).Port)
	}
	return proxy.Forward(ctx, ln, p.Dialer, remote, a.log)
}

// tunnelRecipe prints how a client uses the tunnel: TLS verified for the
// real endpoint (not 127.0.0.1), and a token signed for it.
func (a *app) tunnelRecipe(p *dbpath.Path, port int) {
	t, user := p.Target, cmp.Or(p.Spec.User, "DBUSER")
	ca := "RDS_CA_BUNDLE.pem"
	if p.Bundle != nil && p.Bundle.Path != "" {
		ca = p.Bundle.Path
	}
	token := fmt.Sprintf(`"$(rdsgate token --target %s --user %s)"`, p.Spec.Name, user)
	if t.Family() == target.FamilyPostgres {
		fmt.Fprintf(a.stdout, "  PGPASSWORD=%s psql \"host=%s hostaddr=127.0.0.1 port=%d user=%s dbname=%s sslmode=verify-full sslrootcert=%s\"\n",
			token, t.Host, port, user, cmp.Or(p.Spec.Database, "postgres"), ca)
		return
	}
	fmt.Fprintf(a.stdout, "  mysql -h 127.0.0.1 -P %d -u %s --ssl-mode=VERIFY_CA --ssl-ca=%s --enable-cleartext-plugin --password=%s\n", port, user, ca, token)
	fmt.Fprintf(a.stdout, "  (mysql cannot check the name %s through 127.0.0.1; rdsgate proxy can)\n", t.Host)
}
