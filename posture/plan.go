package posture

import (
	"maps"
	"slices"
	"strings"
)

// PlanSource says where in a Terraform plan a database (or a cluster
// member) is planned, and which of its values the plan does not know.
// Package posture/tfplan sets it; a snapshot read from AWS has none.
type PlanSource struct {
	// Address is the resource address, e.g. module.db.aws_db_instance.main.
	Address string `json:"address"`
	// File is the file that defines the resource (the plan file when the
	// plan does not say) and Line the line in it (0: not known).
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	// Unknown maps a field of the snapshot (its JSON name, such as
	// "storage_encrypted", or one of the names in [planReads] for values
	// that are not one field, such as "security_groups" for the rules of
	// the database's security groups) to why it is not known:
	// [GapAfterApply] or [GapNotInPlan]. Checks that read it say unknown.
	Unknown map[string]GapKind `json:"unknown,omitempty"`
}

// planReads are, per check, the fields of a planned database (see
// [PlanSource.Unknown]) whose values decide it. A check not listed here
// says unknown when any field of a planned database is unknown. Checks
// that read things a plan never holds (trails, route tables, IAM) name
// them in Needs instead; the plan reader records those reads as failed
// with [CodeNotInPlan].
var planReads = map[string][]string{
	"public-access":                   {"publicly_accessible", "members"},
	"public-subnet":                   {"subnets", "subnet_group", "vpc"},
	"sg-open-ingress":                 {"security_groups", "port"},
	"sg-broad-ingress":                {"security_groups", "port"},
	"sg-egress":                       {"security_groups"},
	"nacl-broad":                      {"subnets", "subnet_group", "port"},
	"iam-auth-disabled":               {"iam_auth"},
	"default-master-username":         {"master_username"},
	"master-password-not-managed":     {"master_secret_arn"},
	"tls-not-enforced":                {"parameter_groups", "parameter_group", "engine", "engine_version"},
	"storage-unencrypted":             {"storage_encrypted"},
	"snapshot-public":                 {"db_snapshots"},
	"snapshot-unencrypted":            {"db_snapshots"},
	"snapshot-shared-unknown-account": {"db_snapshots"},
	"backup-retention-low":            {"backup_retention_days", "read_replica_source", "replication_source"},
	"no-cross-region-backup":          {"backup_replications", "global_cluster", "read_replica_source", "replication_source"},
	"deletion-protection-off":         {"deletion_protection"},
	"no-delete-guard-policy":          {"id", "arn"},
	"cloudtrail-off":                  {},
	"audit-logs-not-exported":         {"engine", "log_exports"},
	"no-outside-vpc-connection-alarm": {"id", "engine", "log_exports", "metric_filters"},
	"ca-expiring":                     {"ca_identifier", "cert_valid_till", "members"},
	"auto-minor-upgrade-off":          {"auto_minor_version_upgrade", "members"},
	"multi-az-off":                    {"multi_az", "read_replica_source", "members"},
	"production-multi-az-off":         {"tags", "multi_az", "read_replica_source", "members"},
	"engine-standard-support-ended":   {"engine", "engine_version", "engine_lifecycle_support"},
	"enhanced-monitoring-off":         {"monitoring_interval", "members"},
	"event-subscription-missing":      {"id"},
	"copy-tags-to-snapshot-off":       {"copy_tags_to_snapshot"},
	"default-port":                    {"port", "engine"},
	"default-vpc":                     {"vpc", "subnet_group"},
	"performance-insights-aws-key":    {"performance_insights", "performance_insights_kms_key_id", "members"},
	"bastion-public-ip":               {"vpc", "subnet_group"},
	"bastion-key-pair":                {"vpc", "subnet_group"},
	"bastion-ssh-open":                {"vpc", "subnet_group", "security_groups"},
	"bastion-imdsv1":                  {"vpc", "subnet_group"},
}

// Address is the Terraform resource address of a planned database; "" for
// one read from AWS.
func (d *DB) Address() string {
	if p := d.planned(); p != nil {
		return p.Address
	}
	return ""
}

// planned is the plan source of the instance or cluster, or nil.
func (d *DB) planned() *PlanSource {
	if d.Cluster != nil {
		return d.Cluster.Planned
	}
	return d.Instance.Planned
}

// planUnknown returns the fields of d (and of its members) that check id
// reads and the plan does not know, sorted, and the kind of the gap:
// [GapNotInPlan] when every one of them is missing from the plan,
// otherwise [GapAfterApply].
func (d *DB) planUnknown(id string) ([]string, GapKind) {
	all := map[string]GapKind{}
	add := func(p *PlanSource) {
		if p != nil {
			maps.Copy(all, p.Unknown)
		}
	}
	add(d.planned())
	for _, m := range d.Members {
		add(m.Planned)
	}
	if len(all) == 0 {
		return nil, ""
	}
	reads, listed := planReads[id]
	var out []string
	kind := GapNotInPlan
	for f, k := range all {
		if listed && !slices.Contains(reads, f) {
			continue
		}
		out = append(out, f)
		if k != GapNotInPlan {
			kind = GapAfterApply
		}
	}
	slices.Sort(out)
	return out, kind
}

// planUnknownResult is the result of a check whose fields the plan does
// not know.
func planUnknownResult(fields []string, kind GapKind) Result {
	why := "known only after apply"
	if kind == GapNotInPlan {
		why = "not in the plan"
	}
	r := unknown(nil, "%s: %s", why, strings.Join(fields, ", "))
	r.Reason = kind
	return r
}
