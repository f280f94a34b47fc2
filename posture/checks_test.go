package posture

import (
	"slices"
	"testing"
	"time"
)

func rg(s *Snapshot) *Region { return &s.Regions[0] }

func inst(s *Snapshot, id string) *Instance {
	for i := range rg(s).Instances {
		if rg(s).Instances[i].ID == id {
			return &rg(s).Instances[i]
		}
	}
	panic("no instance " + id)
}

func clu(s *Snapshot) *Cluster { return &rg(s).Clusters[0] }

func sg(s *Snapshot, id string) *SecurityGroup {
	for i := range rg(s).SecurityGroups {
		if rg(s).SecurityGroups[i].ID == id {
			return &rg(s).SecurityGroups[i]
		}
	}
	panic("no sg " + id)
}

func deny(action string) func(*Snapshot) {
	return func(s *Snapshot) {
		rg(s).Errors = append(rg(s).Errors, AccessError{Action: action, Code: "AccessDenied", Denied: true})
	}
}

func evaluate(t *testing.T, s *Snapshot, checkID, dbID string, opts *AuditOptions) Result {
	t.Helper()
	c := CheckByID(checkID)
	if c == nil {
		t.Fatalf("no check %q", checkID)
	}
	if opts == nil {
		opts = &hardenedOpts
	}
	for _, db := range s.Databases() {
		if db.ID() == dbID {
			db.opts = opts
			return c.Evaluate(s, db)
		}
	}
	t.Fatalf("no database %q", dbID)
	return Result{}
}

func clusterDenied(s *Snapshot) {
	rg(s).Clusters = nil
	deny("rds:DescribeDBClusters")(s)
}

func membersDenied(s *Snapshot) {
	rg(s).Instances = rg(s).Instances[:1]
	deny("rds:DescribeDBInstances")(s)
}

type checkCase struct {
	check, name, db string
	mutate          func(*Snapshot)
	want            Status
	missing         []string
	// opts replace hardenedOpts.
	opts *AuditOptions
}

// TestHardenedPassesEverything: the fixture is the reference for "pass".
func TestHardenedPassesEverything(t *testing.T) {
	s := hardened()
	for _, db := range s.Databases() {
		db.opts = &hardenedOpts
		for _, c := range Checks() {
			r := c.Evaluate(s, db)
			if r.Status != StatusPass {
				t.Errorf("%s on %s: %s: %s", c.ID, db.ID(), r.Status, r.Detail)
			}
		}
	}
}

func TestChecks(t *testing.T) {
	cases := []checkCase{
		{check: "public-access", name: "instance public", mutate: func(s *Snapshot) { inst(s, "db1").PubliclyAccessible = true }, want: StatusFail},
		{check: "public-access", name: "cluster member public", db: "c1", mutate: func(s *Snapshot) { inst(s, "c1-b").PubliclyAccessible = true }, want: StatusFail},
		{check: "public-access", name: "members denied", db: "c1", mutate: func(s *Snapshot) {
			rg(s).Instances = rg(s).Instances[:1]
			deny("rds:DescribeDBInstances")(s)
		}, want: StatusUnknown, missing: []string{"rds:DescribeDBInstances"}},

		{check: "public-subnet", name: "explicit igw route", mutate: func(s *Snapshot) { inst(s, "db1").Subnets = []string{"subnet-a", "subnet-pub"} }, want: StatusFail},
		{check: "public-subnet", name: "main table igw", mutate: func(s *Snapshot) {
			rg(s).RouteTables[0].Routes = append(rg(s).RouteTables[0].Routes, Route{Destination: "::/0", Target: "igw-1"})
		}, want: StatusFail},
		{check: "public-subnet", name: "blackhole igw route is private", mutate: func(s *Snapshot) {
			rg(s).RouteTables[0].Routes = append(rg(s).RouteTables[0].Routes, Route{Destination: "0.0.0.0/0", Target: "igw-1", State: "blackhole"})
		}, want: StatusPass},
		{check: "public-subnet", name: "denied", mutate: deny("ec2:DescribeRouteTables"), want: StatusUnknown, missing: []string{"ec2:DescribeRouteTables"}},
		{check: "public-subnet", name: "no route table", mutate: func(s *Snapshot) { rg(s).RouteTables = rg(s).RouteTables[1:] }, want: StatusUnknown},

		{check: "sg-open-ingress", name: "world on the port", mutate: func(s *Snapshot) {
			sg(s, "sg-db").Ingress = append(sg(s, "sg-db").Ingress, Rule{Protocol: "tcp", FromPort: 15432, ToPort: 15432, CIDRs: []string{"0.0.0.0/0"}})
		}, want: StatusFail},
		{check: "sg-open-ingress", name: "ipv6 all traffic", mutate: func(s *Snapshot) {
			sg(s, "sg-db").Ingress = append(sg(s, "sg-db").Ingress, Rule{Protocol: "-1", CIDRs: []string{"::/0"}})
		}, want: StatusFail},
		{check: "sg-open-ingress", name: "world on another port", mutate: func(s *Snapshot) {
			sg(s, "sg-db").Ingress = append(sg(s, "sg-db").Ingress, Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []string{"0.0.0.0/0"}})
		}, want: StatusPass},
		{check: "sg-open-ingress", name: "denied", mutate: deny("ec2:DescribeSecurityGroups"), want: StatusUnknown, missing: []string{"ec2:DescribeSecurityGroups"}},
		{check: "sg-open-ingress", name: "group missing", mutate: func(s *Snapshot) { inst(s, "db1").SecurityGroups = []string{"sg-gone"} }, want: StatusUnknown},

		{check: "sg-broad-ingress", name: "cidr", mutate: func(s *Snapshot) {
			sg(s, "sg-db").Ingress = append(sg(s, "sg-db").Ingress, Rule{Protocol: "tcp", FromPort: 15432, ToPort: 15432, CIDRs: []string{"10.0.0.0/16"}})
		}, want: StatusFail},
		{check: "sg-broad-ingress", name: "group on all ports", mutate: func(s *Snapshot) {
			sg(s, "sg-db").Ingress = []Rule{{Protocol: "-1", Groups: []string{"sg-app"}}}
		}, want: StatusFail},
		{check: "sg-broad-ingress", name: "denied", mutate: deny("ec2:DescribeSecurityGroups"), want: StatusUnknown, missing: []string{"ec2:DescribeSecurityGroups"}},

		{check: "sg-egress", name: "allow all out", mutate: func(s *Snapshot) {
			sg(s, "sg-db").Egress = []Rule{{Protocol: "-1", CIDRs: []string{"0.0.0.0/0"}}}
		}, want: StatusFail},
		{check: "sg-egress", name: "denied", mutate: deny("ec2:DescribeSecurityGroups"), want: StatusUnknown, missing: []string{"ec2:DescribeSecurityGroups"}},

		{check: "nacl-broad", name: "default acl", mutate: func(s *Snapshot) { inst(s, "db1").Subnets = []string{"subnet-pub"} }, want: StatusFail},
		{check: "nacl-broad", name: "deny before allow", mutate: func(s *Snapshot) {
			acl := &rg(s).NetworkACLs[0]
			acl.Entries = append(acl.Entries, ACLEntry{RuleNumber: 50, Protocol: "6", CIDR: "0.0.0.0/0", FromPort: 15432, ToPort: 15432})
			inst(s, "db1").Subnets = []string{"subnet-pub"}
		}, want: StatusPass},
		{check: "nacl-broad", name: "denied", mutate: deny("ec2:DescribeNetworkAcls"), want: StatusUnknown, missing: []string{"ec2:DescribeNetworkAcls"}},
		{check: "nacl-broad", name: "cluster subnet group denied", db: "c1", mutate: func(s *Snapshot) {
			rg(s).SubnetGroups = nil
			rg(s).Instances = rg(s).Instances[:1]
			deny("rds:DescribeDBSubnetGroups")(s)
		}, want: StatusUnknown, missing: []string{"rds:DescribeDBSubnetGroups"}},

		{check: "iam-auth-disabled", name: "off", mutate: func(s *Snapshot) { inst(s, "db1").IAMAuth = false }, want: StatusFail},
		{check: "iam-auth-disabled", name: "cluster off", db: "c1", mutate: func(s *Snapshot) { clu(s).IAMAuth = false }, want: StatusFail},
		{check: "iam-auth-disabled", name: "oracle", mutate: func(s *Snapshot) { inst(s, "db1").Engine = "oracle-ee" }, want: StatusSkip},

		{check: "default-master-username", name: "admin", mutate: func(s *Snapshot) { inst(s, "db1").MasterUsername = "Admin" }, want: StatusFail},
		{check: "default-master-username", name: "postgres", db: "c1", mutate: func(s *Snapshot) { clu(s).MasterUsername = "postgres" }, want: StatusFail},
		{check: "default-master-username", name: "not reported", mutate: func(s *Snapshot) { inst(s, "db1").MasterUsername = "" }, want: StatusUnknown},

		{check: "master-password-not-managed", name: "no secret", mutate: func(s *Snapshot) { inst(s, "db1").MasterSecretARN = "" }, want: StatusFail},
		{check: "master-password-not-managed", name: "cluster no secret", db: "c1", mutate: func(s *Snapshot) { clu(s).MasterSecretARN = "" }, want: StatusFail},

		{check: "tls-not-enforced", name: "zero", mutate: func(s *Snapshot) { rg(s).ParameterGroups[0].Parameters["rds.force_ssl"] = "0" }, want: StatusFail},
		{check: "tls-not-enforced", name: "mysql OFF", mutate: func(s *Snapshot) {
			inst(s, "db1").Engine = "mysql"
			rg(s).ParameterGroups[0].Parameters = map[string]string{"require_secure_transport": "OFF"}
		}, want: StatusFail},
		{check: "tls-not-enforced", name: "mariadb ON", mutate: func(s *Snapshot) {
			inst(s, "db1").Engine = "mariadb"
			rg(s).ParameterGroups[0].Parameters = map[string]string{"require_secure_transport": "ON"}
		}, want: StatusPass},
		{check: "tls-not-enforced", name: "pg15 default", mutate: func(s *Snapshot) { rg(s).ParameterGroups[0].Parameters = map[string]string{} }, want: StatusPass},
		{check: "tls-not-enforced", name: "pg14 default", mutate: func(s *Snapshot) {
			inst(s, "db1").EngineVersion = "14.10"
			rg(s).ParameterGroups[0].Parameters = map[string]string{}
		}, want: StatusFail},
		{check: "tls-not-enforced", name: "group denied", mutate: func(s *Snapshot) {
			rg(s).ParameterGroups = rg(s).ParameterGroups[1:]
			rg(s).Errors = append(rg(s).Errors, AccessError{Action: "rds:DescribeDBParameters", Code: "AccessDenied", Denied: true, Resource: "pg-tls"})
		}, want: StatusUnknown, missing: []string{"rds:DescribeDBParameters"}},
		{check: "tls-not-enforced", name: "cluster group denied", db: "c1", mutate: func(s *Snapshot) {
			rg(s).ParameterGroups = rg(s).ParameterGroups[:1]
			deny("rds:DescribeDBClusterParameters")(s)
		}, want: StatusUnknown, missing: []string{"rds:DescribeDBClusterParameters"}},

		{check: "storage-unencrypted", name: "off", mutate: func(s *Snapshot) { inst(s, "db1").StorageEncrypted = false }, want: StatusFail},
		{check: "storage-unencrypted", name: "cluster off", db: "c1", mutate: func(s *Snapshot) { clu(s).StorageEncrypted = false }, want: StatusFail},

		{check: "snapshot-public", name: "all", mutate: func(s *Snapshot) { rg(s).Snapshots[0].RestoreAccounts = []string{"all"} }, want: StatusFail},
		{check: "snapshot-public", name: "cluster all", db: "c1", mutate: func(s *Snapshot) { rg(s).Snapshots[2].RestoreAccounts = []string{"all"} }, want: StatusFail},
		{check: "snapshot-public", name: "list denied", mutate: deny("rds:DescribeDBSnapshots"), want: StatusUnknown, missing: []string{"rds:DescribeDBSnapshots"}},
		{check: "snapshot-public", name: "attributes denied", mutate: func(s *Snapshot) {
			rg(s).Snapshots[0].AttributesRead = false
			rg(s).Errors = append(rg(s).Errors, AccessError{Action: "rds:DescribeDBSnapshotAttributes", Code: "AccessDenied", Denied: true, Resource: "db1-manual"})
		}, want: StatusUnknown, missing: []string{"rds:DescribeDBSnapshotAttributes"}},

		{check: "snapshot-unencrypted", name: "plain", mutate: func(s *Snapshot) { rg(s).Snapshots[1].Encrypted = false }, want: StatusFail},
		{check: "snapshot-unencrypted", name: "denied", db: "c1", mutate: deny("rds:DescribeDBClusterSnapshots"), want: StatusUnknown, missing: []string{"rds:DescribeDBClusterSnapshots"}},

		{check: "backup-retention-low", name: "zero", mutate: func(s *Snapshot) { inst(s, "db1").BackupRetention = 0 }, want: StatusFail},
		{check: "backup-retention-low", name: "replica", mutate: func(s *Snapshot) {
			inst(s, "db1").BackupRetention = 0
			inst(s, "db1").ReadReplicaSource = "db0"
		}, want: StatusSkip},

		{check: "no-cross-region-backup", name: "none", mutate: func(s *Snapshot) { inst(s, "db1").BackupReplications = nil }, want: StatusFail},
		{check: "no-cross-region-backup", name: "seen in other region", mutate: func(s *Snapshot) {
			inst(s, "db1").BackupReplications = nil
			s.Regions = append(s.Regions, Region{Name: "us-west-2", AutomatedBackups: []AutomatedBackup{{InstanceID: "db1", SourceARN: inst(s, "db1").ARN, SourceRegion: "us-east-1", Status: "replicating"}}})
		}, want: StatusPass},
		{check: "no-cross-region-backup", name: "cluster not global", db: "c1", mutate: func(s *Snapshot) { clu(s).GlobalCluster = "" }, want: StatusFail},

		{check: "deletion-protection-off", name: "off", mutate: func(s *Snapshot) { inst(s, "db1").DeletionProtection = false }, want: StatusFail},
		{check: "deletion-protection-off", name: "cluster off", db: "c1", mutate: func(s *Snapshot) { clu(s).DeletionProtection = false }, want: StatusFail},

		{check: "no-delete-guard-policy", name: "none", mutate: func(s *Snapshot) { s.IAM.DeleteGuardPolicies = nil }, want: StatusFail},
		{check: "no-delete-guard-policy", name: "unattached", mutate: func(s *Snapshot) { s.IAM.DeleteGuardPolicies[0].AttachmentCount = 0 }, want: StatusFail},
		{check: "no-delete-guard-policy", name: "allow not deny", mutate: func(s *Snapshot) { s.IAM.DeleteGuardPolicies[0].Statements[0].Effect = "Allow" }, want: StatusFail},
		{check: "no-delete-guard-policy", name: "other account", mutate: func(s *Snapshot) {
			s.IAM.DeleteGuardPolicies[0].Statements[0].Resources = []string{"arn:aws:rds:*:999999999999:*"}
		}, want: StatusFail},
		{check: "no-delete-guard-policy", name: "denied", mutate: func(s *Snapshot) {
			s.IAM.Errors = []AccessError{{Action: "iam:ListPolicies", Code: "AccessDenied", Denied: true}}
		}, want: StatusUnknown, missing: []string{"iam:ListPolicies"}},

		{check: "cloudtrail-off", name: "no trail", mutate: func(s *Snapshot) { rg(s).Trails = nil }, want: StatusFail},
		{check: "cloudtrail-off", name: "stopped", mutate: func(s *Snapshot) { rg(s).Trails[0].IsLogging = ptr(false) }, want: StatusFail},
		{check: "cloudtrail-off", name: "single-region trail elsewhere", mutate: func(s *Snapshot) { rg(s).Trails[0].MultiRegion = false }, want: StatusFail},
		{check: "cloudtrail-off", name: "denied", mutate: deny("cloudtrail:DescribeTrails"), want: StatusUnknown, missing: []string{"cloudtrail:DescribeTrails"}},
		{check: "cloudtrail-off", name: "status denied", mutate: func(s *Snapshot) {
			rg(s).Trails[0].IsLogging = nil
			rg(s).Errors = append(rg(s).Errors, AccessError{Action: "cloudtrail:GetTrailStatus", Code: "AccessDenied", Denied: true, Resource: rg(s).Trails[0].ARN})
		}, want: StatusUnknown, missing: []string{"cloudtrail:GetTrailStatus"}},

		{check: "audit-logs-not-exported", name: "none", mutate: func(s *Snapshot) { inst(s, "db1").LogExports = nil }, want: StatusFail},
		{check: "audit-logs-not-exported", name: "mysql partial", mutate: func(s *Snapshot) {
			inst(s, "db1").Engine = "mysql"
			inst(s, "db1").LogExports = []string{"error"}
		}, want: StatusFail},
		{check: "audit-logs-not-exported", name: "db2", mutate: func(s *Snapshot) { inst(s, "db1").Engine = "db2-se" }, want: StatusSkip},

		{check: "no-outside-vpc-connection-alarm", name: "no filter", mutate: func(s *Snapshot) { rg(s).MetricFilters = nil }, want: StatusFail},
		{check: "no-outside-vpc-connection-alarm", name: "no alarm", mutate: func(s *Snapshot) { rg(s).Alarms = nil }, want: StatusFail},
		{check: "no-outside-vpc-connection-alarm", name: "alarm without actions", mutate: func(s *Snapshot) { rg(s).Alarms[0].Actions = nil }, want: StatusFail},
		{check: "no-outside-vpc-connection-alarm", name: "filters denied", mutate: deny("logs:DescribeMetricFilters"), want: StatusUnknown, missing: []string{"logs:DescribeMetricFilters"}},
		{check: "no-outside-vpc-connection-alarm", name: "alarms denied", db: "c1", mutate: func(s *Snapshot) {
			rg(s).Alarms = nil
			deny("cloudwatch:DescribeAlarms")(s)
		}, want: StatusUnknown, missing: []string{"cloudwatch:DescribeAlarms"}},

		{check: "ca-expiring", name: "expires in 30 days", mutate: func(s *Snapshot) {
			inst(s, "db1").CertValidTill = ptr(fixtureTime.Add(30 * 24 * time.Hour))
		}, want: StatusFail},
		{check: "ca-expiring", name: "rds-ca-2019", db: "c1", mutate: func(s *Snapshot) {
			inst(s, "c1-a").CertValidTill = nil
			inst(s, "c1-a").CAIdentifier = "rds-ca-2019"
		}, want: StatusFail},
		{check: "ca-expiring", name: "not reported", mutate: func(s *Snapshot) {
			inst(s, "db1").CertValidTill = nil
			inst(s, "db1").CAIdentifier = ""
		}, want: StatusUnknown},

		{check: "auto-minor-upgrade-off", name: "off", mutate: func(s *Snapshot) { inst(s, "db1").AutoMinorUpgrade = false }, want: StatusFail},
		{check: "auto-minor-upgrade-off", name: "member off", db: "c1", mutate: func(s *Snapshot) { inst(s, "c1-b").AutoMinorUpgrade = false }, want: StatusFail},
		{check: "auto-minor-upgrade-off", name: "no members", db: "c1", mutate: func(s *Snapshot) { rg(s).Instances = rg(s).Instances[:1]; clu(s).Members = nil }, want: StatusSkip},

		{check: "multi-az-off", name: "single az", mutate: func(s *Snapshot) { inst(s, "db1").MultiAZ = false }, want: StatusFail},
		{check: "multi-az-off", name: "one member", db: "c1", mutate: func(s *Snapshot) { rg(s).Instances = rg(s).Instances[:2]; clu(s).Members = []string{"c1-a"} }, want: StatusFail},
	}
	cases = append(cases, newCheckCases()...)
	cases = append(cases, []checkCase{
		{check: "audit-logs-not-exported", name: "cluster denied", db: "c1", mutate: clusterDenied, want: StatusUnknown, missing: []string{"rds:DescribeDBClusters"}},
		{check: "backup-retention-low", name: "cluster denied", db: "c1", mutate: clusterDenied, want: StatusUnknown, missing: []string{"rds:DescribeDBClusters"}},
		{check: "deletion-protection-off", name: "cluster denied", db: "c1", mutate: clusterDenied, want: StatusUnknown, missing: []string{"rds:DescribeDBClusters"}},
		{check: "iam-auth-disabled", name: "cluster denied", db: "c1", mutate: clusterDenied, want: StatusUnknown, missing: []string{"rds:DescribeDBClusters"}},
		{check: "master-password-not-managed", name: "cluster denied", db: "c1", mutate: clusterDenied, want: StatusUnknown, missing: []string{"rds:DescribeDBClusters"}},
		{check: "no-cross-region-backup", name: "cluster denied", db: "c1", mutate: clusterDenied, want: StatusUnknown, missing: []string{"rds:DescribeDBClusters"}},
		{check: "storage-unencrypted", name: "cluster denied", db: "c1", mutate: clusterDenied, want: StatusUnknown, missing: []string{"rds:DescribeDBClusters"}},
		{check: "sg-open-ingress", name: "cluster denied", db: "c1", mutate: clusterDenied, want: StatusUnknown, missing: []string{"rds:DescribeDBClusters"}},
		{check: "tls-not-enforced", name: "cluster denied", db: "c1", mutate: clusterDenied, want: StatusUnknown, missing: []string{"rds:DescribeDBClusters"}},
		{check: "auto-minor-upgrade-off", name: "members denied", db: "c1", mutate: membersDenied, want: StatusUnknown, missing: []string{"rds:DescribeDBInstances"}},
		{check: "multi-az-off", name: "members denied", db: "c1", mutate: membersDenied, want: StatusUnknown, missing: []string{"rds:DescribeDBInstances"}},
		{check: "ca-expiring", name: "cluster denied still reads members", db: "c1", mutate: clusterDenied, want: StatusPass},
	}...)
	for _, tc := range cases {
		if tc.db == "" {
			tc.db = "db1"
		}
		t.Run(tc.check+"/"+tc.name, func(t *testing.T) {
			s := hardened()
			tc.mutate(s)
			r := evaluate(t, s, tc.check, tc.db, tc.opts)
			if r.Status != tc.want {
				t.Fatalf("status %s (%s), want %s", r.Status, r.Detail, tc.want)
			}
			if r.Detail == "" {
				t.Errorf("empty detail")
			}
			if !slices.Equal(r.MissingActions, tc.missing) {
				t.Errorf("missing actions %v, want %v", r.MissingActions, tc.missing)
			}
		})
	}
	// Every check has a pass (the hardened fixture), a fail and an unknown case.
	covered := map[string]map[Status]bool{}
	for _, tc := range cases {
		if covered[tc.check] == nil {
			covered[tc.check] = map[Status]bool{StatusPass: true}
		}
		covered[tc.check][tc.want] = true
	}
	for _, c := range Checks() {
		for _, st := range []Status{StatusFail, StatusUnknown} {
			if !covered[c.ID][st] {
				t.Errorf("check %s has no %s case", c.ID, st)
			}
		}
	}
}
