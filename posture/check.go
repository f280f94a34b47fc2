package posture

import (
	"fmt"
	"slices"
	"strings"
)

// Severity ranks a failed check.
type Severity string

// Severities, from worst to mildest.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
)

// Rank orders severities: critical 4, high 3, medium 2, low 1, other 0.
func (s Severity) Rank() int {
	switch s {
	case SeverityCritical:
		return 4
	case SeverityHigh:
		return 3
	case SeverityMedium:
		return 2
	case SeverityLow:
		return 1
	}
	return 0
}

// ParseSeverity parses "critical", "high", "medium" or "low" (any case).
func ParseSeverity(s string) (Severity, error) {
	sev := Severity(strings.ToLower(strings.TrimSpace(s)))
	if sev.Rank() == 0 {
		return "", fmt.Errorf("posture: unknown severity %q (want critical, high, medium or low)", s)
	}
	return sev, nil
}

// Status is the outcome of one check on one database.
type Status string

// Statuses.
const (
	StatusPass Status = "pass"
	StatusFail Status = "fail"
	// StatusUnknown: the data the check needs could not be collected
	// (Result.MissingActions names the API actions) or is not reported.
	StatusUnknown Status = "unknown"
	// StatusSkip: the check does not apply to this database (an engine or
	// kind it is not about); Detail says why.
	StatusSkip Status = "skip"
)

// Result is what a check says about one database.
type Result struct {
	Status Status `json:"status"`
	Detail string `json:"detail"`
	// MissingActions are the API actions whose data was not available
	// (set with StatusUnknown).
	MissingActions []string `json:"missing_actions,omitempty"`
	// Reason says why an unknown result is unknown (set with
	// StatusUnknown by [Check.Evaluate]).
	Reason GapKind `json:"reason,omitempty"`
}

// Remediation is how to fix a failed check, as copy-paste snippets. The
// placeholders {id}, {region}, {port}, {arn}, {engine}, {kind}
// ("db-instance" or "db-cluster") and {tf} ("aws_db_instance" or
// "aws_rds_cluster") are filled in
// for a database by [Check.RemediationFor].
type Remediation struct {
	Text      string `json:"text"`
	CLI       string `json:"cli"`
	Terraform string `json:"terraform"`
}

// Check is one posture rule. Its ID is stable: reports, baselines and
// suppressions refer to it.
type Check struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
	// Catalog is the check's label in rdsgate's hardening catalog, an area
	// and a number (NET network, ENC encryption, AUTH authentication, TLS,
	// BAK backups, DEL deletion, LOG logging, MNT maintenance; e.g.
	// "NET-01"), followed by the rules of other tools that check the same
	// thing (Security Hub controls, Checkov CKV_*, Prowler, Trivy AVD-*), or
	// "no anchor runs it" when none does.
	Catalog     string      `json:"catalog"`
	Rationale   string      `json:"rationale"`
	Remediation Remediation `json:"remediation"`
	// Needs are the API actions the check reads; when one of them failed
	// region-wide the result is unknown.
	Needs []string `json:"needs"`

	eval func(s *Snapshot, db *DB) Result
	// fix, when set, writes the remediation for db's engine and kind
	// (see fixes.go); Remediation is then its general form.
	fix func(db *DB) Remediation
	// membersOnly: the check reads only a cluster's member instances, so
	// it runs when the cluster itself could not be described.
	membersOnly bool
}

// Evaluate runs the check on db. It never panics on a well-formed snapshot
// and never passes when the data it needs is missing.
func (c *Check) Evaluate(s *Snapshot, db *DB) Result {
	var missing []string
	if c.Needs != nil {
		missing = db.Region.Failed(c.Needs...)
		for _, e := range s.IAM.Errors {
			if slices.Contains(c.Needs, e.Action) && !slices.Contains(missing, e.Action) {
				missing = append(missing, e.Action)
			}
		}
	}
	var res Result
	planned, plannedKind := db.planUnknown(c.ID)
	switch {
	case len(missing) > 0:
		res = unknown(missing, "the data this check needs could not be read")
		if k := gapKind(db.Region, s.IAM.Errors, missing); k == GapNotInPlan {
			res.Detail = "the plan does not hold the data this check needs"
		}
	case len(planned) > 0:
		res = planUnknownResult(planned, plannedKind)
	case db.ClusterUnread && !c.membersOnly:
		res = unknown(db.Region.Failed("rds:DescribeDBClusters"), "cluster %s is not in the snapshot (only its members are)", db.ID())
	default:
		res = c.eval(s, db)
	}
	if res.Status == StatusUnknown && res.Reason == "" {
		res.Reason = gapKind(db.Region, s.IAM.Errors, res.MissingActions)
	}
	return res
}

// RemediationFor fills the remediation's placeholders for db.
func (c *Check) RemediationFor(db *DB) Remediation {
	if db.fill == nil {
		db.fill = strings.NewReplacer(
			"{id}", db.ID(), "{region}", db.Region.Name, "{port}", fmt.Sprint(db.Port()),
			"{arn}", db.ARN(), "{engine}", db.Engine(), "{kind}", cliKind(db), "{tf}", tfResource(db),
		)
		db.tfFill = strings.NewReplacer("{id}", TerraformName(db.ID()), "{tf}", tfResource(db))
	}
	r, tf := db.fill, db.tfFill
	rem := c.Remediation
	if c.fix != nil {
		rem = c.fix(db)
	}
	return Remediation{Text: rem.Text, CLI: r.Replace(rem.CLI), Terraform: r.Replace(tf.Replace(rem.Terraform))}
}

// TerraformName makes an identifier usable as a Terraform resource name.
func TerraformName(id string) string {
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		return "db_" + string(b)
	}
	return string(b)
}

// tfResource is the Terraform resource type of db.
func tfResource(db *DB) string {
	if db.Kind == KindCluster {
		return "aws_rds_cluster"
	}
	return "aws_db_instance"
}

// cliKind is "db-instance" or "db-cluster", as in the AWS CLI's
// modify-db-instance / --db-instance-identifier.
func cliKind(db *DB) string {
	if db.Kind == KindCluster {
		return "db-cluster"
	}
	return "db-instance"
}

func pass(format string, args ...any) Result {
	return Result{Status: StatusPass, Detail: fmt.Sprintf(format, args...)}
}

func fail(format string, args ...any) Result {
	return Result{Status: StatusFail, Detail: fmt.Sprintf(format, args...)}
}

func skip(format string, args ...any) Result {
	return Result{Status: StatusSkip, Detail: fmt.Sprintf(format, args...)}
}

func unknown(missing []string, format string, args ...any) Result {
	return Result{Status: StatusUnknown, Detail: fmt.Sprintf(format, args...), MissingActions: missing}
}

// Checks returns every check, in a stable order (by ID). The slice is new
// on each call; callers may filter it. Together they cover rdsgate's
// hardening guidance: private subnets, tight security groups, encryption,
// IAM authentication, managed master secrets, backups, deletion protection,
// CloudTrail, exported audit logs and an alarm on connections from outside
// the VPC.
func Checks() []*Check {
	all := []*Check{
		checkPublicAccess(), checkPublicSubnet(), checkSGOpenIngress(), checkSGBroadIngress(),
		checkSGEgress(), checkNACLBroad(), checkIAMAuthDisabled(), checkDefaultMasterUsername(),
		checkMasterPasswordNotManaged(), checkTLSNotEnforced(), checkStorageUnencrypted(),
		checkSnapshotPublic(), checkSnapshotUnencrypted(), checkBackupRetentionLow(),
		checkNoCrossRegionBackup(), checkDeletionProtectionOff(), checkNoDeleteGuardPolicy(),
		checkCloudTrailOff(), checkAuditLogsNotExported(), checkNoOutsideVPCAlarm(),
		checkCAExpiring(), checkAutoMinorUpgradeOff(), checkMultiAZOff(),
		checkSnapshotSharedUnknownAccount(), checkEngineStandardSupportEnded(), checkEnhancedMonitoringOff(),
		checkEventSubscriptionMissing(), checkCopyTagsToSnapshotOff(), checkDefaultPort(), checkDefaultVPC(),
		checkProductionMultiAZOff(), checkPerformanceInsightsAWSKey(),
		checkBastionPublicIP(), checkBastionKeyPair(), checkBastionSSHOpen(), checkBastionIMDSv1(),
	}
	slices.SortFunc(all, func(a, b *Check) int { return strings.Compare(a.ID, b.ID) })
	return all
}

// CheckByID returns the check with id, or nil.
func CheckByID(id string) *Check {
	for _, c := range Checks() {
		if c.ID == id {
			return c
		}
	}
	return nil
}
