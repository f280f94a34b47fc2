package bastion

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rdsgate/rdsgate/sandbox"
	"github.com/rdsgate/rdsgate/target"
)

// TestSandboxPlan designs the bastion of the sandbox's demo-pg in a world
// without one: the private subnet has no NAT route, so the plan creates
// the endpoints, and everything is to be created.
func TestSandboxPlan(t *testing.T) {
	ctx := t.Context()
	sb, err := sandbox.Start(ctx, sandbox.Options{Dir: t.TempDir(), NoBastion: true, Backend: sandbox.BackendEmbedded})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	cfg, err := config.LoadDefaultConfig(ctx, config.WithSharedConfigFiles([]string{filepath.Join(sb.Dir, "aws-config")}),
		config.WithSharedCredentialsFiles([]string{filepath.Join(sb.Dir, "aws-credentials")}), config.WithSharedConfigProfile(sandbox.ProfileAdmin))
	if err != nil {
		t.Fatal(err)
	}
	c := NewClients(cfg)
	inst, _ := sb.Instance(sandbox.InstancePG)
	tg := target.Target{Identifier: inst.Identifier, Region: cfg.Region, Port: inst.Port, VPC: inst.VPC, Subnets: inst.Subnets, SecurityGroups: inst.SecurityGroups}
	d, err := NewDesign(ctx, c, tg, Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Endpoints || d.NAT || d.Subnet != inst.Subnets[0] {
		t.Fatalf("design %+v: want endpoints in %s", d, inst.Subnets[0])
	}
	s, err := Observe(ctx, c, d)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPlan(d, s)
	var b bytes.Buffer
	if err := p.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, st := range p.Steps {
		if st.Action != Create {
			t.Errorf("%s %s: %s, want create\n%s", st.Kind, st.Name, st.Action, b.String())
		}
	}
	if got := strings.Count(b.String(), "create "); got != len(d.Resources()) {
		t.Errorf("%d creates in\n%s", got, b.String())
	}
	r, err := Status(ctx, c, d)
	if err != nil || r.Instance != nil || r.Role != nil {
		t.Fatalf("status of no bastion: %+v, %v", r, err)
	}
}

// TestSandboxLifecycle creates the bastion in a sandbox without one, and
// checks each step the way the commands see it: the agent comes online,
// a second plan changes nothing, stop and start, and destroy leaves
// nothing tagged and the database's group as it was.
func TestSandboxLifecycle(t *testing.T) {
	defer func(p, r time.Duration) { PollInterval, RunningTimeout = p, r }(PollInterval, RunningTimeout)
	PollInterval, RunningTimeout = 50*time.Millisecond, 30*time.Second
	ctx := t.Context()
	sb, err := sandbox.Start(ctx, sandbox.Options{Dir: t.TempDir(), NoBastion: true, Backend: sandbox.BackendEmbedded, Engines: []string{"postgres"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	cfg, err := config.LoadDefaultConfig(ctx, config.WithSharedConfigFiles([]string{filepath.Join(sb.Dir, "aws-config")}),
		config.WithSharedCredentialsFiles([]string{filepath.Join(sb.Dir, "aws-credentials")}), config.WithSharedConfigProfile(sandbox.ProfileAdmin))
	if err != nil {
		t.Fatal(err)
	}
	c := NewClients(cfg)
	inst, _ := sb.Instance(sandbox.InstancePG)
	tg := target.Target{Identifier: inst.Identifier, Region: cfg.Region, Port: inst.Port, VPC: inst.VPC, Subnets: inst.Subnets, SecurityGroups: inst.SecurityGroups}
	dbGroup := func() []ec2types.IpPermission {
		out, err := c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: inst.SecurityGroups[:1]})
		if err != nil {
			t.Fatal(err)
		}
		return out.SecurityGroups[0].IpPermissions
	}
	before := dbGroup()
	d, err := NewDesign(ctx, c, tg, Spec{})
	if err != nil {
		t.Fatal(err)
	}
	plan := func() *Plan {
		s, err := Observe(ctx, c, d)
		if err != nil {
			t.Fatal(err)
		}
		return NewPlan(d, s)
	}
	id, err := Apply(ctx, c, plan(), nil)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if p := plan(); p.Changes() || !p.Ready() {
		var b strings.Builder
		_ = p.WriteText(&b)
		t.Fatalf("after apply, the plan is not settled:\n%s", b.String())
	}
	if len(dbGroup()) == len(before) {
		t.Error("the database's group gained no rule")
	}
	if _, err := Stop(ctx, c, d.VPC, nil); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if s := plan().State; s.Agent == nil || s.Agent.PingStatus == ssmtypes.PingStatusOnline {
		t.Errorf("agent of a stopped instance: %+v", s.Agent)
	}
	if _, err := Ready(ctx, c, d.VPC, false, nil); err == nil {
		t.Error("Ready without start on a stopped bastion succeeded")
	}
	if got, err := Start(ctx, c, d.VPC, nil); err != nil || got != id {
		t.Fatalf("start: %s, %v", got, err)
	}
	o, err := FindOwned(ctx, c, d.VPC)
	if err != nil {
		t.Fatal(err)
	}
	if err := Destroy(ctx, c, o, nil); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if o, err := FindOwned(ctx, c, d.VPC); err != nil || !o.Empty() {
		t.Errorf("after destroy: %+v, %v", o, err)
	}
	if diff := cmp.Diff(before, dbGroup(), cmpopts.IgnoreUnexported(ec2types.IpPermission{}, ec2types.UserIdGroupPair{}, ec2types.IpRange{})); diff != "" {
		t.Errorf("the database's group changed (-before +after):\n%s", diff)
	}
}
