package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/bastion"
	"github.com/rdsgate/rdsgate/internal/cmdline"
)

// bastionFlags are a bastion.Spec (bound to it directly), the code
// format and the go-ahead.
type bastionFlags struct {
	spec   bastion.Spec
	format string
	yes    bool
}

func (a *app) newBastion() *cobra.Command {
	var f bastionFlags
	root := &cobra.Command{Use: "bastion", Short: "Create, check, start, stop and remove the Session Manager bastion of a database's VPC"}
	sub := func(use, short string, run func(context.Context, *bastionTarget) error) *cobra.Command {
		return &cobra.Command{Use: use + " TARGET", Short: short, Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			t, err := a.bastionTarget(cmd.Context(), args[0], f)
			if err != nil {
				return err
			}
			return run(cmd.Context(), t)
		}}
	}
	create := sub("create", "Create the bastion (prints the plan; --yes applies it)", func(ctx context.Context, t *bastionTarget) error {
		if f.format != "" {
			return t.design.WriteCode(a.stdout, f.format)
		}
		s, err := bastion.Observe(ctx, t.clients, t.design)
		if err != nil {
			return err
		}
		plan := bastion.NewPlan(t.design, s)
		if err := plan.WriteText(a.stderr); err != nil || plan.Ready() {
			return err
		}
		if err := cmdline.Confirm(f.yes, a.stdin, a.stderr, "bastion create"); err != nil {
			return err
		}
		id, err := bastion.Apply(ctx, t.clients, plan, a.progress())
		if err == nil {
			fmt.Fprintln(a.stdout, id)
		}
		return err
	})
	fl := create.Flags()
	fl.StringVar(&f.spec.Subnet, "subnet", "", "subnet of the bastion (default: a private subnet of the database, one with a NAT route first)")
	fl.StringVar(&f.spec.InstanceType, "instance-type", bastion.DefaultInstanceType, "instance type (Graviton types run the arm64 image)")
	fl.DurationVar(&f.spec.IdleStop, "idle-stop", bastion.DefaultIdleStop, "stop the instance after this long with no session (0: never)")
	fl.StringVar((*string)(&f.spec.Endpoints), "endpoints", string(bastion.EndpointsAuto), "Session Manager interface endpoints: auto (where the subnet has no NAT route), yes or no")
	fl.StringVar(&f.format, "format", "", "print the bastion as code instead: terraform or cloudformation")
	fl.BoolVar(&f.yes, "yes", false, "apply the plan without asking")
	status := sub("status", "Show the bastion: instance, agent, groups and rules, role, endpoints, idle stop, cost", func(ctx context.Context, t *bastionTarget) error {
		r, err := bastion.Status(ctx, t.clients, t.design)
		if err != nil {
			return err
		}
		return a.show(r, r.WriteText)
	})
	start := sub("start", "Start the bastion and wait for its agent", func(ctx context.Context, t *bastionTarget) error {
		_, err := bastion.Start(ctx, t.clients, t.design.VPC, a.progress())
		return err
	})
	stop := sub("stop", "Stop the bastion", func(ctx context.Context, t *bastionTarget) error {
		_, err := bastion.Stop(ctx, t.clients, t.design.VPC, a.progress())
		return err
	})
	destroy := sub("destroy", "Remove what rdsgate created for the bastion (prints it; --yes removes it)", func(ctx context.Context, t *bastionTarget) error {
		o, err := bastion.FindOwned(ctx, t.clients, t.design.VPC)
		if err != nil || o.WriteText(a.stderr) != nil || o.Empty() {
			return err
		}
		if err := cmdline.Confirm(f.yes, a.stdin, a.stderr, "bastion destroy"); err != nil {
			return err
		}
		return bastion.Destroy(ctx, t.clients, o, a.progress())
	})
	destroy.Flags().BoolVar(&f.yes, "yes", false, "remove without asking")
	root.AddCommand(create, status, start, stop, destroy)
	return root
}

type bastionTarget struct {
	clients bastion.Clients
	design  bastion.Design
}

// bastionTarget resolves the database and designs its VPC's bastion.
func (a *app) bastionTarget(ctx context.Context, name string, f bastionFlags) (*bastionTarget, error) {
	p, err := a.resolveTarget(ctx, name, false)
	if err != nil {
		return nil, err
	}
	if f.spec.IdleStop == 0 {
		f.spec.IdleStop = -1 // --idle-stop 0: never
	}
	c := bastion.NewClients(p.AWS)
	d, err := bastion.NewDesign(ctx, c, p.Target, f.spec)
	return &bastionTarget{clients: c, design: d}, err
}
