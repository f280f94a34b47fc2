package posture

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Transport checks: TLS-01/02 tls-not-enforced, TLS-04 ca-expiring.

// tlsParameter is the parameter that makes an engine refuse plain
// connections, or "" when the check does not apply.
func tlsParameter(engine string) string {
	switch {
	case family(engine) == "postgres" || strings.HasPrefix(engine, "sqlserver"):
		return "rds.force_ssl"
	case family(engine) == "mysql":
		return "require_secure_transport"
	}
	return ""
}

// truthy normalises parameter values: RDS MySQL says 1/0, Aurora MySQL and
// MariaDB ON/OFF.
func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "on", "true", "yes":
		return true
	}
	return false
}

// majorVersion is the number before the first dot of v, or 0.
func majorVersion(v string) int {
	n, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	return n
}

// dbParameterGroup returns the parameter group that holds db's TLS and
// logging settings (a cluster's cluster parameter group, an instance's DB
// parameter group) and the action that reads it.
func dbParameterGroup(db *DB) (name string, cluster bool, action string) {
	if db.Cluster != nil {
		return db.Cluster.ParameterGroup, true, "rds:DescribeDBClusterParameters"
	}
	if len(db.Instance.ParameterGroups) > 0 {
		return db.Instance.ParameterGroups[0], false, "rds:DescribeDBParameters"
	}
	return "", false, "rds:DescribeDBParameters"
}

func checkTLSNotEnforced() *Check {
	return &Check{
		ID: "tls-not-enforced", Title: "Database accepts unencrypted connections", Severity: SeverityHigh,
		fix:       fixTLS,
		Catalog:   "TLS-01/02 (Security Hub RDS.44/RDS.45-style, CKV2_AWS_69)",
		Rationale: "Without rds.force_ssl (PostgreSQL, SQL Server) or require_secure_transport (MySQL, MariaDB) a client that forgets TLS sends its password, or IAM token, and data in clear.",
		Remediation: Remediation{
			Text:      "Set the parameter to 1 (ON) in a custom parameter group attached to the database (for Aurora, the cluster parameter group).",
			CLI:       "aws rds modify-db-parameter-group --region {region} --db-parameter-group-name PARAM_GROUP --parameters ParameterName=rds.force_ssl,ParameterValue=1,ApplyMethod=immediate\n# MySQL/MariaDB: ParameterName=require_secure_transport,ParameterValue=1; Aurora: modify-db-cluster-parameter-group",
			Terraform: "resource \"aws_db_parameter_group\" \"{id}\" {\n  parameter {\n    name  = \"rds.force_ssl\" # require_secure_transport for MySQL/MariaDB\n    value = \"1\"\n  }\n}",
		},
		eval: func(_ *Snapshot, db *DB) Result {
			param := tlsParameter(db.Engine())
			if param == "" {
				return skip("engine %s has no TLS-enforcing parameter (use the option group)", db.Engine())
			}
			name, cluster, action := dbParameterGroup(db)
			if name == "" {
				return unknown(nil, "RDS did not report the parameter group")
			}
			g := db.Region.index().params[paramKey(cluster, name)]
			if g == nil {
				if m := db.Region.failedFor(name, action); len(m) > 0 {
					return unknown(m, "parameter group %s could not be read", name)
				}
				return unknown(nil, "parameter group %s is not in the snapshot", name)
			}
			v, set := g.Parameters[param]
			if !set {
				if db.Engine() == "postgres" && majorVersion(db.EngineVersion()) >= 15 {
					return pass("%s is on (engine default for PostgreSQL %s)", param, db.EngineVersion())
				}
				return fail("%s is not set in %s (engine default: off)", param, name)
			}
			if !truthy(v) {
				return fail("%s = %s in %s", param, v, name)
			}
			return pass("%s = %s in %s", param, v, name)
		},
	}
}

// currentCAs are the RDS certificate authorities valid until 2061 or later.
var currentCAs = map[string]bool{"rds-ca-rsa2048-g1": true, "rds-ca-rsa4096-g1": true, "rds-ca-ecc384-g1": true}

// CAExpiryWindow is how close to its expiry a server certificate fails
// ca-expiring.
const CAExpiryWindow = 90 * 24 * time.Hour

func checkCAExpiring() *Check {
	return &Check{
		ID: "ca-expiring", Title: "Server certificate or its CA expires soon or is outdated", Severity: SeverityMedium,
		fix:       fixCA,
		Catalog:   "TLS-04 (Prowler rds_instance_certificate_expiration, CKV_AWS_211)",
		Rationale: "When the server certificate or its CA expires, clients that verify TLS (rdsgate always does) can no longer connect; rds-ca-2019 expired in August 2024.",
		Remediation: Remediation{
			Text:      "Rotate to a current CA (rds-ca-rsa2048-g1 or newer).",
			CLI:       "aws rds modify-db-instance --region {region} --db-instance-identifier INSTANCE --ca-certificate-identifier rds-ca-rsa2048-g1 --apply-immediately",
			Terraform: "resource \"aws_db_instance\" \"{id}\" {\n  ca_cert_identifier = \"rds-ca-rsa2048-g1\"\n}",
		},
		membersOnly: true,
		eval: func(s *Snapshot, db *DB) Result {
			insts := db.Members
			if db.Instance != nil {
				insts = []*Instance{db.Instance}
			}
			if len(insts) == 0 {
				return skip("the cluster has no member instances")
			}
			var bad, unk []string
			for _, in := range insts {
				switch {
				case in.CertValidTill != nil:
					if in.CertValidTill.Sub(s.CollectedAt) < CAExpiryWindow {
						bad = append(bad, fmt.Sprintf("%s: certificate valid till %s", in.ID, in.CertValidTill.UTC().Format(time.DateOnly)))
					}
				case in.CAIdentifier == "rds-ca-2019" || in.CAIdentifier == "rds-ca-2015":
					bad = append(bad, fmt.Sprintf("%s: CA %s has expired", in.ID, in.CAIdentifier))
				case currentCAs[in.CAIdentifier]:
				default:
					unk = append(unk, in.ID)
				}
			}
			if len(bad) > 0 {
				return fail("%s", strings.Join(bad, "; "))
			}
			if len(unk) > 0 {
				return unknown(nil, "RDS reported neither the certificate expiry nor a known CA for %s", strings.Join(unk, ", "))
			}
			return pass("certificates and CAs are valid for at least %d days", int(CAExpiryWindow.Hours()/24))
		},
	}
}
