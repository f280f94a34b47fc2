package posture

import (
	"fmt"
	"strings"
)

// Backup and deletion checks: BAK-01 backup-retention-low, BAK-03
// no-cross-region-backup, BAK-06 multi-az-off and production-multi-az-off,
// BAK-08 copy-tags-to-snapshot-off, DEL-01/02
// deletion-protection-off, DEL-03 no-delete-guard-policy.

// MinBackupRetention is the retention (days) backup-retention-low asks for.
const MinBackupRetention = 7

func checkBackupRetentionLow() *Check {
	return &Check{
		ID: "backup-retention-low", Title: fmt.Sprintf("Automated backups are kept fewer than %d days", MinBackupRetention), Severity: SeverityMedium,
		Catalog:   "BAK-01/02 (Security Hub RDS.11/RDS.26, CKV_AWS_133, AVD-AWS-0077)",
		Rationale: "Backups are the way back from ransomware, a bad migration or a deleted table; a retention of 0 turns automated backups (and point-in-time recovery) off.",
		Remediation: Remediation{
			Text:      fmt.Sprintf("Keep automated backups for at least %d days.", MinBackupRetention),
			CLI:       fmt.Sprintf("aws rds modify-{kind} --region {region} --{kind}-identifier {id} --backup-retention-period %d --apply-immediately", MinBackupRetention),
			Terraform: fmt.Sprintf("resource \"{tf}\" \"{id}\" {\n  backup_retention_period = %d\n}", MinBackupRetention),
		},
		eval: func(_ *Snapshot, db *DB) Result {
			days := 0
			if db.Cluster != nil {
				if db.Cluster.ReplicationSource != "" {
					return skip("replica of %s: backups are taken on the source", db.Cluster.ReplicationSource)
				}
				days = db.Cluster.BackupRetention
			} else {
				if db.Instance.ReadReplicaSource != "" {
					return skip("read replica of %s: backups are taken on the source", db.Instance.ReadReplicaSource)
				}
				days = db.Instance.BackupRetention
			}
			if days < MinBackupRetention {
				return fail("backup retention is %d days", days)
			}
			return pass("backup retention is %d days", days)
		},
	}
}

func checkNoCrossRegionBackup() *Check {
	return &Check{
		ID: "no-cross-region-backup", Title: "Backups are not copied to another region", Severity: SeverityMedium,
		fix:       fixCrossRegionBackup,
		Catalog:   "BAK-03 (no anchor runs it)",
		Rationale: "A regional outage, or an attacker with rights in the region, can take the database and its backups together; a copy in another region survives both.",
		Remediation: Remediation{
			Text:      "Replicate automated backups to another region (instances), or use a global database or AWS Backup cross-region copies (Aurora and Multi-AZ clusters).",
			CLI:       "aws rds start-db-instance-automated-backups-replication --region OTHER_REGION --source-db-instance-arn {arn} --backup-retention-period 7",
			Terraform: "resource \"aws_db_instance_automated_backups_replication\" \"{id}\" {\n  provider               = aws.other_region\n  source_db_instance_arn = \"{arn}\"\n  retention_period       = 7\n}",
		},
		eval: func(s *Snapshot, db *DB) Result {
			if db.Cluster != nil {
				if db.Cluster.ReplicationSource != "" {
					return skip("replica of %s", db.Cluster.ReplicationSource)
				}
				if db.Cluster.GlobalCluster != "" {
					return pass("member of global database %s", db.Cluster.GlobalCluster)
				}
				return fail("not in a global database (AWS Backup copy jobs are not inspected)")
			}
			if n := len(db.Instance.BackupReplications); n > 0 {
				return pass("automated backups replicated: %s", strings.Join(db.Instance.BackupReplications, ", "))
			}
			for i := range s.Regions {
				r := &s.Regions[i]
				if r == db.Region {
					continue
				}
				for _, b := range r.index().backupsBySrc[db.Instance.ARN] {
					return pass("automated backups replicated to %s (%s)", r.Name, b.Status)
				}
			}
			return fail("automated backups are not replicated to another region")
		},
	}
}

func checkMultiAZOff() *Check {
	return &Check{
		ID: "multi-az-off", Title: "Database runs in a single availability zone", Severity: SeverityLow,
		fix:       fixMultiAZ,
		Catalog:   "BAK-06 (Security Hub RDS.5/RDS.15, CKV_AWS_157)",
		Rationale: "A single-AZ database is down for as long as its zone or host is; Multi-AZ fails over in about a minute.",
		Remediation: Remediation{
			Text:      "Enable Multi-AZ (for Aurora, add a reader in another zone).",
			CLI:       "aws rds modify-db-instance --region {region} --db-instance-identifier {id} --multi-az --apply-immediately",
			Terraform: "resource \"aws_db_instance\" \"{id}\" {\n  multi_az = true\n}",
		},
		eval: func(_ *Snapshot, db *DB) Result { return multiAZ(db) },
	}
}

// multiAZ says whether db survives the loss of an availability zone.
func multiAZ(db *DB) Result {
	if db.Instance != nil {
		if db.Instance.ReadReplicaSource != "" {
			return skip("read replica")
		}
		if !db.Instance.MultiAZ {
			return fail("single-AZ instance")
		}
		return pass("Multi-AZ instance")
	}
	if len(db.Members) < len(db.Cluster.Members) {
		return unknown(db.Region.Failed("rds:DescribeDBInstances"), "%d of %d member instances are not in the snapshot", len(db.Cluster.Members)-len(db.Members), len(db.Cluster.Members))
	}
	if db.Cluster.MultiAZ || len(db.Members) >= 2 {
		return pass("cluster has %s", plural(len(db.Members), "instance"))
	}
	return fail("cluster has %s", plural(len(db.Members), "instance"))
}

func checkProductionMultiAZOff() *Check {
	return &Check{
		ID: "production-multi-az-off", Title: "A production database runs in a single availability zone", Severity: SeverityHigh,
		fix:       fixMultiAZ,
		Catalog:   "BAK-06 (Security Hub RDS.5/RDS.15, Prowler rds_instance_multi_az, CKV_AWS_157; for databases tagged as production)",
		Rationale: "multi-az-off is low for a test database; for one tagged as production a zone outage or a host failure is an outage of the service until RDS rebuilds it. The production tags are configurable.",
		Remediation: Remediation{
			Text:      "Enable Multi-AZ (for Aurora, add a reader in another zone).",
			CLI:       "aws rds modify-db-instance --region {region} --db-instance-identifier {id} --multi-az --apply-immediately",
			Terraform: "resource \"aws_db_instance\" \"{id}\" {\n  multi_az = true\n}",
		},
		eval: func(_ *Snapshot, db *DB) Result {
			m := db.options().Production
			tag := m.Match(db.Tags())
			if tag == "" {
				return skip("not tagged as production (%s)", m)
			}
			r := multiAZ(db)
			r.Detail = "tagged " + tag + ": " + r.Detail
			return r
		},
	}
}

func checkCopyTagsToSnapshotOff() *Check {
	return &Check{
		ID: "copy-tags-to-snapshot-off", Title: "Tags are not copied to snapshots", Severity: SeverityLow,
		Catalog:   "BAK-08 (Security Hub RDS.16/RDS.17, Prowler rds_instance_copy_tags_to_snapshots, rds_cluster_copy_tags_to_snapshots, CKV_AWS_313)",
		Rationale: "Snapshots without the database's tags escape the tag-based policies (who may restore, share or delete them, which backup plan keeps them) and cannot be traced to their owner.",
		Remediation: Remediation{
			Text:      "Copy tags to snapshots.",
			CLI:       "aws rds modify-{kind} --region {region} --{kind}-identifier {id} --copy-tags-to-snapshot --apply-immediately",
			Terraform: "resource \"{tf}\" \"{id}\" {\n  copy_tags_to_snapshot = true\n}",
		},
		eval: func(_ *Snapshot, db *DB) Result {
			if !db.settings().CopyTagsToSnapshot {
				return fail("CopyTagsToSnapshot is off")
			}
			return pass("CopyTagsToSnapshot is on")
		},
	}
}

func checkDeletionProtectionOff() *Check {
	return &Check{
		ID: "deletion-protection-off", Title: "Deletion protection is off", Severity: SeverityMedium,
		Catalog:   "DEL-01/02 (Security Hub RDS.7/RDS.8, CKV_AWS_293/139, AVD-AWS-0177/0343)",
		Rationale: "Deletion protection turns a one-call deletion (by mistake, a script or an attacker) into two deliberate steps.",
		Remediation: Remediation{
			Text:      "Enable deletion protection.",
			CLI:       "aws rds modify-{kind} --region {region} --{kind}-identifier {id} --deletion-protection --apply-immediately",
			Terraform: "resource \"{tf}\" \"{id}\" {\n  deletion_protection = true\n}",
		},
		eval: func(_ *Snapshot, db *DB) Result {
			on := false
			if db.Cluster != nil {
				on = db.Cluster.DeletionProtection
			} else {
				on = db.Instance.DeletionProtection
			}
			if !on {
				return fail("deletion protection is off")
			}
			return pass("deletion protection is on")
		},
	}
}
