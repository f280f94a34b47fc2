package posture

import (
	"time"
)

var fixtureTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const fixtureRegion = "us-east-1"

func ptr[T any](v T) *T { return &v }

const (
	oncall    = "arn:aws:sns:us-east-1:123456789012:oncall"
	cmk       = "arn:aws:kms:us-east-1:123456789012:key/1111aaaa-2222-3333-4444-555566667777"
	awsRDSKey = "arn:aws:kms:us-east-1:123456789012:key/9999ffff-8888-7777-6666-555544443333"
)

// hardenedOpts are the audit options the hardened fixture passes with:
// c1's snapshot is shared with a trusted account.
var hardenedOpts = AuditOptions{TrustedAccounts: []string{"210987654321"}}

// hardenedSettings are settings that pass every check: tagged as
// production, monitored, tags copied, Performance Insights under a
// customer-managed key, standard support.
func hardenedSettings() Settings {
	return Settings{
		Tags:               map[string]string{"Environment": "Production", "team": "orders"},
		MonitoringInterval: 60, CopyTagsToSnapshot: true,
		PerformanceInsights: true, PerformanceInsightsKMSKeyID: cmk,
		EngineLifecycleSupport: "open-source-rds-extended-support-disabled",
	}
}

// hardened returns a snapshot with one PostgreSQL instance (db1) and one
// Aurora PostgreSQL cluster (c1, members c1-a and c1-b) that pass every
// check (with hardenedOpts). Its VPC holds a tagged bastion (i-bastion), a
// Session Manager target (i-ssm) and an application server that is
// neither (i-app, which is public, has a key and allows IMDSv1: it must
// not count as a bastion).
func hardened() *Snapshot {
	valid := fixtureTime.Add(300 * 24 * time.Hour)
	inst := func(id, cluster string) Instance {
		return Instance{
			ID: id, ARN: "arn:aws:rds:us-east-1:123456789012:db:" + id, ResourceID: "db-" + id,
			Engine: "postgres", EngineVersion: "16.3", ClusterID: cluster, Status: "available", Port: 15432,
			VPC: "vpc-1", SubnetGroup: "private", Subnets: []string{"subnet-a", "subnet-b"},
			SecurityGroups: []string{"sg-db"}, StorageEncrypted: true, IAMAuth: true,
			MasterUsername: "ops_owner", MasterSecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-" + id,
			ParameterGroups: []string{"pg-tls"}, BackupRetention: 14,
			BackupReplications: []string{"arn:aws:rds:us-west-2:123456789012:auto-backup:ab-" + id},
			DeletionProtection: true, LogExports: []string{"postgresql"}, AutoMinorUpgrade: true, MultiAZ: true,
			CAIdentifier: "rds-ca-rsa2048-g1", CertValidTill: &valid,
			Settings: hardenedSettings(),
		}
	}
	a, b := inst("c1-a", "c1"), inst("c1-b", "c1")
	a.Engine, b.Engine = "aurora-postgresql", "aurora-postgresql"
	return &Snapshot{
		SchemaVersion: SchemaVersion, CollectedAt: fixtureTime, Account: "123456789012",
		Regions: []Region{{
			Name:      fixtureRegion,
			Instances: []Instance{inst("db1", ""), a, b},
			Clusters: []Cluster{{
				ID: "c1", ARN: "arn:aws:rds:us-east-1:123456789012:cluster:c1", ResourceID: "cluster-c1",
				Engine: "aurora-postgresql", EngineVersion: "16.2", EngineMode: "provisioned", Port: 15432,
				Members: []string{"c1-a", "c1-b"}, SubnetGroup: "private", SecurityGroups: []string{"sg-db"},
				StorageEncrypted: true, IAMAuth: true, MasterUsername: "ops_owner",
				MasterSecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-c1",
				ParameterGroup:  "apg-tls", BackupRetention: 7, DeletionProtection: true,
				LogExports: []string{"postgresql"}, AutoMinorUpgrade: true, GlobalCluster: "g1",
				Settings: hardenedSettings(),
			}},
			SubnetGroups: []SubnetGroup{{Name: "private", VPC: "vpc-1", Subnets: []string{"subnet-a", "subnet-b"}}},
			ParameterGroups: []ParameterGroup{
				{Name: "pg-tls", Parameters: map[string]string{"rds.force_ssl": "1"}},
				{Name: "apg-tls", Cluster: true, Parameters: map[string]string{"rds.force_ssl": "1"}},
			},
			Snapshots: []DBSnapshot{
				{ID: "db1-manual", Source: "db1", Type: "manual", Encrypted: true, AttributesRead: true},
				{ID: "rds:db1-auto", Source: "db1", Type: "automated", Encrypted: true},
				{ID: "c1-manual", Source: "c1", Cluster: true, Type: "manual", Encrypted: true, AttributesRead: true, RestoreAccounts: []string{"210987654321"}},
			},
			VPCs: []VPC{{ID: "vpc-1", CIDRs: []string{"10.0.0.0/16"}}, {ID: "vpc-default", CIDRs: []string{"172.31.0.0/16"}, Default: true}},
			EventSubscriptions: []EventSubscription{
				{Name: "instances", SourceType: "db-instance", Categories: []string{"failure", "maintenance", "configuration change", "notification"}, Enabled: true, Status: "active", Topic: oncall},
				{Name: "clusters", SourceType: "db-cluster", Enabled: true, Status: "active", Topic: oncall},
				{Name: "groups", SourceType: "db-security-group", Categories: []string{"configuration change", "failure"}, Enabled: true, Status: "active", Topic: oncall},
			},
			KMSKeys: []KMSKey{{ARN: cmk, Manager: "CUSTOMER"}, {ARN: awsRDSKey, Manager: "AWS"}},
			EC2Instances: []EC2Instance{
				{ID: "i-bastion", VPC: "vpc-1", Subnet: "subnet-a", State: "running", HTTPTokens: "required", SecurityGroups: []string{"sg-bastion"}, Tags: map[string]string{BastionTag: "vpc-1"}},
				{ID: "i-ssm", VPC: "vpc-1", Subnet: "subnet-b", State: "running", HTTPTokens: "required", SecurityGroups: []string{"sg-app"}, InstanceProfile: "ssm"},
				{ID: "i-app", VPC: "vpc-1", Subnet: "subnet-pub", State: "running", PublicIP: "203.0.113.7", KeyName: "deploy", HTTPTokens: "optional", SecurityGroups: []string{"sg-app"}},
			},
			ManagedInstances: []string{"i-ssm"},
			SecurityGroups: []SecurityGroup{
				{ID: "sg-db", VPC: "vpc-1", Ingress: []Rule{{Protocol: "tcp", FromPort: 15432, ToPort: 15432, Groups: []string{"sg-app"}}}},
				{ID: "sg-bastion", VPC: "vpc-1", Egress: []Rule{{Protocol: "tcp", FromPort: 15432, ToPort: 15432, Groups: []string{"sg-db"}}}},
				{ID: "sg-app", VPC: "vpc-1", Egress: []Rule{{Protocol: "-1", CIDRs: []string{"0.0.0.0/0"}}}},
			},
			Subnets: []Subnet{
				{ID: "subnet-a", VPC: "vpc-1", CIDR: "10.0.1.0/24"}, {ID: "subnet-b", VPC: "vpc-1", CIDR: "10.0.2.0/24"},
				{ID: "subnet-pub", VPC: "vpc-1", CIDR: "10.0.100.0/24"},
			},
			RouteTables: []RouteTable{
				{ID: "rtb-main", VPC: "vpc-1", Main: true, Routes: []Route{{Destination: "10.0.0.0/16", Target: "local"}}},
				{ID: "rtb-pub", VPC: "vpc-1", Subnets: []string{"subnet-pub"}, Routes: []Route{{Destination: "10.0.0.0/16", Target: "local"}, {Destination: "0.0.0.0/0", Target: "igw-1"}}},
				{ID: "rtb-priv", VPC: "vpc-1", Subnets: []string{"subnet-a"}, Routes: []Route{{Destination: "10.0.0.0/16", Target: "local"}, {Destination: "0.0.0.0/0", Target: "nat-1"}}},
			},
			InternetGateways: []InternetGateway{{ID: "igw-1", VPCs: []string{"vpc-1"}}},
			NetworkACLs: []NetworkACL{
				{ID: "acl-default", VPC: "vpc-1", Default: true, Subnets: []string{"subnet-pub"}, Entries: []ACLEntry{
					{RuleNumber: 100, Allow: true, Protocol: "-1", CIDR: "0.0.0.0/0"},
					{RuleNumber: 32767, Protocol: "-1", CIDR: "0.0.0.0/0"},
				}},
				{ID: "acl-db", VPC: "vpc-1", Subnets: []string{"subnet-a", "subnet-b"}, Entries: []ACLEntry{
					{RuleNumber: 100, Allow: true, Protocol: "6", CIDR: "10.0.0.0/16", FromPort: 15432, ToPort: 15432},
					{RuleNumber: 100, Egress: true, Allow: true, Protocol: "6", CIDR: "10.0.0.0/16", FromPort: 1024, ToPort: 65535},
					{RuleNumber: 32767, Protocol: "-1", CIDR: "0.0.0.0/0"},
				}},
			},
			Trails: []Trail{{Name: "org", ARN: "arn:aws:cloudtrail:eu-west-1:123456789012:trail/org", HomeRegion: "eu-west-1", MultiRegion: true, IsLogging: ptr(true)}},
			LogGroups: []LogGroup{
				{Name: "/aws/rds/instance/db1/postgresql", RetentionDays: 365},
				{Name: "/aws/rds/cluster/c1/postgresql", RetentionDays: 365},
			},
			MetricFilters: []MetricFilter{
				{Name: "rdsgate-outside-vpc-db1", LogGroup: "/aws/rds/instance/db1/postgresql", Pattern: `"connection received" -"host=10.0."`, Namespace: "rdsgate", Metric: "OutsideVPCConnections-db1"},
				{Name: "rdsgate-outside-vpc-c1", LogGroup: "/aws/rds/cluster/c1/postgresql", Pattern: `"connection received" -"host=10.0."`, Namespace: "rdsgate", Metric: "OutsideVPCConnections-c1"},
			},
			Alarms: []Alarm{
				{Name: "db1-outside", Namespace: "rdsgate", Metric: "OutsideVPCConnections-db1", ActionsEnabled: true, Actions: []string{"arn:aws:sns:us-east-1:123456789012:oncall"}},
				{Name: "c1-outside", Namespace: "rdsgate", Metric: "OutsideVPCConnections-c1", ActionsEnabled: true, Actions: []string{"arn:aws:sns:us-east-1:123456789012:oncall"}},
			},
			MasterSecrets: []Secret{{ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-db1", Name: "rds!db-db1", OwningService: "rds", RotationEnabled: true}},
		}},
		IAM: IAMData{DeleteGuardPolicies: []IAMPolicy{{
			ARN: "arn:aws:iam::123456789012:policy/rds-guard", Name: "rds-guard", AttachmentCount: 2,
			Statements: []Statement{{Effect: "Deny", Actions: []string{"rds:Delete*"}, Resources: []string{"arn:aws:rds:*:123456789012:*"}}},
		}}},
	}
}
