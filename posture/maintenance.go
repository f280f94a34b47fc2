package posture

import (
	"cmp"
	"strconv"
	"strings"
	"time"
)

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

// MNT-04 engine-standard-support-ended.

// StandardSupportEnds is the end of RDS standard support per engine and
// major version (from the RDS and Aurora release calendars). After it
// RDS bills Extended Support for the instance, or upgrades it when
// Extended Support was declined. Majors newer than every listed one are
// taken as supported; older ones as past their end.
var StandardSupportEnds = map[string]map[string]string{
	"postgres": {
		"11": "2024-02-29", "12": "2025-02-28", "13": "2026-02-28", "14": "2027-02-28",
		"15": "2028-02-29", "16": "2029-02-28", "17": "2030-02-28",
	},
	"aurora-postgresql": {
		"11": "2024-02-29", "12": "2025-02-28", "13": "2026-02-28", "14": "2027-02-28",
		"15": "2028-02-29", "16": "2029-02-28",
	},
	"mysql": {"5.7": "2024-02-29", "8.0": "2026-07-31", "8.4": "2029-07-31"},
	// Aurora MySQL majors: 2 is MySQL 5.7 compatible, 3 is 8.0.
	"aurora-mysql": {"2": "2024-10-31"},
}

// supportMajor is the major version the support calendar lists for
// engine: "16" of PostgreSQL 16.3, "8.0" of MySQL 8.0.35, "3" of Aurora
// MySQL 8.0.mysql_aurora.3.05.2.
func supportMajor(engine, version string) string {
	parts := strings.Split(version, ".")
	switch {
	case engine == "aurora-mysql":
		if i := strings.Index(version, "mysql_aurora."); i >= 0 {
			return strings.SplitN(version[i+len("mysql_aurora."):], ".", 2)[0]
		}
		return ""
	case family(engine) == "mysql" && len(parts) >= 2:
		return parts[0] + "." + parts[1]
	}
	return parts[0]
}

// compareVersions compares dotted numeric versions ("8.0" < "8.4" < "11").
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return cmp.Compare(x, y)
		}
	}
	return 0
}

func checkEngineStandardSupportEnded() *Check {
	return &Check{
		ID: "engine-standard-support-ended", Title: "Engine version is past the end of RDS standard support", Severity: SeverityMedium,
		fix:       fixEngineUpgrade,
		Catalog:   "MNT-04 (Prowler rds_instance_extended_support; Security Hub RDS.51 for global clusters)",
		Rationale: "Past the end of standard support RDS charges Extended Support per vCPU-hour (or upgrades the database on its own schedule), and the community no longer fixes the major version.",
		Remediation: Remediation{
			Text: "Upgrade to a major version in standard support (test the upgrade on a snapshot restore first).",
			CLI:  "aws rds modify-{kind} --region {region} --{kind}-identifier {id} --engine-version TARGET_VERSION --allow-major-version-upgrade --apply-immediately",
		},
		eval: func(s *Snapshot, db *DB) Result {
			table := StandardSupportEnds[db.Engine()]
			if table == nil {
				return skip("no standard-support calendar for %s (RDS offers no Extended Support for it)", db.Engine())
			}
			major := supportMajor(db.Engine(), db.EngineVersion())
			if major == "" {
				return unknown(nil, "RDS did not report a version of %s rdsgate can read (%q)", db.Engine(), db.EngineVersion())
			}
			paid := ""
			if db.settings().EngineLifecycleSupport == "open-source-rds-extended-support" {
				paid = "; Extended Support is billed"
			}
			end, listed := table[major]
			if !listed {
				newest := ""
				for v := range table {
					if newest == "" || compareVersions(v, newest) > 0 {
						newest = v
					}
				}
				if compareVersions(major, newest) > 0 {
					return pass("%s %s is newer than every version with a known end of standard support", db.Engine(), major)
				}
				return fail("%s %s is older than every version still listed: its standard support has ended%s", db.Engine(), major, paid)
			}
			t, err := time.Parse(time.DateOnly, end)
			if err != nil {
				return unknown(nil, "bad date %q in the support calendar", end)
			}
			if !s.CollectedAt.Before(t.Add(24 * time.Hour)) {
				return fail("standard support of %s %s ended on %s%s", db.Engine(), major, end, paid)
			}
			return pass("standard support of %s %s runs until %s", db.Engine(), major, end)
		},
	}
}
