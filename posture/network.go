package posture

import (
	"fmt"
	"sort"
	"strings"
)

// Network checks: NET-01 public-access, NET-03 public-subnet, NET-04
// sg-open-ingress, NET-05 sg-broad-ingress, NET-06 sg-egress, NET-08
// nacl-broad.

func checkPublicAccess() *Check {
	return &Check{
		ID: "public-access", Title: "Database is publicly accessible", Severity: SeverityCritical,
		fix:       fixPublicAccess,
		Catalog:   "NET-01 (Security Hub RDS.2, Prowler rds_instance_no_public_access)",
		Rationale: "A publicly accessible database gets a public DNS name and IP address; with a permissive security group or route it is reachable from the Internet. Reach it through Session Manager instead.",
		Remediation: Remediation{
			Text:      "Turn off public accessibility (for a cluster, on every member instance).",
			CLI:       "aws rds modify-db-instance --region {region} --db-instance-identifier {id} --no-publicly-accessible --apply-immediately",
			Terraform: "resource \"aws_db_instance\" \"{id}\" {\n  publicly_accessible = false\n}",
		},
		eval: func(_ *Snapshot, db *DB) Result {
			if db.Instance != nil {
				if db.Instance.PubliclyAccessible {
					return fail("instance %s is publicly accessible", db.Instance.ID)
				}
				return pass("instance is not publicly accessible")
			}
			var public []string
			if db.Cluster.PubliclyAccessible {
				public = append(public, "cluster "+db.Cluster.ID)
			}
			for _, m := range db.Members {
				if m.PubliclyAccessible {
					public = append(public, "member "+m.ID)
				}
			}
			if len(public) > 0 {
				return fail("publicly accessible: %s", strings.Join(public, ", "))
			}
			if len(db.Members) < len(db.Cluster.Members) {
				if m := db.Region.Failed("rds:DescribeDBInstances"); len(m) > 0 {
					return unknown(m, "the cluster's member instances could not be read")
				}
				return unknown(nil, "%d of %d member instances are not in the snapshot", len(db.Cluster.Members)-len(db.Members), len(db.Cluster.Members))
			}
			return pass("no member instance is publicly accessible")
		},
	}
}

func checkPublicSubnet() *Check {
	return &Check{
		ID: "public-subnet", Title: "Database subnet routes to an internet gateway", Severity: SeverityHigh,
		Catalog:   "NET-03 (Prowler rds_instance_no_public_access, subnet part)",
		Rationale: "A subnet whose route table sends 0.0.0.0/0 or ::/0 to an internet gateway is public: one flag or rule away from exposing the database. Database subnets should route only inside the VPC (and to NAT or endpoints if needed).",
		Remediation: Remediation{
			Text:      "Put the database in a subnet group of private subnets (no route to an internet gateway), or remove the route.",
			CLI:       "aws ec2 delete-route --region {region} --route-table-id RTB_ID --destination-cidr-block 0.0.0.0/0",
			Terraform: "resource \"aws_db_subnet_group\" \"{id}\" {\n  subnet_ids = [ /* private subnets only */ ]\n}",
		},
		Needs: []string{"ec2:DescribeRouteTables", "ec2:DescribeSubnets"},
		eval: func(_ *Snapshot, db *DB) Result {
			subnets, ok := db.Subnets()
			if !ok {
				return unknownSubnets(db)
			}
			var public, unknownRT []string
			for _, s := range subnets {
				rt := routeTableOf(db, s)
				if rt == nil {
					unknownRT = append(unknownRT, s)
					continue
				}
				if igw := internetRoute(rt); igw != "" {
					public = append(public, fmt.Sprintf("%s (%s → %s)", s, rt.ID, igw))
				}
			}
			if len(public) > 0 {
				return fail("public subnets: %s", strings.Join(public, ", "))
			}
			if len(unknownRT) > 0 {
				return unknown(nil, "no route table found for %s", strings.Join(unknownRT, ", "))
			}
			return pass("none of %d subnets routes to an internet gateway", len(subnets))
		},
	}
}

func unknownSubnets(db *DB) Result {
	if db.Kind == KindCluster {
		if m := db.Region.Failed("rds:DescribeDBSubnetGroups"); len(m) > 0 {
			return unknown(m, "the cluster's subnet group could not be read")
		}
	}
	return unknown(nil, "the database's subnets are not in the snapshot")
}

// routeTableOf is the route table of subnet s: its explicit association,
// else the main table of the subnet's VPC.
func routeTableOf(db *DB, s string) *RouteTable {
	ix := db.Region.index()
	if rt := ix.rtBySubnet[s]; rt != nil {
		return rt
	}
	vpc := ""
	if sn := ix.subnets[s]; sn != nil {
		vpc = sn.VPC
	} else if db.Instance != nil {
		vpc = db.Instance.VPC
	} else if g := ix.subnetGroups[db.Cluster.SubnetGroup]; g != nil {
		vpc = g.VPC
	}
	return ix.mainRT[vpc]
}

// internetRoute returns the internet gateway a default route of rt goes
// to, or "". NAT gateways, egress-only gateways and blackhole routes do
// not make a subnet public.
func internetRoute(rt *RouteTable) string {
	for _, r := range rt.Routes {
		if (r.Destination == "0.0.0.0/0" || r.Destination == "::/0") && strings.HasPrefix(r.Target, "igw-") && r.State != "blackhole" {
			return r.Target
		}
	}
	return ""
}

// dbSecurityGroups returns db's security groups found in the snapshot, or
// an unknown result naming the ones that are not.
func dbSecurityGroups(db *DB) ([]*SecurityGroup, *Result) {
	ix := db.Region.index()
	var out []*SecurityGroup
	var missing []string
	for _, id := range db.SecurityGroups() {
		if sg := ix.sgs[id]; sg != nil {
			out = append(out, sg)
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		r := unknown(nil, "security groups not in the snapshot: %s", strings.Join(missing, ", "))
		return nil, &r
	}
	return out, nil
}

func isWorld(cidr string) bool { return cidr == "0.0.0.0/0" || cidr == "::/0" }

// coversPort reports whether a rule's protocol and port range include TCP port.
func (r Rule) coversPort(port int) bool {
	switch strings.ToLower(r.Protocol) {
	case "-1", "all":
		return true
	case "tcp", "6":
		return r.FromPort <= port && port <= r.ToPort
	}
	return false
}

func (r Rule) String() string {
	if r.Protocol == "-1" {
		return "all traffic"
	}
	if r.FromPort == r.ToPort {
		return fmt.Sprintf("%s/%d", r.Protocol, r.FromPort)
	}
	return fmt.Sprintf("%s/%d-%d", r.Protocol, r.FromPort, r.ToPort)
}

func checkSGOpenIngress() *Check {
	return &Check{
		ID: "sg-open-ingress", Title: "Security group allows the database port from anywhere", Severity: SeverityCritical,
		Catalog:   "NET-04 (Security Hub EC2.19, Prowler ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_*)",
		Rationale: "An ingress rule from 0.0.0.0/0 or ::/0 to the database port lets any address that can route to the database try to log in.",
		Remediation: Remediation{
			Text:      "Replace the rule by one that references the application's security group.",
			CLI:       "aws ec2 revoke-security-group-ingress --region {region} --group-id SG_ID --protocol tcp --port {port} --cidr 0.0.0.0/0\naws ec2 authorize-security-group-ingress --region {region} --group-id SG_ID --protocol tcp --port {port} --source-group APP_SG_ID",
			Terraform: "resource \"aws_vpc_security_group_ingress_rule\" \"{id}_from_app\" {\n  security_group_id            = SG_ID\n  referenced_security_group_id = APP_SG_ID\n  ip_protocol                  = \"tcp\"\n  from_port                    = {port}\n  to_port                      = {port}\n}",
		},
		Needs: []string{"ec2:DescribeSecurityGroups"},
		eval: func(_ *Snapshot, db *DB) Result {
			sgs, u := dbSecurityGroups(db)
			if u != nil {
				return *u
			}
			port := db.Port()
			var open []string
			for _, sg := range sgs {
				for _, r := range sg.Ingress {
					if !r.coversPort(port) {
						continue
					}
					for _, c := range r.CIDRs {
						if isWorld(c) {
							open = append(open, fmt.Sprintf("%s: %s from %s", sg.ID, r, c))
						}
					}
				}
			}
			if len(open) > 0 {
				return fail("open to the world on port %d: %s", port, strings.Join(open, "; "))
			}
			return pass("no rule opens port %d to 0.0.0.0/0 or ::/0", port)
		},
	}
}

func checkSGBroadIngress() *Check {
	return &Check{
		ID: "sg-broad-ingress", Title: "Security group ingress is broader than a security-group reference on the database port", Severity: SeverityMedium,
		Catalog:   "NET-05 (no anchor runs it; guidance: ingress only from the application's security group)",
		Rationale: "Address ranges grant access to whatever later lands in them; a reference to the application's security group grants exactly the application. Rules on other ports than the database's are never needed.",
		Remediation: Remediation{
			Text:      "Replace CIDR rules by security-group references on the database port only.",
			CLI:       "aws ec2 revoke-security-group-ingress --region {region} --group-id SG_ID --protocol tcp --port {port} --cidr CIDR\naws ec2 authorize-security-group-ingress --region {region} --group-id SG_ID --protocol tcp --port {port} --source-group APP_SG_ID",
			Terraform: "resource \"aws_vpc_security_group_ingress_rule\" \"{id}_from_app\" {\n  security_group_id            = SG_ID\n  referenced_security_group_id = APP_SG_ID\n  ip_protocol                  = \"tcp\"\n  from_port                    = {port}\n  to_port                      = {port}\n}",
		},
		Needs: []string{"ec2:DescribeSecurityGroups"},
		eval: func(_ *Snapshot, db *DB) Result {
			sgs, u := dbSecurityGroups(db)
			if u != nil {
				return *u
			}
			port := db.Port()
			var broad []string
			for _, sg := range sgs {
				for _, r := range sg.Ingress {
					exact := (r.Protocol == "tcp" || r.Protocol == "6") && r.FromPort == port && r.ToPort == port
					for _, c := range r.CIDRs {
						if isWorld(c) && r.coversPort(port) {
							continue // reported by sg-open-ingress
						}
						broad = append(broad, fmt.Sprintf("%s: %s from %s", sg.ID, r, c))
					}
					for _, p := range r.PrefixLists {
						broad = append(broad, fmt.Sprintf("%s: %s from prefix list %s", sg.ID, r, p))
					}
					if !exact {
						for _, g := range r.Groups {
							broad = append(broad, fmt.Sprintf("%s: %s from %s (not only port %d)", sg.ID, r, g, port))
						}
					}
				}
			}
			if len(broad) > 0 {
				return fail("broad ingress: %s", strings.Join(broad, "; "))
			}
			return pass("ingress only from security groups on port %d", port)
		},
	}
}

func checkSGEgress() *Check {
	return &Check{
		ID: "sg-egress", Title: "Database security group has outbound rules", Severity: SeverityLow,
		Catalog:   "NET-06 (no anchor runs it with database context)",
		Rationale: "A database answers on connections it accepted (security groups are stateful); it never needs to open connections itself. Outbound rules only help an attacker who got in to move data out.",
		Remediation: Remediation{
			Text:      "Remove the outbound rules of the database's security groups.",
			CLI:       "aws ec2 revoke-security-group-egress --region {region} --group-id SG_ID --ip-permissions '[{\"IpProtocol\":\"-1\",\"IpRanges\":[{\"CidrIp\":\"0.0.0.0/0\"}]}]'",
			Terraform: "resource \"aws_security_group\" \"{id}\" {\n  # no egress blocks: Terraform then removes AWS's default allow-all egress rule\n  egress = []\n}",
		},
		Needs: []string{"ec2:DescribeSecurityGroups"},
		eval: func(_ *Snapshot, db *DB) Result {
			sgs, u := dbSecurityGroups(db)
			if u != nil {
				return *u
			}
			var out []string
			for _, sg := range sgs {
				for _, r := range sg.Egress {
					dst := append(append(append([]string{}, r.CIDRs...), r.Groups...), r.PrefixLists...)
					out = append(out, fmt.Sprintf("%s: %s to %s", sg.ID, r, strings.Join(dst, ",")))
				}
			}
			if len(out) > 0 {
				return fail("outbound rules: %s", strings.Join(out, "; "))
			}
			return pass("no outbound rules")
		},
	}
}

func checkNACLBroad() *Check {
	return &Check{
		ID: "nacl-broad", Title: "Network ACL of a database subnet allows the database port from anywhere", Severity: SeverityMedium,
		Catalog:   "NET-08 (Security Hub EC2.21, Prowler ec2_networkacl_allow_ingress_any_port)",
		Rationale: "Network ACLs are the second, subnet-wide layer: the ACL of a database subnet should admit the database port only from the application subnets, so that one wrong security group rule does not expose the database.",
		Remediation: Remediation{
			Text:      "Give the database subnets their own network ACL that allows the database port only from the application subnets' CIDRs (and ephemeral ports back).",
			CLI:       "aws ec2 create-network-acl-entry --region {region} --network-acl-id ACL_ID --ingress --rule-number 100 --protocol tcp --port-range From={port},To={port} --cidr-block APP_CIDR --rule-action allow",
			Terraform: "resource \"aws_network_acl\" \"{id}\" {\n  vpc_id     = VPC_ID\n  subnet_ids = DB_SUBNET_IDS\n  ingress {\n    rule_no    = 100\n    protocol   = \"tcp\"\n    action     = \"allow\"\n    cidr_block = APP_CIDR\n    from_port  = {port}\n    to_port    = {port}\n  }\n}",
		},
		Needs: []string{"ec2:DescribeNetworkAcls"},
		eval: func(_ *Snapshot, db *DB) Result {
			subnets, ok := db.Subnets()
			if !ok {
				return unknownSubnets(db)
			}
			ix := db.Region.index()
			port := db.Port()
			var broad, unknownACL []string
			for _, s := range subnets {
				acl := ix.aclBySubnet[s]
				if acl == nil {
					unknownACL = append(unknownACL, s)
					continue
				}
				if e := firstWorldEntry(acl, port); e != nil && e.Allow {
					broad = append(broad, fmt.Sprintf("%s (%s rule %d allows %s)", s, acl.ID, e.RuleNumber, e.CIDR))
				}
			}
			if len(broad) > 0 {
				return fail("port %d open to the world at the subnet level: %s", port, strings.Join(broad, ", "))
			}
			if len(unknownACL) > 0 {
				return unknown(nil, "no network ACL found for %s", strings.Join(unknownACL, ", "))
			}
			return pass("network ACLs of %d subnets do not admit port %d from anywhere", len(subnets), port)
		},
	}
}

// firstWorldEntry returns the ingress entry of acl that decides traffic
// from 0.0.0.0/0 (or ::/0) to TCP port: the lowest-numbered entry for a
// world CIDR that covers the port.
func firstWorldEntry(acl *NetworkACL, port int) *ACLEntry {
	var cands []*ACLEntry
	for i := range acl.Entries {
		e := &acl.Entries[i]
		if e.Egress || !isWorld(e.CIDR) {
			continue
		}
		if e.Protocol == "-1" || ((e.Protocol == "6" || e.Protocol == "tcp") && e.FromPort <= port && port <= e.ToPort) {
			cands = append(cands, e)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].RuleNumber < cands[j].RuleNumber })
	if len(cands) == 0 {
		return nil
	}
	return cands[0]
}
