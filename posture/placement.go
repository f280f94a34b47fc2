package posture

import "strings"

// Placement checks: NET-11 default-port, NET-13 default-vpc.

// defaultPort is the engine's default port, or 0.
func defaultPort(engine string) int {
	switch {
	case family(engine) == "postgres":
		return 5432
	case family(engine) == "mysql":
		return 3306
	case strings.HasPrefix(engine, "oracle"):
		return 1521
	case strings.HasPrefix(engine, "sqlserver"):
		return 1433
	case strings.HasPrefix(engine, "db2"):
		return 50000
	}
	return 0
}

func checkDefaultPort() *Check {
	return &Check{
		ID: "default-port", Title: "Database listens on the engine's default port", Severity: SeverityLow,
		fix:       fixDefaultPort,
		Catalog:   "NET-11 (Security Hub RDS.23, Prowler rds_instance_non_default_port, rds_cluster_non_default_port)",
		Rationale: "Scanners and worms try 5432 and 3306 first; another port costs an attacker a scan and keeps the database out of the noise. It hides nothing from a determined one: the security groups stay the control.",
		Remediation: Remediation{
			Text: "Move the database to a non-default port, then update its security group rules and the clients.",
			CLI:  "aws rds modify-db-instance --region {region} --db-instance-identifier {id} --db-port-number NEW_PORT --apply-immediately",
		},
		eval: func(_ *Snapshot, db *DB) Result {
			def := defaultPort(db.Engine())
			if def == 0 {
				return skip("no default port known for engine %s", db.Engine())
			}
			port := 0
			if db.Cluster != nil {
				port = db.Cluster.Port
			} else {
				port = db.Instance.Port
			}
			if port == 0 {
				return unknown(nil, "RDS did not report the port")
			}
			if port == def {
				return fail("listens on %s's default port %d", db.Engine(), port)
			}
			return pass("listens on port %d (default %d)", port, def)
		},
	}
}

func checkDefaultVPC() *Check {
	return &Check{
		ID: "default-vpc", Title: "Database is in the region's default VPC", Severity: SeverityMedium,
		fix:       fixDefaultVPC,
		Catalog:   "NET-13 (no anchor runs it for databases)",
		Rationale: "Every subnet of a default VPC is public (routes to an internet gateway, public IPs on launch), and everything launched without a choice lands there: a database in it shares a network with whatever anyone started by accident.",
		Remediation: Remediation{
			Text: "Move the database to a subnet group of private subnets in a dedicated VPC.",
			CLI:  "aws rds modify-db-instance --region {region} --db-instance-identifier {id} --db-subnet-group-name PRIVATE_SUBNET_GROUP --apply-immediately",
		},
		Needs: []string{"ec2:DescribeVpcs"},
		eval: func(_ *Snapshot, db *DB) Result {
			id := db.VPC()
			if id == "" {
				return unknownSubnets(db)
			}
			vpc := db.Region.index().vpcs[id]
			if vpc == nil {
				return unknown(nil, "VPC %s is not in the snapshot", id)
			}
			if vpc.Default {
				return fail("%s is the default VPC", id)
			}
			return pass("%s is not the default VPC", id)
		},
	}
}
