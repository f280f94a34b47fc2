package posture

import (
	"fmt"
	"slices"
	"strings"
)

// Data-at-rest checks: ENC-01 storage-unencrypted, NET-10 snapshot-public
// and snapshot-shared-unknown-account, ENC-04 snapshot-unencrypted, ENC-05
// performance-insights-aws-key.

func checkStorageUnencrypted() *Check {
	return &Check{
		ID: "storage-unencrypted", Title: "Storage is not encrypted at rest", Severity: SeverityHigh,
		fix:       fixStorageUnencrypted,
		Catalog:   "ENC-01 (Security Hub RDS.3, CKV_AWS_16, AVD-AWS-0080/0079)",
		Rationale: "Unencrypted storage leaves data readable in volumes, snapshots, replicas and backups. Encryption can only be chosen at creation.",
		Remediation: Remediation{
			Text:      "Copy a snapshot with encryption and restore from it, then switch over.",
			CLI:       "aws rds copy-db-snapshot --region {region} --source-db-snapshot-identifier SNAPSHOT --target-db-snapshot-identifier {id}-encrypted --kms-key-id alias/aws/rds\naws rds restore-db-instance-from-db-snapshot --region {region} --db-instance-identifier {id}-encrypted --db-snapshot-identifier {id}-encrypted",
			Terraform: "resource \"{tf}\" \"{id}\" {\n  storage_encrypted = true # forces a new resource\n}",
		},
		eval: func(_ *Snapshot, db *DB) Result {
			enc := false
			if db.Cluster != nil {
				enc = db.Cluster.StorageEncrypted
			} else {
				enc = db.Instance.StorageEncrypted
			}
			if !enc {
				return fail("storage is not encrypted")
			}
			return pass("storage is encrypted")
		},
	}
}

// dbSnapshots returns db's snapshots and the actions that read them.
func dbSnapshots(db *DB) (snaps []*DBSnapshot, list, attrs string) {
	cluster := db.Kind == KindCluster
	for _, s := range db.Region.index().snapshots[db.ID()] {
		if s.Cluster == cluster {
			snaps = append(snaps, s)
		}
	}
	if cluster {
		return snaps, "rds:DescribeDBClusterSnapshots", "rds:DescribeDBClusterSnapshotAttributes"
	}
	return snaps, "rds:DescribeDBSnapshots", "rds:DescribeDBSnapshotAttributes"
}

func checkSnapshotPublic() *Check {
	return &Check{
		ID: "snapshot-public", Title: "A snapshot of the database is public", Severity: SeverityCritical,
		fix:       fixSnapshotPublic,
		Catalog:   "NET-10 (Security Hub RDS.1, Prowler rds_snapshots_public_access, CKV_AWS_302)",
		Rationale: "Any AWS account can restore a public snapshot and read every row.",
		Remediation: Remediation{
			Text:      "Remove \"all\" from the snapshot's restore attribute.",
			CLI:       "aws rds modify-db-snapshot-attribute --region {region} --db-snapshot-identifier SNAPSHOT --attribute-name restore --values-to-remove all",
			Terraform: "resource \"aws_db_snapshot\" \"{id}\" {\n  shared_accounts = [] # never \"all\"\n}",
		},
		eval: func(_ *Snapshot, db *DB) Result {
			snaps, list, attrs := dbSnapshots(db)
			if m := db.Region.Failed(list); len(m) > 0 {
				return unknown(m, "snapshots could not be listed")
			}
			var public, unread []string
			var missing []string
			for _, s := range snaps {
				if s.Type != "manual" {
					continue // only manual snapshots can be shared
				}
				if !s.AttributesRead {
					unread = append(unread, s.ID)
					if m := db.Region.failedFor(s.ID, attrs); len(m) > 0 && len(missing) == 0 {
						missing = m
					}
					continue
				}
				for _, a := range s.RestoreAccounts {
					if a == "all" {
						public = append(public, s.ID)
					}
				}
			}
			if len(public) > 0 {
				return fail("public snapshots: %s", strings.Join(public, ", "))
			}
			if len(unread) > 0 {
				return unknown(missing, "sharing of %s could not be read", strings.Join(unread, ", "))
			}
			return pass("no public snapshot among %d", len(snaps))
		},
	}
}

func checkSnapshotUnencrypted() *Check {
	return &Check{
		ID: "snapshot-unencrypted", Title: "A snapshot of the database is not encrypted", Severity: SeverityMedium,
		fix:       fixSnapshotUnencrypted,
		Catalog:   "ENC-04 (Prowler rds_snapshots_encrypted, CKV_AWS_146)",
		Rationale: "An unencrypted snapshot is a full, readable copy of the data that outlives the database.",
		Remediation: Remediation{
			Text:      "Copy the snapshot with a KMS key and delete the unencrypted one.",
			CLI:       "aws rds copy-db-snapshot --region {region} --source-db-snapshot-identifier SNAPSHOT --target-db-snapshot-identifier SNAPSHOT-encrypted --kms-key-id alias/aws/rds\naws rds delete-db-snapshot --region {region} --db-snapshot-identifier SNAPSHOT",
			Terraform: "resource \"aws_db_snapshot_copy\" \"{id}\" {\n  kms_key_id = KMS_KEY_ARN\n}",
		},
		eval: func(_ *Snapshot, db *DB) Result {
			snaps, list, _ := dbSnapshots(db)
			if m := db.Region.Failed(list); len(m) > 0 {
				return unknown(m, "snapshots could not be listed")
			}
			var plain []string
			for _, s := range snaps {
				if !s.Encrypted {
					plain = append(plain, s.ID)
				}
			}
			if len(plain) > 0 {
				return fail("unencrypted snapshots: %s", strings.Join(plain, ", "))
			}
			return pass("%s", plural(len(snaps), "snapshot")+" all encrypted")
		},
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func checkSnapshotSharedUnknownAccount() *Check {
	return &Check{
		ID: "snapshot-shared-unknown-account", Title: "A snapshot of the database is shared with an account not known to be trusted", Severity: SeverityHigh,
		fix:       fixSnapshotShared,
		Catalog:   "NET-10 extension (Steampipe aws_perimeter shared_with_trusted_accounts; Prowler rds_snapshots_public_access covers only \"all\")",
		Rationale: "Whoever controls an account a snapshot is shared with can restore it and read every row; an account that is neither this one nor a trusted one is a copy of the data outside your control.",
		Remediation: Remediation{
			Text: "Stop sharing the snapshot with the account (or add the account to the trusted list if it is yours).",
			CLI:  "aws rds modify-db-snapshot-attribute --region {region} --db-snapshot-identifier SNAPSHOT --attribute-name restore --values-to-remove ACCOUNT_ID",
		},
		eval: func(s *Snapshot, db *DB) Result {
			snaps, list, attrs := dbSnapshots(db)
			if m := db.Region.Failed(list); len(m) > 0 {
				return unknown(m, "snapshots could not be listed")
			}
			trusted := append([]string{s.Account}, db.options().TrustedAccounts...)
			var shared, unread, missing []string
			for _, sn := range snaps {
				if sn.Type != "manual" {
					continue
				}
				if !sn.AttributesRead {
					unread = append(unread, sn.ID)
					if m := db.Region.failedFor(sn.ID, attrs); len(m) > 0 && len(missing) == 0 {
						missing = m
					}
					continue
				}
				for _, a := range sn.RestoreAccounts {
					if a != "all" && (a == "" || !slices.Contains(trusted, a)) {
						shared = append(shared, sn.ID+" with "+a)
					}
				}
			}
			if len(shared) > 0 {
				return fail("shared with untrusted accounts: %s", strings.Join(shared, ", "))
			}
			if len(unread) > 0 {
				return unknown(missing, "sharing of %s could not be read", strings.Join(unread, ", "))
			}
			return pass("no snapshot shared outside the trusted accounts")
		},
	}
}

// piHolders are the resources with Performance Insights on for db, with
// their keys: the instance, or the cluster and its members.
func piHolders(db *DB) (ids, keys []string) {
	add := func(id string, st *Settings) {
		if st.PerformanceInsights {
			ids, keys = append(ids, id), append(keys, st.PerformanceInsightsKMSKeyID)
		}
	}
	if db.Instance != nil {
		add(db.Instance.ID, &db.Instance.Settings)
		return ids, keys
	}
	if !db.ClusterUnread {
		add(db.Cluster.ID, &db.Cluster.Settings)
	}
	for _, m := range db.Members {
		add(m.ID, &m.Settings)
	}
	return ids, keys
}

// kmsKey finds the key named by an ARN (or a bare key id) in r.
func kmsKey(r *Region, id string) *KMSKey {
	for i := range r.KMSKeys {
		k := &r.KMSKeys[i]
		if k.ARN == id || strings.HasSuffix(k.ARN, "/"+id) {
			return k
		}
	}
	return nil
}

func checkPerformanceInsightsAWSKey() *Check {
	return &Check{
		ID: "performance-insights-aws-key", Title: "Performance Insights data is not encrypted with a customer-managed key", Severity: SeverityLow,
		fix:       fixPerformanceInsightsKey,
		Catalog:   "ENC-05 (CKV_AWS_354, AVD-AWS-0078)",
		Rationale: "Performance Insights keeps query texts, which carry data; under the AWS-managed aws/rds key anyone allowed to use that key in the account can read them, and the key's policy cannot be narrowed.",
		Remediation: Remediation{
			Text: "Re-enable Performance Insights with a customer-managed KMS key.",
		},
		Needs:       []string{"kms:DescribeKey"},
		membersOnly: true,
		eval: func(_ *Snapshot, db *DB) Result {
			ids, keys := piHolders(db)
			if len(ids) == 0 {
				return skip("Performance Insights is off")
			}
			var bad []string
			for i, id := range ids {
				if keys[i] == "" {
					bad = append(bad, id+" (no key reported)")
					continue
				}
				k := kmsKey(db.Region, keys[i])
				if k == nil {
					return unknown(db.Region.failedFor(keys[i], "kms:DescribeKey"), "key %s of %s could not be described", keys[i], id)
				}
				if k.Manager != "CUSTOMER" {
					bad = append(bad, id+" (AWS-managed key "+keys[i]+")")
				}
			}
			if len(bad) > 0 {
				return fail("Performance Insights under an AWS-managed key: %s", strings.Join(bad, ", "))
			}
			return pass("Performance Insights encrypted with customer-managed keys")
		},
	}
}
