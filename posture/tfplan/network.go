package tfplan

import (
	"strings"

	"github.com/rdsgate/rdsgate/posture"
)

// network is what the plan says of security groups and DB subnet groups.
type network struct {
	sgs map[string]*posture.SecurityGroup // by key
	// sgUnknown are the groups some of whose rules are known only after
	// apply; anyRuleUnknown is set when a rule's group cannot be told (it
	// may belong to any group).
	sgUnknown      map[string]bool
	anyRuleUnknown bool
	subnetGroups   map[string]*subnetGroup // by key
}

type subnetGroup struct {
	posture.SubnetGroup
	subnetsKnown, vpcKnown bool
}

// network reads the security groups, their rules and the DB subnet groups
// of the plan into their regions.
func (b *builder) network(region func(string) *posture.Region) *network {
	n := &network{sgs: map[string]*posture.SecurityGroup{}, sgUnknown: map[string]bool{}, subnetGroups: map[string]*subnetGroup{}}
	var order []*resource
	for _, r := range b.ofType("aws_security_group") {
		sg := &posture.SecurityGroup{ID: r.key, Ingress: []posture.Rule{}, Egress: []posture.Rule{}}
		sg.Name, _ = r.a.str("name")
		sg.VPC, _ = r.a.str("vpc_id")
		for _, dir := range []string{"ingress", "egress"} {
			rules, ok := b.inlineRules(r, dir, sg.ID)
			if !ok {
				n.sgUnknown[sg.ID] = true
			}
			if dir == "ingress" {
				sg.Ingress = append(sg.Ingress, rules...)
			} else {
				sg.Egress = append(sg.Egress, rules...)
			}
		}
		n.sgs[sg.ID] = sg
		order = append(order, r)
	}
	for _, r := range b.ofType("aws_security_group_rule", "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule") {
		groups, ok := b.ids(r, "security_group_id")
		if !ok {
			n.anyRuleUnknown = true
			continue
		}
		for _, g := range groups {
			sg := n.sgs[g]
			if sg == nil {
				continue // a group the plan does not hold: databases using it say unknown anyway
			}
			rule, egress, ok := b.separateRule(r, g)
			switch {
			case !ok:
				n.sgUnknown[g] = true
			case egress:
				sg.Egress = append(sg.Egress, rule)
			default:
				sg.Ingress = append(sg.Ingress, rule)
			}
		}
	}
	for _, r := range order {
		reg := region(r.region)
		reg.SecurityGroups = append(reg.SecurityGroups, *n.sgs[r.key])
	}
	for _, r := range b.ofType("aws_db_subnet_group") {
		g := &subnetGroup{SubnetGroup: posture.SubnetGroup{Name: r.key}}
		g.Subnets, g.subnetsKnown = b.ids(r, "subnet_ids")
		g.VPC, g.vpcKnown = r.a.str("vpc_id")
		g.vpcKnown = g.vpcKnown && g.VPC != ""
		n.subnetGroups[r.key] = g
		reg := region(r.region)
		reg.SubnetGroups = append(reg.SubnetGroups, g.SubnetGroup)
	}
	return n
}

// inlineRules are the ingress or egress blocks of an aws_security_group.
// ok is false when they are known only after apply.
func (b *builder) inlineRules(r *resource, dir, self string) (rules []posture.Rule, ok bool) {
	blocks, known := r.a.blocks(dir)
	if !known {
		// Left out of the configuration, a new group gets none: Terraform
		// creates it with no rules (and removes AWS's default egress rule).
		return nil, r.created() && !r.configured(dir)
	}
	for _, bl := range blocks {
		rule := posture.Rule{}
		var okP, okF, okT, okC, okC6, okG, okPL bool
		var v6, groups []string
		rule.Protocol, okP = bl.str("protocol")
		rule.FromPort, okF = bl.integer("from_port")
		rule.ToPort, okT = bl.integer("to_port")
		rule.CIDRs, okC = bl.strs("cidr_blocks")
		v6, okC6 = bl.strs("ipv6_cidr_blocks")
		groups, okG = bl.strs("security_groups")
		rule.PrefixLists, okPL = bl.strs("prefix_list_ids")
		if !(okP && okF && okT && okC && okC6 && okG && okPL) {
			return nil, false
		}
		rule.CIDRs = append(rule.CIDRs, v6...)
		rule.Groups = groups
		if s, _ := bl.boolean("self"); s {
			rule.Groups = append(rule.Groups, self)
		}
		rules = append(rules, normalize(rule))
	}
	return rules, true
}

// separateRule reads an aws_security_group_rule or an
// aws_vpc_security_group_{ingress,egress}_rule of group. ok is false when
// part of it is known only after apply.
func (b *builder) separateRule(r *resource, group string) (rule posture.Rule, egress, ok bool) {
	a := r.a
	if r.typ == "aws_security_group_rule" {
		t, okT := a.str("type")
		egress = t == "egress"
		var okP, okF, okTo, okC, okC6, okPL bool
		var v6 []string
		rule.Protocol, okP = a.str("protocol")
		rule.FromPort, okF = a.integer("from_port")
		rule.ToPort, okTo = a.integer("to_port")
		rule.CIDRs, okC = a.strs("cidr_blocks")
		v6, okC6 = a.strs("ipv6_cidr_blocks")
		rule.PrefixLists, okPL = a.strs("prefix_list_ids")
		if !(okT && okP && okF && okTo && okC && okC6 && okPL) {
			return rule, egress, false
		}
		rule.CIDRs = append(rule.CIDRs, v6...)
		if s, _ := a.boolean("self"); s {
			rule.Groups = append(rule.Groups, group)
		} else if refersToGroup(r, "source_security_group_id") {
			rule.Groups = append(rule.Groups, b.groupName(r, "source_security_group_id"))
		}
		return normalize(rule), egress, true
	}
	egress = r.typ == "aws_vpc_security_group_egress_rule"
	var okP, okF, okT, ok4, ok6, okPL bool
	var v4, v6, pl string
	rule.Protocol, okP = a.str("ip_protocol")
	rule.FromPort, okF = a.integer("from_port")
	rule.ToPort, okT = a.integer("to_port")
	v4, ok4 = a.str("cidr_ipv4")
	v6, ok6 = a.str("cidr_ipv6")
	pl, okPL = a.str("prefix_list_id")
	if !(okP && okF && okT && ok4 && ok6 && okPL) {
		return rule, egress, false
	}
	for _, c := range []string{v4, v6} {
		if c != "" {
			rule.CIDRs = append(rule.CIDRs, c)
		}
	}
	if pl != "" {
		rule.PrefixLists = []string{pl}
	}
	if refersToGroup(r, "referenced_security_group_id") {
		rule.Groups = append(rule.Groups, b.groupName(r, "referenced_security_group_id"))
	}
	return normalize(rule), egress, true
}

// refersToGroup reports whether a rule's attr names a source group: a
// known value, or one known after apply that the configuration sets (the
// attribute is computed, so left out it is unknown too).
func refersToGroup(r *resource, attr string) bool {
	return r.a.present(attr) || r.a.unknown(attr) && r.configured(attr)
}

// groupName names the security group a rule refers to, for the report.
func (b *builder) groupName(r *resource, attr string) string {
	if ids, ok := b.ids(r, attr); ok && len(ids) == 1 {
		return ids[0]
	}
	return "(a security group known after apply)"
}

// normalize spells protocols as the EC2 API does ("tcp", "-1" for all)
// and gives an all-traffic rule the whole port range.
func normalize(r posture.Rule) posture.Rule {
	switch p := strings.ToLower(r.Protocol); p {
	case "6":
		r.Protocol = "tcp"
	case "17":
		r.Protocol = "udp"
	case "all", "-1":
		r.Protocol = "-1"
		r.FromPort, r.ToPort = 0, 65535
	default:
		r.Protocol = p
	}
	return r
}
