package posture

import (
	"fmt"
	"slices"
	"strings"
)

// Bastion checks (NET-12): the hosts that lead to a database must not be a
// way in themselves. A bastion of a database is an EC2 instance in the
// database's VPC that carries the tag rdsgate:bastion (what `rdsgate
// bastion create` tags) or is registered with Systems Manager (a Session
// Manager target, which only an instance with the SSM role becomes).

// BastionTag is the tag key that marks a bastion.
const BastionTag = "rdsgate:bastion"

// bastionNeeds are the reads without which no bastion is found. The
// Systems Manager list is not among them: without it the tagged bastions
// are still found and a finding on one stands, but a pass would vouch for
// targets not seen, so bastionCheck says unknown instead.
var bastionNeeds = []string{"ec2:DescribeInstances"}

const ssmList = "ssm:DescribeInstanceInformation"

// bastions returns db's bastions, or an unknown result when its VPC is
// not known.
func bastions(db *DB) ([]*EC2Instance, *Result) {
	vpc := db.VPC()
	if vpc == "" {
		r := unknown(nil, "the database's VPC is not in the snapshot")
		return nil, &r
	}
	r := db.Region
	var out []*EC2Instance
	for i := range r.EC2Instances {
		in := &r.EC2Instances[i]
		if in.VPC != vpc || in.State == "terminated" || in.State == "shutting-down" {
			continue
		}
		_, tagged := in.Tags[BastionTag]
		if tagged || slices.Contains(r.ManagedInstances, in.ID) {
			out = append(out, in)
		}
	}
	return out, nil
}

// bastionCheck evaluates bad on each bastion of db: it returns what is
// wrong with one ("" when nothing is).
func bastionCheck(db *DB, what string, bad func(*EC2Instance) (string, *Result)) Result {
	bs, u := bastions(db)
	if u != nil {
		return *u
	}
	ssmMissing := db.Region.Failed(ssmList)
	if len(bs) == 0 {
		if len(ssmMissing) > 0 {
			return unknown(ssmMissing, "no instance tagged %s in %s, and the Session Manager targets could not be listed", BastionTag, db.VPC())
		}
		return skip("no bastion in %s (no instance tagged %s or managed by Systems Manager)", db.VPC(), BastionTag)
	}
	var found []string
	for _, b := range bs {
		msg, u := bad(b)
		if u != nil {
			return *u
		}
		if msg != "" {
			found = append(found, b.ID+" "+msg)
		}
	}
	if len(found) > 0 {
		return fail("%s", strings.Join(found, "; "))
	}
	if len(ssmMissing) > 0 {
		return unknown(ssmMissing, "the tagged bastions pass, but the Session Manager targets could not be listed")
	}
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.ID
	}
	return pass("%s: %s", what, strings.Join(ids, ", "))
}

func checkBastionPublicIP() *Check {
	return &Check{
		ID: "bastion-public-ip", Title: "A bastion of the database has a public IP address", Severity: SeverityHigh,
		fix:       fixBastionPublicIP,
		Catalog:   "NET-12 (Security Hub EC2.9, Prowler ec2_instance_public_ip)",
		Rationale: "Session Manager needs no inbound path: a bastion with a public address is reachable from the Internet for no reason, and one security group rule away from being open.",
		Remediation: Remediation{
			Text: "Remove the bastion's public IPv4 address (Session Manager does not need it); keep it in a private subnet.",
			CLI:  "aws ec2 modify-network-interface-attribute --region {region} --network-interface-id ENI_ID --no-associate-public-ip-address",
		},
		Needs: bastionNeeds,
		eval: func(_ *Snapshot, db *DB) Result {
			return bastionCheck(db, "no public address on", func(b *EC2Instance) (string, *Result) {
				if b.PublicIP != "" {
					return "has public IP " + b.PublicIP, nil
				}
				return "", nil
			})
		},
	}
}

func checkBastionKeyPair() *Check {
	return &Check{
		ID: "bastion-key-pair", Title: "A bastion of the database was launched with an SSH key pair", Severity: SeverityMedium,
		fix:       fixBastionKeyPair,
		Catalog:   "NET-12 (no anchor runs it; the bastion guidance: no key pair)",
		Rationale: "A key pair is a long-lived shared secret that opens the bastion without IAM, without a session record, and from wherever the private key was copied. Session Manager needs none.",
		Remediation: Remediation{
			Text: "Remove the key from the bastion's authorized_keys and delete the key pair; reach the bastion through Session Manager only.",
		},
		Needs: bastionNeeds,
		eval: func(_ *Snapshot, db *DB) Result {
			return bastionCheck(db, "no key pair on", func(b *EC2Instance) (string, *Result) {
				if b.KeyName != "" {
					return "has key pair " + b.KeyName, nil
				}
				return "", nil
			})
		},
	}
}

func checkBastionSSHOpen() *Check {
	return &Check{
		ID: "bastion-ssh-open", Title: "A bastion of the database admits SSH from anywhere", Severity: SeverityHigh,
		fix:       fixBastionSSHOpen,
		Catalog:   "NET-12 (Security Hub EC2.13, Prowler ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22)",
		Rationale: "Port 22 open to 0.0.0.0/0 invites every SSH scanner to the host that can reach the database. Session Manager needs no inbound rule at all.",
		Remediation: Remediation{
			Text: "Remove the SSH rule from the bastion's security group.",
			CLI:  "aws ec2 revoke-security-group-ingress --region {region} --group-id SG_ID --protocol tcp --port 22 --cidr 0.0.0.0/0",
		},
		Needs: append(slices.Clone(bastionNeeds), "ec2:DescribeSecurityGroups"),
		eval: func(_ *Snapshot, db *DB) Result {
			ix := db.Region.index()
			return bastionCheck(db, "SSH not open to the world on", func(b *EC2Instance) (string, *Result) {
				var open []string
				for _, id := range b.SecurityGroups {
					sg := ix.sgs[id]
					if sg == nil {
						r := unknown(nil, "security group %s of bastion %s is not in the snapshot", id, b.ID)
						return "", &r
					}
					for _, r := range sg.Ingress {
						for _, c := range r.CIDRs {
							if isWorld(c) && r.coversPort(22) {
								open = append(open, fmt.Sprintf("%s allows %s from %s", sg.ID, r, c))
							}
						}
					}
				}
				return strings.Join(open, ", "), nil
			})
		},
	}
}

func checkBastionIMDSv1() *Check {
	return &Check{
		ID: "bastion-imdsv1", Title: "A bastion of the database allows IMDSv1", Severity: SeverityHigh,
		fix:       fixBastionIMDSv1,
		Catalog:   "NET-12 (Security Hub EC2.8, Prowler ec2_instance_imdsv2_enabled)",
		Rationale: "IMDSv1 answers any request that reaches 169.254.169.254, so a server-side request forgery on the bastion hands out its role's credentials. IMDSv2 requires a session token.",
		Remediation: Remediation{
			Text: "Require IMDSv2 (session tokens) on the bastion.",
			CLI:  "aws ec2 modify-instance-metadata-options --region {region} --instance-id INSTANCE_ID --http-tokens required --http-endpoint enabled",
		},
		Needs: bastionNeeds,
		eval: func(_ *Snapshot, db *DB) Result {
			return bastionCheck(db, "IMDSv2 required on", func(b *EC2Instance) (string, *Result) {
				switch b.HTTPTokens {
				case "required":
					return "", nil
				case "":
					r := unknown(nil, "EC2 did not report the metadata options of %s", b.ID)
					return "", &r
				}
				return "allows IMDSv1 (http-tokens " + b.HTTPTokens + ")", nil
			})
		},
	}
}
