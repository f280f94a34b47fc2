package posture

import "time"

func ec2i(s *Snapshot, id string) *EC2Instance {
	for i := range rg(s).EC2Instances {
		if rg(s).EC2Instances[i].ID == id {
			return &rg(s).EC2Instances[i]
		}
	}
	panic("no ec2 instance " + id)
}

// newCheckCases are the cases of the checks issue 19 §2 and the bastion
// issue added; each has a failing, an unknown and (besides the hardened
// fixture) a passing or skipped case that pins an edge.
func newCheckCases() []checkCase {
	return []checkCase{
		{check: "snapshot-shared-unknown-account", name: "untrusted", opts: &AuditOptions{}, db: "c1", want: StatusFail, mutate: func(*Snapshot) {}},
		{check: "snapshot-shared-unknown-account", name: "own account", mutate: func(s *Snapshot) { rg(s).Snapshots[0].RestoreAccounts = []string{s.Account} }, want: StatusPass},
		{check: "snapshot-shared-unknown-account", name: "public is snapshot-public's", mutate: func(s *Snapshot) { rg(s).Snapshots[0].RestoreAccounts = []string{"all"} }, want: StatusPass},
		{check: "snapshot-shared-unknown-account", name: "instance snapshot to stranger", mutate: func(s *Snapshot) { rg(s).Snapshots[0].RestoreAccounts = []string{"444455556666"} }, want: StatusFail},
		{check: "snapshot-shared-unknown-account", name: "attributes denied", mutate: func(s *Snapshot) {
			rg(s).Snapshots[0].AttributesRead = false
			rg(s).Errors = append(rg(s).Errors, AccessError{Action: "rds:DescribeDBSnapshotAttributes", Code: "AccessDenied", Denied: true, Resource: "db1-manual"})
		}, want: StatusUnknown, missing: []string{"rds:DescribeDBSnapshotAttributes"}},

		{check: "engine-standard-support-ended", name: "postgres 13 after 2026-02-28", mutate: func(s *Snapshot) { inst(s, "db1").EngineVersion = "13.15" }, want: StatusFail},
		{check: "engine-standard-support-ended", name: "postgres 13 on its last day", mutate: func(s *Snapshot) {
			inst(s, "db1").EngineVersion = "13.15"
			s.CollectedAt = time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC)
		}, want: StatusPass},
		{check: "engine-standard-support-ended", name: "postgres 10 older than the calendar", mutate: func(s *Snapshot) { inst(s, "db1").EngineVersion = "10.21" }, want: StatusFail},
		{check: "engine-standard-support-ended", name: "postgres 18 newer than the calendar", mutate: func(s *Snapshot) { inst(s, "db1").EngineVersion = "18.1" }, want: StatusPass},
		{check: "engine-standard-support-ended", name: "mysql 5.7", mutate: func(s *Snapshot) {
			inst(s, "db1").Engine, inst(s, "db1").EngineVersion = "mysql", "5.7.44"
		}, want: StatusFail},
		{check: "engine-standard-support-ended", name: "aurora mysql 2", db: "c1", mutate: func(s *Snapshot) {
			clu(s).Engine, clu(s).EngineVersion = "aurora-mysql", "5.7.mysql_aurora.2.11.2"
		}, want: StatusFail},
		{check: "engine-standard-support-ended", name: "aurora mysql 3", db: "c1", mutate: func(s *Snapshot) {
			clu(s).Engine, clu(s).EngineVersion = "aurora-mysql", "8.0.mysql_aurora.3.05.2"
		}, want: StatusPass},
		{check: "engine-standard-support-ended", name: "mariadb", mutate: func(s *Snapshot) { inst(s, "db1").Engine = "mariadb" }, want: StatusSkip},
		{check: "engine-standard-support-ended", name: "version not reported", mutate: func(s *Snapshot) { inst(s, "db1").EngineVersion = "" }, want: StatusUnknown},

		{check: "enhanced-monitoring-off", name: "off", mutate: func(s *Snapshot) { inst(s, "db1").MonitoringInterval = 0 }, want: StatusFail},
		{check: "enhanced-monitoring-off", name: "aurora member off", db: "c1", mutate: func(s *Snapshot) { inst(s, "c1-b").MonitoringInterval = 0 }, want: StatusFail},
		{check: "enhanced-monitoring-off", name: "aurora cluster flag is not read", db: "c1", mutate: func(s *Snapshot) { clu(s).MonitoringInterval = 0 }, want: StatusPass},
		{check: "enhanced-monitoring-off", name: "multi-az cluster off", db: "c1", mutate: func(s *Snapshot) {
			clu(s).Engine = "postgres"
			clu(s).MonitoringInterval = 0
		}, want: StatusFail},
		{check: "enhanced-monitoring-off", name: "members denied", db: "c1", mutate: membersDenied, want: StatusUnknown, missing: []string{"rds:DescribeDBInstances"}},

		{check: "event-subscription-missing", name: "none", mutate: func(s *Snapshot) { rg(s).EventSubscriptions = nil }, want: StatusFail},
		{check: "event-subscription-missing", name: "disabled", mutate: func(s *Snapshot) { rg(s).EventSubscriptions[0].Enabled = false }, want: StatusFail},
		{check: "event-subscription-missing", name: "failure not covered", mutate: func(s *Snapshot) {
			rg(s).EventSubscriptions[0].Categories = []string{"maintenance", "configuration change"}
		}, want: StatusFail},
		{check: "event-subscription-missing", name: "other instance only", mutate: func(s *Snapshot) { rg(s).EventSubscriptions[0].SourceIDs = []string{"other-db"} }, want: StatusFail},
		{check: "event-subscription-missing", name: "named instance", mutate: func(s *Snapshot) { rg(s).EventSubscriptions[0].SourceIDs = []string{"db1"} }, want: StatusPass},
		{check: "event-subscription-missing", name: "cluster events missing", db: "c1", mutate: func(s *Snapshot) { rg(s).EventSubscriptions = rg(s).EventSubscriptions[:1:1] }, want: StatusFail},
		{check: "event-subscription-missing", name: "one subscription to everything", db: "c1", mutate: func(s *Snapshot) {
			rg(s).EventSubscriptions = []EventSubscription{{Name: "all", Enabled: true, Status: "active"}}
		}, want: StatusPass},
		{check: "event-subscription-missing", name: "denied", mutate: deny("rds:DescribeEventSubscriptions"), want: StatusUnknown, missing: []string{"rds:DescribeEventSubscriptions"}},

		{check: "copy-tags-to-snapshot-off", name: "off", mutate: func(s *Snapshot) { inst(s, "db1").CopyTagsToSnapshot = false }, want: StatusFail},
		{check: "copy-tags-to-snapshot-off", name: "cluster off", db: "c1", mutate: func(s *Snapshot) { clu(s).CopyTagsToSnapshot = false }, want: StatusFail},
		{check: "copy-tags-to-snapshot-off", name: "cluster denied", db: "c1", mutate: clusterDenied, want: StatusUnknown, missing: []string{"rds:DescribeDBClusters"}},

		{check: "default-port", name: "5432", mutate: func(s *Snapshot) { inst(s, "db1").Port = 5432 }, want: StatusFail},
		{check: "default-port", name: "cluster 5432", db: "c1", mutate: func(s *Snapshot) { clu(s).Port = 5432 }, want: StatusFail},
		{check: "default-port", name: "mysql on 5432 is not its default", mutate: func(s *Snapshot) {
			inst(s, "db1").Engine = "mysql"
			inst(s, "db1").Port = 5432
		}, want: StatusPass},
		{check: "default-port", name: "not reported", mutate: func(s *Snapshot) { inst(s, "db1").Port = 0 }, want: StatusUnknown},

		{check: "default-vpc", name: "default", mutate: func(s *Snapshot) { rg(s).VPCs[0].Default = true }, want: StatusFail},
		{check: "default-vpc", name: "cluster in default", db: "c1", mutate: func(s *Snapshot) { rg(s).VPCs[0].Default = true }, want: StatusFail},
		{check: "default-vpc", name: "denied", mutate: deny("ec2:DescribeVpcs"), want: StatusUnknown, missing: []string{"ec2:DescribeVpcs"}},
		{check: "default-vpc", name: "vpc missing", mutate: func(s *Snapshot) { rg(s).VPCs = nil }, want: StatusUnknown},

		{check: "production-multi-az-off", name: "single az", mutate: func(s *Snapshot) { inst(s, "db1").MultiAZ = false }, want: StatusFail},
		{check: "production-multi-az-off", name: "not production", mutate: func(s *Snapshot) {
			inst(s, "db1").MultiAZ = false
			inst(s, "db1").Tags = map[string]string{"Environment": "staging"}
		}, want: StatusSkip},
		{check: "production-multi-az-off", name: "custom tag", opts: &AuditOptions{Production: TagMatch{Keys: []string{"tier"}, Values: []string{"critical"}}}, mutate: func(s *Snapshot) {
			inst(s, "db1").MultiAZ = false
			inst(s, "db1").Tags = map[string]string{"tier": "Critical"}
		}, want: StatusFail},
		{check: "production-multi-az-off", name: "custom tag ignores the defaults", opts: &AuditOptions{Production: TagMatch{Keys: []string{"tier"}, Values: []string{"critical"}}}, mutate: func(s *Snapshot) {
			inst(s, "db1").MultiAZ = false
		}, want: StatusSkip},
		{check: "production-multi-az-off", name: "one aurora member", db: "c1", mutate: func(s *Snapshot) { rg(s).Instances = rg(s).Instances[:2]; clu(s).Members = []string{"c1-a"} }, want: StatusFail},
		{check: "production-multi-az-off", name: "members denied", db: "c1", mutate: membersDenied, want: StatusUnknown, missing: []string{"rds:DescribeDBInstances"}},

		{check: "performance-insights-aws-key", name: "aws/rds", mutate: func(s *Snapshot) { inst(s, "db1").PerformanceInsightsKMSKeyID = awsRDSKey }, want: StatusFail},
		{check: "performance-insights-aws-key", name: "aurora member aws/rds", db: "c1", mutate: func(s *Snapshot) { inst(s, "c1-a").PerformanceInsightsKMSKeyID = awsRDSKey }, want: StatusFail},
		{check: "performance-insights-aws-key", name: "bare key id", mutate: func(s *Snapshot) { inst(s, "db1").PerformanceInsightsKMSKeyID = "1111aaaa-2222-3333-4444-555566667777" }, want: StatusPass},
		{check: "performance-insights-aws-key", name: "off", mutate: func(s *Snapshot) {
			inst(s, "db1").PerformanceInsights = false
			inst(s, "db1").PerformanceInsightsKMSKeyID = awsRDSKey
		}, want: StatusSkip},
		{check: "performance-insights-aws-key", name: "key denied", mutate: func(s *Snapshot) {
			rg(s).KMSKeys = nil
			rg(s).Errors = append(rg(s).Errors, AccessError{Action: "kms:DescribeKey", Code: "AccessDeniedException", Denied: true, Resource: cmk})
		}, want: StatusUnknown, missing: []string{"kms:DescribeKey"}},

		{check: "bastion-public-ip", name: "tagged bastion public", mutate: func(s *Snapshot) { ec2i(s, "i-bastion").PublicIP = "198.51.100.1" }, want: StatusFail},
		{check: "bastion-public-ip", name: "ssm target public", db: "c1", mutate: func(s *Snapshot) { ec2i(s, "i-ssm").PublicIP = "198.51.100.2" }, want: StatusFail},
		{check: "bastion-public-ip", name: "bastion in another vpc", mutate: func(s *Snapshot) {
			ec2i(s, "i-bastion").PublicIP = "198.51.100.1"
			ec2i(s, "i-bastion").VPC = "vpc-default"
		}, want: StatusPass},
		{check: "bastion-public-ip", name: "terminated", mutate: func(s *Snapshot) {
			ec2i(s, "i-bastion").PublicIP = "198.51.100.1"
			ec2i(s, "i-bastion").State = "terminated"
		}, want: StatusPass},
		{check: "bastion-public-ip", name: "no bastion", mutate: func(s *Snapshot) {
			rg(s).EC2Instances = rg(s).EC2Instances[2:]
			rg(s).ManagedInstances = nil
		}, want: StatusSkip},
		{check: "bastion-public-ip", name: "denied", mutate: deny("ec2:DescribeInstances"), want: StatusUnknown, missing: []string{"ec2:DescribeInstances"}},
		{check: "bastion-public-ip", name: "ssm denied", mutate: deny("ssm:DescribeInstanceInformation"), want: StatusUnknown, missing: []string{"ssm:DescribeInstanceInformation"}},
		{check: "bastion-public-ip", name: "ssm denied, tagged bastion public", mutate: func(s *Snapshot) {
			deny("ssm:DescribeInstanceInformation")(s)
			ec2i(s, "i-bastion").PublicIP = "198.51.100.1"
		}, want: StatusFail},

		{check: "bastion-key-pair", name: "key", mutate: func(s *Snapshot) { ec2i(s, "i-bastion").KeyName = "ops" }, want: StatusFail},
		{check: "bastion-key-pair", name: "denied", mutate: deny("ec2:DescribeInstances"), want: StatusUnknown, missing: []string{"ec2:DescribeInstances"}},

		{check: "bastion-ssh-open", name: "22 from anywhere", mutate: func(s *Snapshot) {
			sg(s, "sg-bastion").Ingress = []Rule{{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []string{"0.0.0.0/0"}}}
		}, want: StatusFail},
		{check: "bastion-ssh-open", name: "all traffic from ::/0", mutate: func(s *Snapshot) {
			sg(s, "sg-bastion").Ingress = []Rule{{Protocol: "-1", FromPort: 0, ToPort: 65535, CIDRs: []string{"::/0"}}}
		}, want: StatusFail},
		{check: "bastion-ssh-open", name: "22 from the office", mutate: func(s *Snapshot) {
			sg(s, "sg-bastion").Ingress = []Rule{{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []string{"192.0.2.0/24"}}}
		}, want: StatusPass},
		{check: "bastion-ssh-open", name: "group missing", mutate: func(s *Snapshot) { ec2i(s, "i-bastion").SecurityGroups = []string{"sg-gone"} }, want: StatusUnknown},
		{check: "bastion-ssh-open", name: "groups denied", mutate: deny("ec2:DescribeSecurityGroups"), want: StatusUnknown, missing: []string{"ec2:DescribeSecurityGroups"}},

		{check: "bastion-imdsv1", name: "optional", mutate: func(s *Snapshot) { ec2i(s, "i-ssm").HTTPTokens = "optional" }, want: StatusFail},
		{check: "bastion-imdsv1", name: "not reported", mutate: func(s *Snapshot) { ec2i(s, "i-bastion").HTTPTokens = "" }, want: StatusUnknown},
	}
}
