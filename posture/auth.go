package posture

import (
	"strings"
)

// Authentication checks: AUTH-01/02 iam-auth-disabled, AUTH-03
// default-master-username, AUTH-04 master-password-not-managed.

// iamAuthEngines are the engines that support IAM database authentication.
func iamAuthEngine(engine string) bool { return family(engine) != "" }

func checkIAMAuthDisabled() *Check {
	return &Check{
		ID: "iam-auth-disabled", Title: "IAM database authentication is off", Severity: SeverityHigh,
		Catalog:   "AUTH-01/02 (Security Hub RDS.10/RDS.12, CKV_AWS_161/162, AVD-AWS-0176)",
		Rationale: "With IAM authentication every person and program signs in with its own AWS identity and a 15-minute token; without it, database passwords get shared and never expire. rdsgate needs it.",
		Remediation: Remediation{
			Text:      "Enable IAM database authentication (for Aurora, on the cluster).",
			CLI:       "aws rds modify-{kind} --region {region} --{kind}-identifier {id} --enable-iam-database-authentication --apply-immediately",
			Terraform: "resource \"{tf}\" \"{id}\" {\n  iam_database_authentication_enabled = true\n}",
		},
		eval: func(_ *Snapshot, db *DB) Result {
			if !iamAuthEngine(db.Engine()) {
				return skip("engine %s does not support IAM database authentication", db.Engine())
			}
			on := false
			if db.Cluster != nil {
				on = db.Cluster.IAMAuth
			} else {
				on = db.Instance.IAMAuth
			}
			if !on {
				return fail("IAM database authentication is disabled")
			}
			return pass("IAM database authentication is enabled")
		},
	}
}

// DefaultMasterUsernames are the master user names the
// default-master-username check rejects (case-insensitive): engine
// defaults and names every scanner tries first.
var DefaultMasterUsernames = []string{
	"admin", "administrator", "postgres", "root", "master", "masteruser", "sa", "dbadmin",
	"mysql", "mariadb", "rdsadmin", "user", "test", "dba", "sysadmin", "awsuser", "system",
}

func masterUser(db *DB) string {
	if db.Cluster != nil {
		return db.Cluster.MasterUsername
	}
	return db.Instance.MasterUsername
}

func checkDefaultMasterUsername() *Check {
	return &Check{
		ID: "default-master-username", Title: "Master user has a default or guessable name", Severity: SeverityMedium,
		fix:       fixDefaultMasterUsername,
		Catalog:   "AUTH-03 (Security Hub RDS.24/RDS.25, extended list)",
		Rationale: "A well-known master user name (admin, postgres, root, ...) halves the work of a password-guessing attack. The name can only be set at creation.",
		Remediation: Remediation{
			Text:      "Create a new database from a snapshot with a non-default master user name; use IAM-authenticated users for everything else.",
			CLI:       "aws rds restore-db-instance-from-db-snapshot --region {region} --db-instance-identifier {id}-new --db-snapshot-identifier SNAPSHOT  # then rename users in SQL; the master user name cannot be modified",
			Terraform: "resource \"{tf}\" \"{id}\" {\n  # username / master_username forces a new resource\n  master_username = \"a_non_default_name\"\n}",
		},
		eval: func(_ *Snapshot, db *DB) Result {
			u := masterUser(db)
			if u == "" {
				return unknown(nil, "RDS did not report the master user name")
			}
			for _, d := range DefaultMasterUsernames {
				if strings.EqualFold(u, d) {
					return fail("master user name %q is a default", u)
				}
			}
			return pass("master user name is not a default")
		},
	}
}

func checkMasterPasswordNotManaged() *Check {
	return &Check{
		ID: "master-password-not-managed", Title: "Master password is not managed in Secrets Manager", Severity: SeverityMedium,
		Catalog:   "AUTH-04 (no anchor reads MasterUserSecret)",
		Rationale: "When RDS manages the master password in Secrets Manager nobody has to know it, it is rotated, and every read is in CloudTrail. A password set by hand lives in scripts and wikis.",
		Remediation: Remediation{
			Text:      "Let RDS manage the master password in Secrets Manager.",
			CLI:       "aws rds modify-{kind} --region {region} --{kind}-identifier {id} --manage-master-user-password --apply-immediately",
			Terraform: "resource \"{tf}\" \"{id}\" {\n  manage_master_user_password = true\n  # and remove password / master_password\n}",
		},
		eval: func(_ *Snapshot, db *DB) Result {
			arn := ""
			if db.Cluster != nil {
				arn = db.Cluster.MasterSecretARN
			} else {
				arn = db.Instance.MasterSecretARN
			}
			if arn == "" {
				return fail("no RDS-managed master secret")
			}
			if sec := db.Region.index().secrets[arn]; sec != nil && !sec.RotationEnabled {
				return pass("master password is managed by RDS in %s (rotation is off)", sec.Name)
			}
			return pass("master password is managed by RDS in Secrets Manager")
		},
	}
}
