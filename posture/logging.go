package posture

import (
	"fmt"
	"slices"
	"strings"
)

// Logging checks: LOG-06 cloudtrail-off, LOG-01/02 audit-logs-not-exported,
// LOG-05 no-outside-vpc-connection-alarm.

func checkCloudTrailOff() *Check {
	return &Check{
		ID: "cloudtrail-off", Title: "No CloudTrail trail is logging in the region", Severity: SeverityHigh,
		Catalog:   "LOG-06 (Security Hub CloudTrail.1, CIS 3.1, CKV_AWS_67)",
		Rationale: "CloudTrail records who changed the database, its security groups and snapshots, and who read its master secret; without a trail that history is kept only 90 days and not where you can alarm on it.",
		Remediation: Remediation{
			Text:      "Create a multi-region trail and start logging.",
			CLI:       "aws cloudtrail create-trail --region {region} --name org-trail --s3-bucket-name BUCKET --is-multi-region-trail\naws cloudtrail start-logging --region {region} --name org-trail",
			Terraform: "resource \"aws_cloudtrail\" \"main\" {\n  name                  = \"org-trail\"\n  s3_bucket_name        = BUCKET\n  is_multi_region_trail = true\n  enable_logging        = true\n}",
		},
		Needs: []string{"cloudtrail:DescribeTrails"},
		eval: func(_ *Snapshot, db *DB) Result {
			r := db.Region
			var unread []string
			var missing []string
			stopped := 0
			for _, t := range r.Trails {
				if !t.MultiRegion && t.HomeRegion != r.Name {
					continue
				}
				switch {
				case t.IsLogging == nil:
					unread = append(unread, t.Name)
					for _, a := range r.failedFor(t.ARN, "cloudtrail:GetTrailStatus") {
						if !slices.Contains(missing, a) {
							missing = append(missing, a)
						}
					}
				case *t.IsLogging:
					return pass("trail %s is logging", t.Name)
				default:
					stopped++
				}
			}
			if len(unread) > 0 {
				return unknown(missing, "status of trails %s could not be read", strings.Join(unread, ", "))
			}
			if stopped > 0 {
				return fail("%s in %s, none logging", plural(stopped, "trail"), r.Name)
			}
			return fail("no trail covers %s", r.Name)
		},
	}
}

// RequiredLogExports are the CloudWatch Logs exports audit-logs-not-exported
// asks for, per engine (Security Hub RDS.9/RDS.34 sets, trimmed to what
// records connections and errors). Engines not listed are skipped.
var RequiredLogExports = map[string][]string{
	"postgres":          {"postgresql"},
	"aurora-postgresql": {"postgresql"},
	"mysql":             {"audit", "error", "general"},
	"mariadb":           {"audit", "error", "general"},
	"aurora-mysql":      {"audit", "error", "general"},
	"oracle-ee":         {"alert", "audit"},
	"oracle-se2":        {"alert", "audit"},
	"sqlserver-ee":      {"agent", "error"},
	"sqlserver-se":      {"agent", "error"},
	"sqlserver-ex":      {"error"},
	"sqlserver-web":     {"agent", "error"},
}

func logExports(db *DB) []string {
	if db.Cluster != nil {
		return db.Cluster.LogExports
	}
	return db.Instance.LogExports
}

func checkAuditLogsNotExported() *Check {
	return &Check{
		ID: "audit-logs-not-exported", Title: "Database logs are not exported to CloudWatch Logs", Severity: SeverityMedium,
		fix:       fixLogExports,
		Catalog:   "LOG-01/02 (Security Hub RDS.9/RDS.34, CKV_AWS_129)",
		Rationale: "Connection, audit and error logs kept only on the instance are lost with it and cannot be searched or alarmed on; exported to CloudWatch Logs they can (see no-outside-vpc-connection-alarm).",
		Remediation: Remediation{
			Text:      "Export the engine's logs (PostgreSQL: postgresql; MySQL/MariaDB: audit, error, general — audit needs the MARIADB_AUDIT_PLUGIN option or Aurora's server_audit_logging).",
			CLI:       "aws rds modify-{kind} --region {region} --{kind}-identifier {id} --cloudwatch-logs-export-configuration '{\"EnableLogTypes\":[LOG_TYPES]}' --apply-immediately",
			Terraform: "resource \"{tf}\" \"{id}\" {\n  enabled_cloudwatch_logs_exports = [LOG_TYPES]\n}",
		},
		eval: func(_ *Snapshot, db *DB) Result {
			want, ok := RequiredLogExports[db.Engine()]
			if !ok {
				return skip("no required log set for engine %s", db.Engine())
			}
			have := logExports(db)
			var missing []string
			for _, w := range want {
				if !slices.Contains(have, w) {
					missing = append(missing, w)
				}
			}
			if len(missing) > 0 {
				return fail("not exported: %s", strings.Join(missing, ", "))
			}
			return pass("exported: %s", strings.Join(want, ", "))
		},
	}
}

// connectionLog is the exported log that records connections for engine
// (with log_connections on PostgreSQL, the audit plugin on MySQL/MariaDB).
func connectionLog(engine string) string {
	switch family(engine) {
	case "postgres":
		return "postgresql"
	case "mysql":
		return "audit"
	}
	return ""
}

// LogGroupName is the CloudWatch Logs group RDS exports log of db to.
func LogGroupName(db *DB, log string) string {
	if db.Kind == KindCluster {
		return fmt.Sprintf("/aws/rds/cluster/%s/%s", db.ID(), log)
	}
	return fmt.Sprintf("/aws/rds/instance/%s/%s", db.ID(), log)
}

func checkNoOutsideVPCAlarm() *Check {
	return &Check{
		ID: "no-outside-vpc-connection-alarm", Title: "No alarm on connections from outside the VPC", Severity: SeverityMedium,
		fix:       fixOutsideVPCAlarm,
		Catalog:   "LOG-05 (no anchor runs it; guidance: metric filter CONNECT -localhost -<vpc prefix> plus an alarm)",
		Rationale: "Every legitimate connection comes from inside the VPC (through Session Manager or the application); one from anywhere else means the network controls failed and should page someone.",
		Remediation: Remediation{
			Text:      "Create a CloudWatch Logs metric filter on the database's connection log (PostgreSQL: postgresql with log_connections; MySQL/MariaDB: audit) that counts connections from outside the VPC, and an alarm on it with an action.",
			CLI:       "aws logs put-metric-filter --region {region} --log-group-name /aws/rds/{kind}/{id}/LOG --filter-name rdsgate-outside-vpc-{id} --filter-pattern PATTERN --metric-transformations metricName=OutsideVPCConnections-{id},metricNamespace=rdsgate,metricValue=1,defaultValue=0\naws cloudwatch put-metric-alarm --region {region} --alarm-name rdsgate-outside-vpc-connection-{id} --namespace rdsgate --metric-name OutsideVPCConnections-{id} --statistic Sum --period 300 --evaluation-periods 1 --threshold 1 --comparison-operator GreaterThanOrEqualToThreshold --alarm-actions TOPIC_ARN",
			Terraform: "resource \"aws_cloudwatch_log_metric_filter\" \"{id}_outside_vpc\" { /* ... */ }\nresource \"aws_cloudwatch_metric_alarm\" \"{id}_outside_vpc\" { /* ... */ }",
		},
		// cloudwatch:DescribeAlarms matters only once a filter is found.
		Needs: []string{"logs:DescribeMetricFilters"},
		eval: func(_ *Snapshot, db *DB) Result {
			log := connectionLog(db.Engine())
			if log == "" {
				return skip("engine %s is not covered", db.Engine())
			}
			group := LogGroupName(db, log)
			ix := db.Region.index()
			var noActions []string
			filters := 0
			for _, f := range ix.filters[group] {
				if !strings.Contains(strings.ToLower(f.Pattern), "connect") {
					continue
				}
				filters++
				for _, a := range ix.alarms[f.Namespace+"\x00"+f.Metric] {
					if a.ActionsEnabled && len(a.Actions) > 0 {
						return pass("alarm %s on metric filter %s", a.Name, f.Name)
					}
					noActions = append(noActions, a.Name)
				}
			}
			switch {
			case len(noActions) > 0:
				return fail("alarms without actions: %s", strings.Join(noActions, ", "))
			case filters > 0 && len(db.Region.Failed("cloudwatch:DescribeAlarms")) > 0:
				return unknown(db.Region.Failed("cloudwatch:DescribeAlarms"), "a connection metric filter exists on %s; its alarms could not be read", group)
			case false:
				return fail("alarms without actions: %s", strings.Join(noActions, ", "))
			case filters > 0:
				return fail("a connection metric filter on %s has no alarm", group)
			case !slices.Contains(logExports(db), log):
				return fail("the %s log is not exported, so there is nothing to filter", log)
			}
			return fail("no connection metric filter on %s", group)
		},
	}
}
