package bastion

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"

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
