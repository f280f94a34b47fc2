package cli

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rdsgate/rdsgate/bastion"
	"github.com/rdsgate/rdsgate/sandbox"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

// useBastionSandbox starts a sandbox without a bastion, with the bastion
// package's waits shortened for the sandbox's one-second boots.
func useBastionSandbox(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	p, r := bastion.PollInterval, bastion.RunningTimeout
	bastion.PollInterval, bastion.RunningTimeout = 50*time.Millisecond, 30*time.Second
	t.Cleanup(func() { bastion.PollInterval, bastion.RunningTimeout = p, r })
	return useSandboxWith(t, sandbox.Options{Engines: []string{"postgres"}, Backend: sandbox.BackendEmbedded, NoBastion: true})
}

// tagged lists what in the sandbox carries the bastion's tag (instances
// that are not terminated), and the database's ingress rules.
func tagged(sb *sandbox.Sandbox, vpc string) (owned []string, dbIngress []world.Rule) {
	inst, _ := sb.Instance(sandbox.InstancePG)
	w := sb.World
	w.View(func() {
		for _, b := range w.Bastions {
			if b.Tags[bastion.TagKey] == vpc && b.StateAt(time.Now()) != world.StateTerminated {
				owned = append(owned, b.InstanceID)
			}
		}
		for _, g := range w.SecurityGroups {
			if g.Tags[bastion.TagKey] == vpc {
				owned = append(owned, g.ID)
			}
			if g.ID == inst.SecurityGroups[0] {
				dbIngress = slices.Clone(g.Ingress)
			}
		}
		for _, e := range w.Endpoints {
			if e.Tags[bastion.TagKey] == vpc {
				owned = append(owned, e.ID)
			}
		}
		for _, r := range w.Roles {
			owned = append(owned, "role "+r.Name)
		}
		for _, p := range w.InstanceProfiles {
			owned = append(owned, "instance profile "+p.Name)
		}
	})
	return owned, dbIngress
}

// TestBastionLifecycle is the sandbox acceptance: in a sandbox
// without a bastion, create one, connect through it, stop and start it,
// create again (nothing changes), and destroy it (nothing tagged is left,
// the database's group is as before).
func TestBastionLifecycle(t *testing.T) {
	sb := useBastionSandbox(t)
	vpc := sandbox.VPCID
	_, before := tagged(sb, vpc)
	// No bastion named: connect takes the VPC's rdsgate bastion.
	connect := []string{"connect", "demo-pg", "--via", "ssm", "--exec", "select 1 as one", "-o", "csv"}

	code, out, errOut := run(t, "bastion", "create", "demo-pg", "--yes")
	if code != 0 {
		t.Fatalf("create: exit %d\n%s\n%s", code, out, errOut)
	}
	id := strings.TrimSpace(out)
	if !strings.HasPrefix(id, "i-") || !strings.Contains(errOut, "agent online") {
		t.Fatalf("create printed %q, progress:\n%s", out, errOut)
	}
	owned, after := tagged(sb, vpc)
	if !slices.Contains(owned, id) || len(after) != len(before)+1 {
		t.Fatalf("after create: owned %v, database ingress %+v", owned, after)
	}

	steps := []struct {
		desc string
		args []string
		out  string // in stdout, if set
		err  string // in stderr, if set
	}{
		{"connect through the new instance", connect, "1", ""},
		{"stop", []string{"bastion", "stop", "demo-pg"}, "", "instance stopped"},
		{"--no-start refuses the stopped bastion", append(connect[:len(connect):len(connect)], "--no-start"), "", "rdsgate bastion start"},
		{"connect starts it again", connect, "1", "agent online"},
		{"stop again", []string{"bastion", "stop", "demo-pg"}, "", "instance stopped"},
		{"start", []string{"bastion", "start", "demo-pg"}, "", "agent online"},
		{"connect again", connect, "1", ""},
		{"create again changes nothing", []string{"bastion", "create", "demo-pg", "--yes"}, "", "nothing to change"},
	}
	for _, s := range steps {
		sessions := len(sb.API().Sessions())
		code, out, errOut := run(t, s.args...)
		if refuse := slices.Contains(s.args, "--no-start"); refuse != (code != 0) || !strings.Contains(out, s.out) || !strings.Contains(errOut, s.err) {
			t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", s.desc, code, out, errOut)
		}
		if s.args[0] == "connect" && code == 0 {
			all := sb.API().Sessions()
			if len(all) == sessions || all[len(all)-1].Target != id {
				t.Errorf("%s: no session through %s: %+v", s.desc, id, all[sessions:])
			}
		}
	}
	if again, _ := tagged(sb, vpc); !slices.Equal(again, owned) {
		t.Errorf("a second create changed what exists: %v, was %v", again, owned)
	}

	code, out, errOut = run(t, "bastion", "destroy", "demo-pg", "--yes")
	if code != 0 {
		t.Fatalf("destroy: exit %d\n%s\n%s", code, out, errOut)
	}
	left, final := tagged(sb, vpc)
	if len(left) > 0 {
		t.Errorf("destroy left %v", left)
	}
	if diff := cmp.Diff(before, final, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the database's group changed (-before +after):\n%s", diff)
	}
	// The path is closed: no bastion, and the group admits nobody.
	if code, out, errOut := run(t, connect...); code == 0 {
		t.Errorf("connect after destroy succeeded:\n%s\n%s", out, errOut)
	}
}

// TestBastionCreateNeedsYes: without a terminal and without --yes,
// create prints the plan, exits 1 with the hint and changes nothing.
func TestBastionCreateNeedsYes(t *testing.T) {
	sb := useBastionSandbox(t)
	owned, before := tagged(sb, sandbox.VPCID)
	code, out, errOut := run(t, "bastion", "create", "demo-pg")
	if code != 1 || out != "" || !strings.Contains(errOut, "--yes") || !strings.Contains(errOut, "create  instance") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	after, ingress := tagged(sb, sandbox.VPCID)
	if len(owned) != 0 || len(after) != 0 || !cmp.Equal(before, ingress, cmpopts.EquateEmpty()) {
		t.Errorf("create without --yes changed the sandbox: %v, database ingress %+v", after, ingress)
	}
}
