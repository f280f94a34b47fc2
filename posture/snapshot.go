package posture

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// SchemaVersion is the version of the snapshot file format. It changes only
// when a field is removed or changes meaning; added fields keep it.
const SchemaVersion = 1

// Snapshot is everything the checks read: per region the RDS resources and
// the network, logging and secrets around them, plus the account-wide IAM
// policies. It is the format of `rdsgate audit --save` / `--input`.
//
// Field names are stable; lists are sorted by the collector (by id), so the
// same account gives the same file.
type Snapshot struct {
	SchemaVersion int       `json:"schema_version"`
	CollectedAt   time.Time `json:"collected_at"`
	// Account is the AWS account id, when sts:GetCallerIdentity answered.
	Account string   `json:"account,omitempty"`
	Regions []Region `json:"regions"`
	// IAM is account-wide (IAM is a global service).
	IAM IAMData `json:"iam"`

	// Organization is the AWS Organizations id (o-...) of an
	// organization-wide snapshot.
	Organization string `json:"organization,omitempty"`
	// Accounts, set in an organization-wide snapshot, are the member
	// accounts, each with a snapshot of its own (which has no Accounts);
	// Account, Regions and IAM are then empty.
	Accounts []AccountSnapshot `json:"accounts,omitempty"`
}

// AccessError records an API call the collector could not make. Checks that
// need the data of Action return [StatusUnknown] naming it.
type AccessError struct {
	// Action is the IAM action, service prefix and operation, e.g.
	// "ec2:DescribeSecurityGroups".
	Action string `json:"action"`
	// Code is the AWS error code, e.g. "AccessDenied" or "UnauthorizedOperation".
	Code string `json:"code"`
	// Denied is true for a permission failure; false for any other failure
	// that survived the retries (throttling, a service error, a timeout).
	Denied  bool   `json:"denied"`
	Message string `json:"message,omitempty"`
	// Resource names the resource the call was about, when it was about one
	// (a parameter group, a snapshot, a trail).
	Resource string `json:"resource,omitempty"`
}

// Region is what was collected in one AWS region.
type Region struct {
	Name string `json:"name"`

	Instances       []Instance       `json:"db_instances"`
	Clusters        []Cluster        `json:"db_clusters"`
	SubnetGroups    []SubnetGroup    `json:"db_subnet_groups"`
	ParameterGroups []ParameterGroup `json:"parameter_groups"`
	Snapshots       []DBSnapshot     `json:"db_snapshots"`
	// AutomatedBackups are the automated backups RDS keeps in this region,
	// including replicas of other regions' instances (cross-region backup
	// replication).
	AutomatedBackups []AutomatedBackup `json:"automated_backups"`

	VPCs             []VPC             `json:"vpcs"`
	SecurityGroups   []SecurityGroup   `json:"security_groups"`
	Subnets          []Subnet          `json:"subnets"`
	RouteTables      []RouteTable      `json:"route_tables"`
	InternetGateways []InternetGateway `json:"internet_gateways"`
	NetworkACLs      []NetworkACL      `json:"network_acls"`

	Trails        []Trail        `json:"trails"`
	LogGroups     []LogGroup     `json:"log_groups"`
	MetricFilters []MetricFilter `json:"metric_filters"`
	Alarms        []Alarm        `json:"alarms"`
	MasterSecrets []Secret       `json:"master_secrets"`

	// EventSubscriptions are the RDS event notification subscriptions.
	EventSubscriptions []EventSubscription `json:"event_subscriptions"`
	// KMSKeys are the KMS keys the databases name (Performance Insights),
	// with who manages them.
	KMSKeys []KMSKey `json:"kms_keys"`
	// EC2Instances are the EC2 instances of the databases' VPCs, read to
	// find the bastions that lead to them.
	EC2Instances []EC2Instance `json:"ec2_instances"`
	// ManagedInstances are the ids of the instances registered with
	// Systems Manager (Session Manager targets).
	ManagedInstances []string `json:"ssm_managed_instances"`

	// Errors are the reads that failed in this region.
	Errors []AccessError `json:"errors,omitempty"`
	// Unavailable, when set, says why the region was not read at all (it
	// is not enabled in the account); its lists are then empty and an
	// audit cannot vouch for it.
	Unavailable string `json:"unavailable,omitempty"`

	ix *regionIndex
}

// IAMData is the account-wide IAM part of a snapshot.
type IAMData struct {
	// DeleteGuardPolicies are the customer-managed policies whose default
	// version mentions rds:Delete* (or rds:*), with their statements.
	DeleteGuardPolicies []IAMPolicy   `json:"delete_guard_policies"`
	Errors              []AccessError `json:"errors,omitempty"`
}

// IAMPolicy is a customer-managed IAM policy, reduced to its statements.
type IAMPolicy struct {
	ARN             string      `json:"arn"`
	Name            string      `json:"name"`
	AttachmentCount int         `json:"attachment_count"`
	Statements      []Statement `json:"statements"`
}

// Statement is one IAM policy statement; single strings are lists of one.
type Statement struct {
	Effect       string   `json:"effect"`
	Actions      []string `json:"actions,omitempty"`
	NotActions   []string `json:"not_actions,omitempty"`
	Resources    []string `json:"resources,omitempty"`
	HasCondition bool     `json:"has_condition,omitempty"`
}

// Instance is an RDS DB instance (also an Aurora cluster member).
type Instance struct {
	ID                 string   `json:"id"`
	ARN                string   `json:"arn"`
	ResourceID         string   `json:"resource_id,omitempty"`
	Engine             string   `json:"engine"`
	EngineVersion      string   `json:"engine_version,omitempty"`
	ClusterID          string   `json:"cluster_id,omitempty"`
	Status             string   `json:"status,omitempty"`
	Port               int      `json:"port,omitempty"`
	PubliclyAccessible bool     `json:"publicly_accessible"`
	VPC                string   `json:"vpc,omitempty"`
	SubnetGroup        string   `json:"subnet_group,omitempty"`
	Subnets            []string `json:"subnets,omitempty"`
	SecurityGroups     []string `json:"security_groups,omitempty"`
	StorageEncrypted   bool     `json:"storage_encrypted"`
	IAMAuth            bool     `json:"iam_auth"`
	MasterUsername     string   `json:"master_username,omitempty"`
	// MasterSecretARN is set when RDS manages the master password in
	// Secrets Manager.
	MasterSecretARN string   `json:"master_secret_arn,omitempty"`
	ParameterGroups []string `json:"parameter_groups,omitempty"`
	BackupRetention int      `json:"backup_retention_days"`
	// ReadReplicaSource is set on read replicas.
	ReadReplicaSource string `json:"read_replica_source,omitempty"`
	// BackupReplications are the ARNs of cross-region replicas of this
	// instance's automated backups.
	BackupReplications []string `json:"backup_replications,omitempty"`
	DeletionProtection bool     `json:"deletion_protection"`
	LogExports         []string `json:"log_exports,omitempty"`
	AutoMinorUpgrade   bool     `json:"auto_minor_version_upgrade"`
	MultiAZ            bool     `json:"multi_az"`
	CAIdentifier       string   `json:"ca_identifier,omitempty"`
	// CertValidTill is the server certificate's expiry, when RDS reports it.
	CertValidTill *time.Time `json:"cert_valid_till,omitempty"`
	Settings
}

// Settings are the fields instances and clusters share, as
// DescribeDBInstances and DescribeDBClusters report them.
type Settings struct {
	// Tags are the resource's tags (TagList).
	Tags map[string]string `json:"tags,omitempty"`
	// MonitoringInterval is the Enhanced Monitoring interval in seconds (0:
	// off).
	MonitoringInterval int  `json:"monitoring_interval"`
	CopyTagsToSnapshot bool `json:"copy_tags_to_snapshot"`
	// PerformanceInsights is on when PerformanceInsightsEnabled; its data
	// is encrypted with PerformanceInsightsKMSKeyID.
	PerformanceInsights         bool   `json:"performance_insights"`
	PerformanceInsightsKMSKeyID string `json:"performance_insights_kms_key_id,omitempty"`
	// EngineLifecycleSupport is "open-source-rds-extended-support" (paid
	// Extended Support after the end of standard support) or
	// "open-source-rds-extended-support-disabled".
	EngineLifecycleSupport string `json:"engine_lifecycle_support,omitempty"`
	// Planned is set when the resource comes from a Terraform plan rather
	// than from the AWS APIs (see [PlanSource]).
	Planned *PlanSource `json:"planned,omitempty"`
}

// Cluster is an Aurora DB cluster or a Multi-AZ DB cluster.
type Cluster struct {
	ID                 string   `json:"id"`
	ARN                string   `json:"arn"`
	ResourceID         string   `json:"resource_id,omitempty"`
	Engine             string   `json:"engine"`
	EngineVersion      string   `json:"engine_version,omitempty"`
	EngineMode         string   `json:"engine_mode,omitempty"`
	Status             string   `json:"status,omitempty"`
	Port               int      `json:"port,omitempty"`
	PubliclyAccessible bool     `json:"publicly_accessible"`
	Members            []string `json:"members,omitempty"`
	SubnetGroup        string   `json:"subnet_group,omitempty"`
	SecurityGroups     []string `json:"security_groups,omitempty"`
	StorageEncrypted   bool     `json:"storage_encrypted"`
	IAMAuth            bool     `json:"iam_auth"`
	MasterUsername     string   `json:"master_username,omitempty"`
	MasterSecretARN    string   `json:"master_secret_arn,omitempty"`
	ParameterGroup     string   `json:"parameter_group,omitempty"`
	BackupRetention    int      `json:"backup_retention_days"`
	ReplicationSource  string   `json:"replication_source,omitempty"`
	DeletionProtection bool     `json:"deletion_protection"`
	LogExports         []string `json:"log_exports,omitempty"`
	AutoMinorUpgrade   bool     `json:"auto_minor_version_upgrade"`
	MultiAZ            bool     `json:"multi_az"`
	// GlobalCluster is set when the cluster belongs to a global database
	// (which copies it to another region).
	GlobalCluster string `json:"global_cluster,omitempty"`
	Settings
}

// SubnetGroup is a DB subnet group.
type SubnetGroup struct {
	Name    string   `json:"name"`
	VPC     string   `json:"vpc,omitempty"`
	Subnets []string `json:"subnets,omitempty"`
}

// ParameterGroup is a DB parameter group or DB cluster parameter group with
// the parameters the checks read (others are dropped to keep snapshots
// small; see [InterestingParameters]).
type ParameterGroup struct {
	Name string `json:"name"`
	// Cluster is true for a DB cluster parameter group.
	Cluster bool `json:"cluster,omitempty"`
	// Parameters maps a name to its value; a parameter without a value
	// (engine default) is absent.
	Parameters map[string]string `json:"parameters"`
}

// InterestingParameters are the parameters kept in a snapshot.
var InterestingParameters = []string{
	"rds.force_ssl", "require_secure_transport", "ssl",
	"log_connections", "log_disconnections", "shared_preload_libraries", "pgaudit.log",
	"server_audit_logging", "server_audit_events",
}

// DBSnapshot is a manual or automated DB snapshot or DB cluster snapshot.
type DBSnapshot struct {
	ID        string `json:"id"`
	ARN       string `json:"arn,omitempty"`
	Cluster   bool   `json:"cluster,omitempty"`
	Source    string `json:"source"` // the instance or cluster id
	Type      string `json:"type"`   // manual, automated, ...
	Encrypted bool   `json:"encrypted"`
	// RestoreAccounts is the "restore" attribute: account ids, or "all"
	// for a public snapshot. Nil when the attributes were not read.
	RestoreAccounts []string `json:"restore_accounts,omitempty"`
	// AttributesRead says RestoreAccounts was read (manual snapshots only).
	AttributesRead bool `json:"attributes_read,omitempty"`
}

// AutomatedBackup is an entry of DescribeDBInstanceAutomatedBackups.
type AutomatedBackup struct {
	ARN        string `json:"arn,omitempty"`
	InstanceID string `json:"instance_id"`
	// SourceARN is the instance the backup belongs to.
	SourceARN string `json:"source_arn"`
	// SourceRegion is the instance's region (differs from the snapshot's
	// region for a replica).
	SourceRegion string `json:"source_region,omitempty"`
	Status       string `json:"status,omitempty"`
}

// VPC is an EC2 VPC with its CIDR blocks.
type VPC struct {
	ID    string   `json:"id"`
	CIDRs []string `json:"cidrs"`
	// Default is the region's default VPC (IsDefault), whose subnets are
	// public.
	Default bool `json:"default,omitempty"`
}

// SecurityGroup is an EC2 security group.
type SecurityGroup struct {
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	VPC     string `json:"vpc,omitempty"`
	Ingress []Rule `json:"ingress"`
	Egress  []Rule `json:"egress"`
}

// Rule is one security group permission: a protocol and port range and the
// sources (or destinations) it allows.
type Rule struct {
	// Protocol is "tcp", "udp", "icmp" or "-1" (all).
	Protocol string   `json:"protocol"`
	FromPort int      `json:"from_port"`
	ToPort   int      `json:"to_port"`
	CIDRs    []string `json:"cidrs,omitempty"`
	// Groups are referenced security group ids.
	Groups      []string `json:"groups,omitempty"`
	PrefixLists []string `json:"prefix_lists,omitempty"`
}

// Subnet is an EC2 subnet.
type Subnet struct {
	ID   string `json:"id"`
	VPC  string `json:"vpc"`
	CIDR string `json:"cidr,omitempty"`
	AZ   string `json:"az,omitempty"`
}

// RouteTable is an EC2 route table and its associations.
type RouteTable struct {
	ID      string   `json:"id"`
	VPC     string   `json:"vpc"`
	Main    bool     `json:"main"`
	Subnets []string `json:"subnets,omitempty"`
	Routes  []Route  `json:"routes"`
}

// Route is one route: a destination and a target id (igw-..., nat-..., local).
type Route struct {
	Destination string `json:"destination"`
	Target      string `json:"target"`
	State       string `json:"state,omitempty"`
}

// InternetGateway is an EC2 internet gateway and the VPCs it is attached to.
type InternetGateway struct {
	ID   string   `json:"id"`
	VPCs []string `json:"vpcs,omitempty"`
}

// NetworkACL is an EC2 network ACL.
type NetworkACL struct {
	ID      string     `json:"id"`
	VPC     string     `json:"vpc"`
	Default bool       `json:"default"`
	Subnets []string   `json:"subnets,omitempty"`
	Entries []ACLEntry `json:"entries"`
}

// ACLEntry is one network ACL rule.
type ACLEntry struct {
	RuleNumber int    `json:"rule_number"`
	Egress     bool   `json:"egress"`
	Allow      bool   `json:"allow"`
	Protocol   string `json:"protocol"` // "-1", "6" (tcp), ...
	CIDR       string `json:"cidr"`
	FromPort   int    `json:"from_port,omitempty"`
	ToPort     int    `json:"to_port,omitempty"`
}

// Trail is a CloudTrail trail as seen from a region (shadow trails
// included) with its logging status.
type Trail struct {
	Name        string `json:"name"`
	ARN         string `json:"arn"`
	HomeRegion  string `json:"home_region"`
	MultiRegion bool   `json:"multi_region"`
	// IsLogging is nil when the status could not be read.
	IsLogging   *bool  `json:"is_logging,omitempty"`
	LogGroupARN string `json:"log_group_arn,omitempty"`
}

// LogGroup is a CloudWatch Logs group under /aws/rds/.
type LogGroup struct {
	Name          string `json:"name"`
	RetentionDays int    `json:"retention_days,omitempty"`
}

// MetricFilter is a CloudWatch Logs metric filter on an /aws/rds/ group.
type MetricFilter struct {
	Name      string `json:"name"`
	LogGroup  string `json:"log_group"`
	Pattern   string `json:"pattern"`
	Namespace string `json:"metric_namespace"`
	Metric    string `json:"metric_name"`
}

// Alarm is a CloudWatch metric alarm.
type Alarm struct {
	Name           string   `json:"name"`
	Namespace      string   `json:"namespace,omitempty"`
	Metric         string   `json:"metric,omitempty"`
	ActionsEnabled bool     `json:"actions_enabled"`
	Actions        []string `json:"actions,omitempty"`
}

// Secret is Secrets Manager metadata of a secret RDS manages for a master
// user (never its value).
type Secret struct {
	ARN             string `json:"arn"`
	Name            string `json:"name"`
	OwningService   string `json:"owning_service,omitempty"`
	RotationEnabled bool   `json:"rotation_enabled"`
	// PrimaryDB is the aws:rds:primaryDBInstanceArn or
	// aws:rds:primaryDBClusterArn tag.
	PrimaryDB string `json:"primary_db,omitempty"`
}

// EventSubscription is an RDS event notification subscription.
type EventSubscription struct {
	Name string `json:"name"`
	// SourceType is db-instance, db-cluster, db-security-group,
	// db-parameter-group, ... ("" for all sources).
	SourceType string `json:"source_type,omitempty"`
	// SourceIDs limit the subscription to these sources (none: all).
	SourceIDs []string `json:"source_ids,omitempty"`
	// Categories are the event categories (none: all).
	Categories []string `json:"categories,omitempty"`
	Enabled    bool     `json:"enabled"`
	Status     string   `json:"status,omitempty"`
	Topic      string   `json:"sns_topic,omitempty"`
}

// KMSKey is a KMS key with who manages it: "AWS" (an AWS-managed key such
// as aws/rds) or "CUSTOMER".
type KMSKey struct {
	ARN     string `json:"arn"`
	Manager string `json:"manager"`
}

// EC2Instance is an EC2 instance, with what makes it a bastion and what
// exposes it.
type EC2Instance struct {
	ID     string `json:"id"`
	VPC    string `json:"vpc,omitempty"`
	Subnet string `json:"subnet,omitempty"`
	State  string `json:"state,omitempty"`
	// PublicIP is the public IPv4 address, when it has one.
	PublicIP string `json:"public_ip,omitempty"`
	KeyName  string `json:"key_name,omitempty"`
	// HTTPTokens is "required" (IMDSv2 only) or "optional" (IMDSv1 too);
	// "" when not reported.
	HTTPTokens      string            `json:"http_tokens,omitempty"`
	SecurityGroups  []string          `json:"security_groups,omitempty"`
	InstanceProfile string            `json:"instance_profile,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
}

// WriteJSON writes s as indented JSON.
func (s *Snapshot) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("posture: write snapshot: %w", err)
	}
	return nil
}

// ReadSnapshot reads a snapshot written by [Snapshot.WriteJSON]. Unknown
// fields are ignored (a newer rdsgate may add some); a newer schema version
// is an error.
func ReadSnapshot(r io.Reader) (*Snapshot, error) {
	dec := json.NewDecoder(r)
	var s Snapshot
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("posture: read snapshot: %w", err)
	}
	if s.SchemaVersion < 1 || s.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("posture: read snapshot: schema version %d, this rdsgate reads 1 to %d", s.SchemaVersion, SchemaVersion)
	}
	for _, a := range s.Accounts {
		if a.Snapshot != nil && len(a.Snapshot.Accounts) > 0 {
			return nil, fmt.Errorf("posture: read snapshot: account %s holds accounts of its own; an organization snapshot is one level deep", a.ID)
		}
	}
	return &s, nil
}

// SaveSnapshot writes s to the file path (created or truncated).
func SaveSnapshot(path string, s *Snapshot) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("posture: save snapshot: %w", err)
	}
	if err := s.WriteJSON(out); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("posture: save snapshot: %w", err)
	}
	return nil
}

// LoadSnapshot reads the snapshot SaveSnapshot wrote to path.
func LoadSnapshot(path string) (*Snapshot, error) {
	in, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("posture: read snapshot: %w", err)
	}
	defer in.Close()
	return ReadSnapshot(in)
}
