package world

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// SSMCorePolicyARN is the managed policy an instance's role needs for its
// SSM agent to register with Systems Manager.
const SSMCorePolicyARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"

// SSMServices are what the agent reaches over HTTPS: a subnet without a
// NAT route needs an interface endpoint for each.
var SSMServices = []string{"ssm", "ssmmessages", "ec2messages"}

// systemsManagerIP stands for Systems Manager's public address, reached
// through a NAT gateway.
const systemsManagerIP = "52.94.0.10"

// AgentOnline reports whether b's agent is online at now: the instance
// runs and (for one RunInstances launched) AgentProblem finds nothing.
// The caller holds the world's lock (View or Update).
func (w *World) AgentOnline(b *Bastion, now time.Time) bool {
	if b.StateAt(now) != StateRunning {
		return false
	}
	if !b.Launched {
		return b.AgentOnline
	}
	return w.AgentProblem(b) == ""
}

// AgentProblem says why a launched instance's agent could not register
// ("" when it can): its instance profile's role must have
// SSMCorePolicyARN, and it must reach Systems Manager on 443, through a
// NAT route or the VPC's interface endpoints. The caller holds the lock.
func (w *World) AgentProblem(b *Bastion) string {
	if p := w.roleProblem(b); p != "" {
		return p
	}
	return w.networkProblem(b)
}

// Registered reports whether a launched instance's agent has credentials
// to register with (its role has SSMCorePolicyARN): Systems Manager lists
// it, online or not. The caller holds the lock.
func (w *World) Registered(b *Bastion) bool { return !b.Launched || w.roleProblem(b) == "" }

func (w *World) roleProblem(b *Bastion) string {
	if b.InstanceProfile == "" {
		return "the instance has no instance profile"
	}
	prof, ok := w.InstanceProfile(b.InstanceProfile)
	if !ok || len(prof.Roles) == 0 {
		return "instance profile " + b.InstanceProfile + " has no role"
	}
	role, ok := w.Role(prof.Roles[0])
	if !ok || !slices.Contains(role.Policies, SSMCorePolicyARN) {
		return "role " + prof.Roles[0] + " lacks AmazonSSMManagedInstanceCore"
	}
	return ""
}

func (w *World) networkProblem(b *Bastion) string {
	if w.natRoute(b.Subnet) {
		if !w.allows(b.SecurityGroups, b.PrivateIP, nil, systemsManagerIP, 443) {
			return "its security groups allow no egress on 443 to the internet (through the NAT gateway)"
		}
		return ""
	}
	for _, svc := range SSMServices {
		name := "com.amazonaws." + w.Region + "." + svc
		i := slices.IndexFunc(w.Endpoints, func(e VPCEndpoint) bool {
			return e.VPC == b.VPC && e.Service == name && e.State == "available" && e.PrivateDNS
		})
		if i < 0 {
			return "subnet " + b.Subnet + " has no NAT route and the VPC has no " + svc + " endpoint with private DNS"
		}
		e := w.Endpoints[i]
		if !w.allows(b.SecurityGroups, b.PrivateIP, e.SecurityGroups, w.addressIn(first(e.Subnets), 50), 443) {
			return "the security groups do not let it reach the " + svc + " endpoint on 443"
		}
	}
	return ""
}

// ReachesDatabase reports (nil) whether b may open TCP connections to
// inst's port: b's groups' egress and inst's groups' ingress must both
// admit it, as in a VPC. The caller holds the lock.
func (w *World) ReachesDatabase(b *Bastion, inst *Instance) error {
	if w.allows(b.SecurityGroups, b.PrivateIP, inst.SecurityGroups, w.addressIn(first(inst.Subnets), 100), inst.Port) {
		return nil
	}
	return fmt.Errorf("the security groups (%s of %s, %s of %s) do not admit port %d between them",
		strings.Join(b.SecurityGroups, ", "), b.InstanceID, strings.Join(inst.SecurityGroups, ", "), inst.Identifier, inst.Port)
}

// allows reports whether TCP port gets from an address fromIP in groups
// from to toIP in groups to: an egress rule of from must admit it (to a
// group of to, or a CIDR holding toIP) and, when to has groups, an
// ingress rule of to (from a group of from, or a CIDR holding fromIP).
func (w *World) allows(from []string, fromIP string, to []string, toIP string, port int) bool {
	admits := func(groups []string, peers []string, ip string, egress bool) bool {
		for _, id := range groups {
			g, ok := w.SecurityGroup(id)
			if !ok {
				continue
			}
			rules := g.Ingress
			if egress {
				rules = g.Egress
			}
			for _, r := range rules {
				if !r.Covers(port) {
					continue
				}
				if slices.ContainsFunc(r.SourceGroups, func(s string) bool { return slices.Contains(peers, s) }) {
					return true
				}
				if slices.ContainsFunc(r.CIDRs, func(c string) bool { return cidrHolds(c, ip) }) {
					return true
				}
			}
		}
		return false
	}
	// An instance with no groups is one a hand-built world (a test's)
	// does not put in a network: nothing to stop it.
	if len(from) > 0 && !admits(from, to, toIP, true) {
		return false
	}
	return len(to) == 0 || admits(to, from, fromIP, false)
}

// cidrHolds reports whether cidr holds ip; an unknown ip ("") is only in
// the whole internet.
func cidrHolds(cidr, ip string) bool {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return false
	}
	if ip == "" {
		return p.Bits() == 0
	}
	a, err := netip.ParseAddr(ip)
	return err == nil && p.Contains(a)
}

// natRoute reports whether subnet's route table (its own, else the main
// one) sends 0.0.0.0/0 to a NAT gateway.
func (w *World) natRoute(subnet string) bool {
	var table *RouteTable
	for i := range w.RouteTables {
		if slices.Contains(w.RouteTables[i].Subnets, subnet) {
			table = &w.RouteTables[i]
		}
	}
	if table == nil {
		s, _ := w.Subnet(subnet)
		for i := range w.RouteTables {
			if w.RouteTables[i].Main && (s == nil || w.RouteTables[i].VPC == s.VPC) {
				table = &w.RouteTables[i]
			}
		}
	}
	return table != nil && slices.ContainsFunc(table.Routes, func(r Route) bool {
		return r.Destination == "0.0.0.0/0" && r.NATGateway != ""
	})
}

// addressIn is the n-th address of subnet's CIDR ("" when unknown): where
// the sandbox places what it does not give an address (a database, an
// endpoint's interface).
func (w *World) addressIn(subnet string, n int) string {
	s, ok := w.Subnet(subnet)
	if !ok {
		return ""
	}
	return NthAddress(s.CIDR, n)
}

// NthAddress is the n-th address of cidr ("" when it is not an IPv4
// prefix or too small).
func NthAddress(cidr string, n int) string {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return ""
	}
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	if !p.Contains(a) {
		return ""
	}
	return a.String()
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
