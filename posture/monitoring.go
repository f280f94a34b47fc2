package posture

import (
	"slices"
	"strings"
)

// Monitoring checks: LOG-09 enhanced-monitoring-off, LOG-11
// event-subscription-missing.

// monitoringHolders are the resources that carry Enhanced Monitoring for
// db: the instance, a Multi-AZ DB cluster itself, or an Aurora cluster's
// members (Aurora sets it per instance).
func monitoringHolders(db *DB) (ids []string, intervals []int) {
	switch {
	case db.Instance != nil:
		return []string{db.Instance.ID}, []int{db.Instance.MonitoringInterval}
	case multiAZCluster(db) && !db.ClusterUnread:
		return []string{db.Cluster.ID}, []int{db.Cluster.MonitoringInterval}
	}
	for _, m := range db.Members {
		ids = append(ids, m.ID)
		intervals = append(intervals, m.MonitoringInterval)
	}
	return ids, intervals
}

func checkEnhancedMonitoringOff() *Check {
	return &Check{
		ID: "enhanced-monitoring-off", Title: "Enhanced Monitoring is off", Severity: SeverityLow,
		fix:       fixEnhancedMonitoring,
		Catalog:   "LOG-09 (Security Hub RDS.6, Prowler rds_instance_enhanced_monitoring_enabled, CKV_AWS_118)",
		Rationale: "Enhanced Monitoring shows the operating system's view (processes, memory, I/O) at up to one-second resolution: what an incident or a runaway query needs and CloudWatch's minute metrics hide.",
		Remediation: Remediation{
			Text: "Turn on Enhanced Monitoring (interval 60 s or less) with a monitoring role.",
			CLI:  "aws rds modify-db-instance --region {region} --db-instance-identifier INSTANCE --monitoring-interval 60 --monitoring-role-arn MONITORING_ROLE_ARN --apply-immediately",
		},
		membersOnly: true,
		eval: func(_ *Snapshot, db *DB) Result {
			if db.Kind == KindCluster && db.Aurora() && len(db.Members) < len(db.Cluster.Members) {
				return unknown(db.Region.Failed("rds:DescribeDBInstances"), "%d of %d member instances are not in the snapshot", len(db.Cluster.Members)-len(db.Members), len(db.Cluster.Members))
			}
			ids, intervals := monitoringHolders(db)
			if len(ids) == 0 {
				return skip("the cluster has no member instances")
			}
			var off []string
			for i, id := range ids {
				if intervals[i] == 0 {
					off = append(off, id)
				}
			}
			if len(off) > 0 {
				return fail("Enhanced Monitoring is off on %s", strings.Join(off, ", "))
			}
			return pass("Enhanced Monitoring is on (%d s)", slices.Max(intervals))
		},
	}
}

// criticalEvents are the event categories a database's subscriptions must
// cover, per source type (the Security Hub RDS.19/RDS.20/RDS.22 sets).
var criticalEvents = map[string][]string{
	"db-instance":       {"maintenance", "configuration change", "failure"},
	"db-cluster":        {"maintenance", "failure"},
	"db-security-group": {"configuration change", "failure"},
}

// eventSources are the source types whose critical events db's owners
// must hear about.
func eventSources(db *DB) []string {
	if db.Kind == KindCluster {
		return []string{"db-cluster", "db-security-group"}
	}
	return []string{"db-instance", "db-security-group"}
}

// uncoveredEvents returns the critical categories of source type st that
// no enabled subscription of r delivers for db.
func uncoveredEvents(r *Region, st, id string) []string {
	covered := map[string]bool{}
	for _, sub := range r.EventSubscriptions {
		if !sub.Enabled || (sub.Status != "" && sub.Status != "active") {
			continue
		}
		if sub.SourceType != "" && sub.SourceType != st {
			continue
		}
		// A subscription to named sources covers only those; security
		// groups are named by their own ids, which the database does not
		// carry, so only an all-groups subscription counts for them.
		if len(sub.SourceIDs) > 0 && (st == "db-security-group" || !slices.Contains(sub.SourceIDs, id)) {
			continue
		}
		if len(sub.Categories) == 0 {
			return nil
		}
		for _, c := range sub.Categories {
			covered[strings.ToLower(c)] = true
		}
	}
	var out []string
	for _, c := range criticalEvents[st] {
		if !covered[c] {
			out = append(out, c)
		}
	}
	return out
}

func checkEventSubscriptionMissing() *Check {
	return &Check{
		ID: "event-subscription-missing", Title: "No event subscription reports the database's critical events", Severity: SeverityLow,
		fix:       fixEventSubscription,
		Catalog:   "LOG-11 (Security Hub RDS.19/RDS.20/RDS.22, Prowler rds_instance_critical_event_subscription, rds_cluster_critical_event_subscription, rds_instance_event_subscription_security_groups)",
		Rationale: "Failovers, failures, forced maintenance and configuration changes (a security group or a parameter changed by someone) should reach a person when they happen, not at the next audit. Unlike Security Hub, an account with no subscription at all fails.",
		Remediation: Remediation{
			Text: "Subscribe an SNS topic to the failure, maintenance and configuration change events of the database and of the security groups.",
			CLI:  "aws rds create-event-subscription --region {region} --subscription-name rdsgate-critical --sns-topic-arn TOPIC_ARN --source-type db-instance --event-categories failure maintenance \"configuration change\"",
		},
		Needs: []string{"rds:DescribeEventSubscriptions"},
		eval: func(_ *Snapshot, db *DB) Result {
			var missing []string
			for _, st := range eventSources(db) {
				if u := uncoveredEvents(db.Region, st, db.ID()); len(u) > 0 {
					missing = append(missing, st+": "+strings.Join(u, ", "))
				}
			}
			if len(missing) > 0 {
				return fail("no enabled subscription for %s", strings.Join(missing, "; "))
			}
			return pass("critical %s events are subscribed to", strings.Join(eventSources(db), " and "))
		},
	}
}
