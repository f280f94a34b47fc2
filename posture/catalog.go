package posture

import (
	"fmt"
	"io"
	"strings"
)

// Reference is what docs/audit-checks.md says of a check beyond its
// definition: the API fields it reads and the rules of Security Hub and
// Prowler that check the same thing ("" when none does).
type Reference struct {
	Reads       []string
	SecurityHub string
	Prowler     string
}

// References are the checks' references, by check id. A test fails when a
// check has none.
var References = map[string]Reference{
	"public-access": {Reads: []string{"rds:DescribeDBInstances PubliclyAccessible", "rds:DescribeDBClusters PubliclyAccessible, DBClusterMembers"},
		SecurityHub: "RDS.2", Prowler: "rds_instance_no_public_access"},
	"public-subnet": {Reads: []string{"rds:DescribeDBInstances DBSubnetGroup.Subnets", "rds:DescribeDBSubnetGroups", "ec2:DescribeRouteTables Routes, Associations", "ec2:DescribeSubnets VpcId"},
		SecurityHub: "RDS.46", Prowler: "rds_instance_no_public_access (subnet part)"},
	"sg-open-ingress": {Reads: []string{"rds:DescribeDB* VpcSecurityGroups, Endpoint.Port", "ec2:DescribeSecurityGroups IpPermissions"},
		SecurityHub: "EC2.19", Prowler: "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_*"},
	"sg-broad-ingress": {Reads: []string{"ec2:DescribeSecurityGroups IpPermissions (IpRanges, PrefixListIds, UserIdGroupPairs)"}},
	"sg-egress":        {Reads: []string{"ec2:DescribeSecurityGroups IpPermissionsEgress"}},
	"nacl-broad": {Reads: []string{"ec2:DescribeNetworkAcls Entries, Associations"},
		SecurityHub: "EC2.21", Prowler: "ec2_networkacl_allow_ingress_any_port"},
	"iam-auth-disabled": {Reads: []string{"rds:DescribeDBInstances IAMDatabaseAuthenticationEnabled", "rds:DescribeDBClusters IAMDatabaseAuthenticationEnabled"},
		SecurityHub: "RDS.10, RDS.12", Prowler: "rds_instance_iam_authentication_enabled, rds_cluster_iam_authentication_enabled"},
	"default-master-username": {Reads: []string{"rds:DescribeDB* MasterUsername"},
		SecurityHub: "RDS.24, RDS.25", Prowler: "rds_instance_default_admin, rds_cluster_default_admin"},
	"master-password-not-managed": {Reads: []string{"rds:DescribeDB* MasterUserSecret", "secretsmanager:ListSecrets RotationEnabled"}},
	"tls-not-enforced": {Reads: []string{"rds:DescribeDB* DBParameterGroups / DBClusterParameterGroup", "rds:DescribeDBParameters, rds:DescribeDBClusterParameters rds.force_ssl, require_secure_transport"},
		SecurityHub: "RDS.38, RDS.39, RDS.44", Prowler: "rds_instance_transport_encrypted"},
	"storage-unencrypted": {Reads: []string{"rds:DescribeDB* StorageEncrypted"},
		SecurityHub: "RDS.3, RDS.27", Prowler: "rds_instance_storage_encrypted, rds_cluster_storage_encrypted"},
	"snapshot-public": {Reads: []string{"rds:DescribeDBSnapshots, rds:DescribeDBClusterSnapshots SnapshotType", "rds:DescribeDB(Cluster)SnapshotAttributes restore"},
		SecurityHub: "RDS.1", Prowler: "rds_snapshots_public_access"},
	"snapshot-shared-unknown-account": {Reads: []string{"rds:DescribeDBSnapshots, rds:DescribeDBClusterSnapshots SnapshotType", "rds:DescribeDB(Cluster)SnapshotAttributes restore", "sts:GetCallerIdentity Account"}},
	"snapshot-unencrypted": {Reads: []string{"rds:DescribeDBSnapshots Encrypted", "rds:DescribeDBClusterSnapshots StorageEncrypted"},
		SecurityHub: "RDS.4", Prowler: "rds_snapshots_encrypted"},
	"backup-retention-low": {Reads: []string{"rds:DescribeDB* BackupRetentionPeriod, ReadReplicaSourceDBInstanceIdentifier"},
		SecurityHub: "RDS.11, RDS.50", Prowler: "rds_instance_backup_enabled"},
	"no-cross-region-backup": {Reads: []string{"rds:DescribeDBInstances DBInstanceAutomatedBackupsReplications", "rds:DescribeDBInstanceAutomatedBackups (every region)", "rds:DescribeDBClusters GlobalClusterIdentifier"}},
	"deletion-protection-off": {Reads: []string{"rds:DescribeDBInstances DeletionProtection", "rds:DescribeDBClusters DeletionProtection"},
		SecurityHub: "RDS.7, RDS.8", Prowler: "rds_instance_deletion_protection, rds_cluster_deletion_protection"},
	"no-delete-guard-policy": {Reads: []string{"iam:ListPolicies", "iam:GetPolicyVersion Document"}},
	"cloudtrail-off": {Reads: []string{"cloudtrail:DescribeTrails IsMultiRegionTrail, HomeRegion", "cloudtrail:GetTrailStatus IsLogging"},
		SecurityHub: "CloudTrail.1", Prowler: "cloudtrail_multi_region_enabled"},
	"audit-logs-not-exported": {Reads: []string{"rds:DescribeDB* EnabledCloudwatchLogsExports"},
		SecurityHub: "RDS.9, RDS.34, RDS.36, RDS.37", Prowler: "rds_instance_integration_cloudwatch_logs, rds_cluster_integration_cloudwatch_logs"},
	"no-outside-vpc-connection-alarm": {Reads: []string{"logs:DescribeLogGroups", "logs:DescribeMetricFilters filterPattern, metricTransformations", "cloudwatch:DescribeAlarms MetricName, Namespace, AlarmActions"}},
	"ca-expiring": {Reads: []string{"rds:DescribeDBInstances CACertificateIdentifier, CertificateDetails.ValidTill"},
		Prowler: "rds_instance_certificate_expiration"},
	"auto-minor-upgrade-off": {Reads: []string{"rds:DescribeDBInstances AutoMinorVersionUpgrade", "rds:DescribeDBClusters AutoMinorVersionUpgrade (Multi-AZ DB clusters)"},
		SecurityHub: "RDS.13, RDS.35", Prowler: "rds_instance_minor_version_upgrade_enabled, rds_cluster_minor_version_upgrade_enabled"},
	"multi-az-off": {Reads: []string{"rds:DescribeDBInstances MultiAZ", "rds:DescribeDBClusters MultiAZ, DBClusterMembers"},
		SecurityHub: "RDS.5, RDS.15", Prowler: "rds_instance_multi_az, rds_cluster_multi_az"},
	"production-multi-az-off": {Reads: []string{"rds:DescribeDB* TagList", "rds:DescribeDBInstances MultiAZ", "rds:DescribeDBClusters MultiAZ, DBClusterMembers"},
		SecurityHub: "RDS.5, RDS.15", Prowler: "rds_instance_multi_az, rds_cluster_multi_az"},
	"engine-standard-support-ended": {Reads: []string{"rds:DescribeDB* Engine, EngineVersion, EngineLifecycleSupport"},
		Prowler: "rds_instance_extended_support"},
	"enhanced-monitoring-off": {Reads: []string{"rds:DescribeDBInstances MonitoringInterval", "rds:DescribeDBClusters MonitoringInterval (Multi-AZ DB clusters)"},
		SecurityHub: "RDS.6", Prowler: "rds_instance_enhanced_monitoring_enabled"},
	"event-subscription-missing": {Reads: []string{"rds:DescribeEventSubscriptions SourceType, SourceIdsList, EventCategoriesList, Enabled, Status"},
		SecurityHub: "RDS.19, RDS.20, RDS.22", Prowler: "rds_instance_critical_event_subscription, rds_cluster_critical_event_subscription, rds_instance_event_subscription_security_groups"},
	"copy-tags-to-snapshot-off": {Reads: []string{"rds:DescribeDB* CopyTagsToSnapshot"},
		SecurityHub: "RDS.16, RDS.17", Prowler: "rds_instance_copy_tags_to_snapshots, rds_cluster_copy_tags_to_snapshots"},
	"default-port": {Reads: []string{"rds:DescribeDBInstances Endpoint.Port, Engine", "rds:DescribeDBClusters Port"},
		SecurityHub: "RDS.23", Prowler: "rds_instance_non_default_port, rds_cluster_non_default_port"},
	"default-vpc":                  {Reads: []string{"rds:DescribeDBInstances DBSubnetGroup.VpcId", "rds:DescribeDBSubnetGroups VpcId", "ec2:DescribeVpcs IsDefault"}},
	"performance-insights-aws-key": {Reads: []string{"rds:DescribeDB* PerformanceInsightsEnabled, PerformanceInsightsKMSKeyId", "kms:DescribeKey KeyManager"}},
	"bastion-public-ip": {Reads: []string{"ec2:DescribeInstances VpcId, Tags, State, PublicIpAddress", "ssm:DescribeInstanceInformation InstanceId"},
		SecurityHub: "EC2.9", Prowler: "ec2_instance_public_ip"},
	"bastion-key-pair": {Reads: []string{"ec2:DescribeInstances VpcId, Tags, State, KeyName", "ssm:DescribeInstanceInformation InstanceId"}},
	"bastion-ssh-open": {Reads: []string{"ec2:DescribeInstances VpcId, Tags, State, SecurityGroups", "ssm:DescribeInstanceInformation InstanceId", "ec2:DescribeSecurityGroups IpPermissions"},
		SecurityHub: "EC2.13", Prowler: "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22"},
	"bastion-imdsv1": {Reads: []string{"ec2:DescribeInstances VpcId, Tags, State, MetadataOptions.HttpTokens", "ssm:DescribeInstanceInformation InstanceId"},
		SecurityHub: "EC2.8", Prowler: "ec2_instance_imdsv2_enabled"},
}

// WriteChecksDoc writes docs/audit-checks.md: every check with its id,
// severity, the API fields it reads, its Security Hub and Prowler
// counterparts and its fix (the general form; the report fills in each
// database's names and writes the fix for its engine and kind).
func WriteChecksDoc(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# `rdsgate audit` checks\n\n")
	b.WriteString("<!-- Generated from package posture's check table by TestChecksDoc; run\n     go test ./posture -run TestChecksDoc -update after changing a check. -->\n\n")
	b.WriteString("Every check runs on every database (an RDS instance, or an Aurora or Multi-AZ DB cluster with its\n")
	b.WriteString("members). A check whose data could not be read says UNKNOWN and why (access denied, not served by\n")
	b.WriteString("the endpoint, throttled, not reported); it never passes. A check that does not apply to a database\n")
	b.WriteString("says SKIP. The fixes below are the general form: the report prints each database's own, written\n")
	b.WriteString("for its engine and kind (an Aurora cluster's member instances, a MariaDB instance's log types).\n\n")
	b.WriteString("Options that change checks: the production tags (`posture.AuditOptions.Production`, default\n")
	fmt.Fprintf(&b, "`%s`, keys and values case-insensitive) and the accounts snapshots may be shared with\n", DefaultProduction)
	b.WriteString("(`posture.AuditOptions.TrustedAccounts`, besides the audited account).\n\n")
	b.WriteString("| id | severity | Security Hub | Prowler | title |\n| --- | --- | --- | --- | --- |\n")
	checks := Checks()
	for _, c := range checks {
		ref := References[c.ID]
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s | %s |\n", c.ID, c.ID, c.Severity, dash(ref.SecurityHub), dash(code(ref.Prowler)), c.Title)
	}
	for _, c := range checks {
		ref := References[c.ID]
		fmt.Fprintf(&b, "\n## %s\n\n%s. **Severity:** %s. **Catalog:** %s.\n\n%s\n\n", c.ID, c.Title, c.Severity, c.Catalog, c.Rationale)
		b.WriteString("**Reads:**\n\n")
		for _, r := range ref.Reads {
			fmt.Fprintf(&b, "- %s\n", r)
		}
		fmt.Fprintf(&b, "\n**Security Hub:** %s. **Prowler:** %s.\n\n**Fix:** %s\n", dash(ref.SecurityHub), dash(code(ref.Prowler)), c.Remediation.Text)
		if c.Remediation.CLI != "" {
			fmt.Fprintf(&b, "\n```sh\n%s\n```\n", c.Remediation.CLI)
		}
		if c.Remediation.Terraform != "" {
			fmt.Fprintf(&b, "\n```hcl\n%s\n```\n", c.Remediation.Terraform)
		}
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("posture: write checks doc: %w", err)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// code puts each comma-separated rule name in backticks.
func code(s string) string {
	if s == "" {
		return ""
	}
	parts := strings.Split(s, ", ")
	for i, p := range parts {
		name, note, _ := strings.Cut(p, " ")
		parts[i] = "`" + name + "`"
		if note != "" {
			parts[i] += " " + note
		}
	}
	return strings.Join(parts, ", ")
}
