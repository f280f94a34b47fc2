package posture

import "strings"

// MNT-01/02 auto-minor-upgrade-off.

func checkAutoMinorUpgradeOff() *Check {
	return &Check{
		ID: "auto-minor-upgrade-off", Title: "Automatic minor version upgrades are off", Severity: SeverityLow,
		fix:       fixAutoMinorUpgrade,
		Catalog:   "MNT-01/02 (Security Hub RDS.13/RDS.35, CKV_AWS_226)",
		Rationale: "Minor versions carry the engine's security fixes; with automatic upgrades they arrive in the maintenance window instead of never.",
		Remediation: Remediation{
			Text:      "Enable automatic minor version upgrades (for Aurora, on every member instance).",
			CLI:       "aws rds modify-db-instance --region {region} --db-instance-identifier INSTANCE --auto-minor-version-upgrade --apply-immediately",
			Terraform: "resource \"aws_db_instance\" \"{id}\" {\n  auto_minor_version_upgrade = true\n}",
		},
		membersOnly: true,
		eval: func(_ *Snapshot, db *DB) Result {
			if db.Instance != nil {
				if !db.Instance.AutoMinorUpgrade {
					return fail("automatic minor version upgrade is off")
				}
				return pass("automatic minor version upgrade is on")
			}
			if !db.Aurora() && !db.ClusterUnread {
				if !db.Cluster.AutoMinorUpgrade {
					return fail("automatic minor version upgrade is off on the cluster")
				}
				return pass("automatic minor version upgrade is on")
			}
			if len(db.Members) < len(db.Cluster.Members) {
				return unknown(db.Region.Failed("rds:DescribeDBInstances"), "%d of %d member instances are not in the snapshot", len(db.Cluster.Members)-len(db.Members), len(db.Cluster.Members))
			}
			if len(db.Members) == 0 {
				return skip("the cluster has no member instances")
			}
			var off []string
			for _, m := range db.Members {
				if !m.AutoMinorUpgrade {
					off = append(off, m.ID)
				}
			}
			if len(off) > 0 {
				return fail("off on members %s", strings.Join(off, ", "))
			}
			return pass("on for all %d members", len(db.Members))
		},
	}
}
