package collect

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/posture"
)

var update = flag.Bool("update", false, "rewrite golden files")

var collectedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// badFindings are the findings the deliberately bad account must produce.
var badFindings = []string{
	"public-access", "public-subnet", "sg-open-ingress", "storage-unencrypted", "iam-auth-disabled",
	"default-master-username", "deletion-protection-off", "backup-retention-low", "cloudtrail-off",
	"master-password-not-managed", "tls-not-enforced", "sg-egress", "nacl-broad", "audit-logs-not-exported",
	"no-outside-vpc-connection-alarm", "no-delete-guard-policy", "auto-minor-upgrade-off",
	"copy-tags-to-snapshot-off", "enhanced-monitoring-off", "event-subscription-missing", "default-port",
	"bastion-public-ip", "bastion-key-pair", "bastion-ssh-open", "bastion-imdsv1",
}

// must panics on a setup error (failing the test with its stack): the
// builders make dozens of calls.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("moto setup: %v", err))
	}
	return v
}

type network struct {
	vpc, sg, appSG, subnetGroup string
	subnets                     []string
}

// buildNetwork makes a VPC with two subnets and a DB subnet group; public
// adds an internet gateway route and a world-open security group.
func buildNetwork(t *testing.T, ctx context.Context, cfg aws.Config, name, cidr string, public bool) network {
	e := ec2.NewFromConfig(cfg)
	r := rds.NewFromConfig(cfg)
	var n network
	vpc := must(e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr + ".0.0/16")}))
	n.vpc = aws.ToString(vpc.Vpc.VpcId)
	for i, az := range []string{"a", "b"} {
		s := must(e.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &n.vpc, CidrBlock: aws.String(fmt.Sprintf("%s.%d.0/24", cidr, i+1)), AvailabilityZone: aws.String(cfg.Region + az)}))
		n.subnets = append(n.subnets, aws.ToString(s.Subnet.SubnetId))
	}
	rt := must(e.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: &n.vpc}))
	rtID := rt.RouteTable.RouteTableId
	if public {
		igw := must(e.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{}))
		must(e.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: igw.InternetGateway.InternetGatewayId, VpcId: &n.vpc}))
		must(e.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: rtID, DestinationCidrBlock: aws.String("0.0.0.0/0"), GatewayId: igw.InternetGateway.InternetGatewayId}))
	}
	for _, s := range n.subnets {
		must(e.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: rtID, SubnetId: aws.String(s)}))
	}
	app := must(e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name + "-app"), Description: aws.String("app"), VpcId: &n.vpc}))
	n.appSG = aws.ToString(app.GroupId)
	sg := must(e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name + "-db"), Description: aws.String("db"), VpcId: &n.vpc}))
	n.sg = aws.ToString(sg.GroupId)
	// The bad database listens on PostgreSQL's default port, the good one
	// on another.
	port := aws.Int32(15432)
	if public {
		port = aws.Int32(5432)
	}
	perm := ec2types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: port, ToPort: port}
	if public {
		perm.IpRanges = []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}
	} else {
		perm.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: &n.appSG}}
		// No outbound rules on the database's group.
		must(e.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: &n.sg, IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}))
		// A network ACL that admits the port only from the VPC.
		acl := must(e.CreateNetworkAcl(ctx, &ec2.CreateNetworkAclInput{VpcId: &n.vpc}))
		aclID := acl.NetworkAcl.NetworkAclId
		must(e.CreateNetworkAclEntry(ctx, &ec2.CreateNetworkAclEntryInput{NetworkAclId: aclID, RuleNumber: aws.Int32(100), Protocol: aws.String("6"), RuleAction: ec2types.RuleActionAllow, Egress: aws.Bool(false), CidrBlock: aws.String(cidr + ".0.0/16"), PortRange: &ec2types.PortRange{From: port, To: port}}))
		acls := must(e.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{n.vpc}}, {Name: aws.String("default"), Values: []string{"true"}}}}))
		for _, a := range acls.NetworkAcls[0].Associations {
			if slices.Contains(n.subnets, aws.ToString(a.SubnetId)) {
				must(e.ReplaceNetworkAclAssociation(ctx, &ec2.ReplaceNetworkAclAssociationInput{AssociationId: a.NetworkAclAssociationId, NetworkAclId: aclID}))
			}
		}
	}
	must(e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &n.sg, IpPermissions: []ec2types.IpPermission{perm}}))
	n.subnetGroup = name + "-subnets"
	must(r.CreateDBSubnetGroup(ctx, &rds.CreateDBSubnetGroupInput{DBSubnetGroupName: &n.subnetGroup, DBSubnetGroupDescription: aws.String(name), SubnetIds: n.subnets}))
	return n
}

func buildBad(t *testing.T, ctx context.Context, cfg aws.Config) {
	n := buildNetwork(t, ctx, cfg, "bad", "10.1", true)
	must(rds.NewFromConfig(cfg).CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String("bad-db"), Engine: aws.String("postgres"), EngineVersion: aws.String("14.10"),
		DBInstanceClass: aws.String("db.t3.micro"), AllocatedStorage: aws.Int32(20),
		MasterUsername: aws.String("admin"), MasterUserPassword: aws.String("password123"),
		DBSubnetGroupName: &n.subnetGroup, VpcSecurityGroupIds: []string{n.sg},
		PubliclyAccessible: aws.Bool(true), StorageEncrypted: aws.Bool(false),
		EnableIAMDatabaseAuthentication: aws.Bool(false), DeletionProtection: aws.Bool(false),
		BackupRetentionPeriod: aws.Int32(0), AutoMinorVersionUpgrade: aws.Bool(false),
	}))
	// A bastion built the careless way: a key pair, a public address,
	// SSH open to the world and IMDSv1.
	e := ec2.NewFromConfig(cfg)
	must(e.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("bad-key")}))
	sg := must(e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("bad-bastion"), Description: aws.String("bastion"), VpcId: &n.vpc}))
	must(e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: []ec2types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}},
	}}}))
	// Moto drops the groups of a NetworkInterfaces launch: the public
	// address comes from the subnet instead.
	must(e.ModifySubnetAttribute(ctx, &ec2.ModifySubnetAttributeInput{SubnetId: &n.subnets[0], MapPublicIpOnLaunch: &ec2types.AttributeBooleanValue{Value: aws.Bool(true)}}))
	runBastion(ctx, e, n, ec2.RunInstancesInput{KeyName: aws.String("bad-key"), SubnetId: &n.subnets[0], SecurityGroupIds: []string{aws.ToString(sg.GroupId)},
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateOptional},
	})
}

// runBastion launches an instance tagged as the VPC's bastion.
func runBastion(ctx context.Context, e *ec2.Client, n network, in ec2.RunInstancesInput) {
	in.ImageId, in.InstanceType = aws.String("ami-12c6146b"), ec2types.InstanceTypeT4gNano
	in.MinCount, in.MaxCount = aws.Int32(1), aws.Int32(1)
	in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{{Key: aws.String(posture.BastionTag), Value: &n.vpc}}}}
	must(e.RunInstances(ctx, &in))
}

// buildHardened builds the careful account; cli runs the AWS CLI as cfg's
// principal.
func buildHardened(t *testing.T, cli func(args ...string), ctx context.Context, cfg aws.Config) {
	n := buildNetwork(t, ctx, cfg, "good", "10.2", false)
	r := rds.NewFromConfig(cfg)
	must(r.CreateDBParameterGroup(ctx, &rds.CreateDBParameterGroupInput{DBParameterGroupName: aws.String("good-tls"), DBParameterGroupFamily: aws.String("postgres16"), Description: aws.String("tls")}))
	must(r.ModifyDBParameterGroup(ctx, &rds.ModifyDBParameterGroupInput{DBParameterGroupName: aws.String("good-tls"), Parameters: []rdstypes.Parameter{{ParameterName: aws.String("rds.force_ssl"), ParameterValue: aws.String("1"), ApplyMethod: rdstypes.ApplyMethodImmediate}}}))
	must(r.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String("good-db"), Engine: aws.String("postgres"), EngineVersion: aws.String("16.3"),
		DBInstanceClass: aws.String("db.t3.micro"), AllocatedStorage: aws.Int32(20),
		MasterUsername: aws.String("ops_owner"), ManageMasterUserPassword: aws.Bool(true),
		DBSubnetGroupName: &n.subnetGroup, VpcSecurityGroupIds: []string{n.sg}, DBParameterGroupName: aws.String("good-tls"),
		PubliclyAccessible: aws.Bool(false), StorageEncrypted: aws.Bool(true), MultiAZ: aws.Bool(true),
		EnableIAMDatabaseAuthentication: aws.Bool(true), DeletionProtection: aws.Bool(true),
		BackupRetentionPeriod: aws.Int32(7), AutoMinorVersionUpgrade: aws.Bool(true),
		EnableCloudwatchLogsExports: []string{"postgresql"}, CopyTagsToSnapshot: aws.Bool(true),
		Port: aws.Int32(15432), MonitoringInterval: aws.Int32(60), MonitoringRoleArn: aws.String("arn:aws:iam::123456789012:role/rds-monitoring"),
		Tags: []rdstypes.Tag{{Key: aws.String("environment"), Value: aws.String("production")}},
	}))
	for _, st := range []struct {
		source     string
		categories []string
	}{{"db-instance", []string{"failure", "maintenance", "configuration change"}}, {"db-security-group", nil}} {
		must(r.CreateEventSubscription(ctx, &rds.CreateEventSubscriptionInput{
			SubscriptionName: aws.String("good-" + st.source), SnsTopicArn: aws.String("arn:aws:sns:us-east-1:123456789012:oncall"),
			SourceType: aws.String(st.source), EventCategories: st.categories, Enabled: aws.Bool(true),
		}))
	}
	// The careful bastion: no key, no public address, no inbound rule, IMDSv2.
	e := ec2.NewFromConfig(cfg)
	bsg := must(e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("good-bastion"), Description: aws.String("bastion"), VpcId: &n.vpc}))
	runBastion(ctx, e, n, ec2.RunInstancesInput{SubnetId: &n.subnets[0], SecurityGroupIds: []string{aws.ToString(bsg.GroupId)},
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateRequired}})
	// CloudTrail needs its bucket; the SDK's S3 client is not a dependency, the AWS CLI is.
	cli("s3api", "create-bucket", "--bucket", "good-trail", "--region", cfg.Region)
	must(cloudtrail.NewFromConfig(cfg).CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("good-trail"), S3BucketName: aws.String("good-trail"), IsMultiRegionTrail: aws.Bool(true)}))
	must(cloudtrail.NewFromConfig(cfg).StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String("good-trail")}))
	// The alarm kit's filter and alarm.
	logs := cloudwatchlogs.NewFromConfig(cfg)
	group := "/aws/rds/instance/good-db/postgresql"
	must(logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: &group}))
	must(logs.PutMetricFilter(ctx, &cloudwatchlogs.PutMetricFilterInput{
		LogGroupName: &group, FilterName: aws.String("rdsgate-outside-vpc-good-db"), FilterPattern: aws.String(`"connection received" -"host=10.2." -"host=127.0.0.1" -"host=[local]"`),
		MetricTransformations: []logtypes.MetricTransformation{{MetricName: aws.String("OutsideVPCConnections"), MetricNamespace: aws.String("rdsgate/good-db"), MetricValue: aws.String("1")}},
	}))
	// The SDK's CloudWatch client speaks CBOR, which moto does not; the AWS CLI speaks the query protocol.
	cli("cloudwatch", "put-metric-alarm", "--region", cfg.Region, "--alarm-name", "rdsgate-outside-vpc-good-db",
		"--namespace", "rdsgate/good-db", "--metric-name", "OutsideVPCConnections", "--statistic", "Sum",
		"--period", "300", "--evaluation-periods", "1", "--threshold", "1",
		"--comparison-operator", "GreaterThanOrEqualToThreshold", "--alarm-actions", "arn:aws:sns:us-east-1:123456789012:oncall")
	// A delete guard attached to the admin role.
	ic := iam.NewFromConfig(cfg)
	pol := must(ic.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("rds-delete-guard"), PolicyDocument: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["rds:DeleteDBInstance","rds:DeleteDBCluster"],"Resource":"*"}]}`)}))
	must(ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("dba"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)}))
	must(ic.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("dba"), PolicyArn: pol.Policy.Arn}))
}

// idPattern matches the random ids moto hands out.
var idPattern = regexp.MustCompile(`\b(vpc|subnet|sg|igw|rtb|acl|aclassoc|rtbassoc|eni|i)-[0-9a-f]{6,}\b`)

// publicIP matches the random public addresses moto hands out.
var publicIP = regexp.MustCompile(`public IP [0-9.]+`)

// autoSnapshot matches the time stamp in automated snapshot ids.
var autoSnapshot = regexp.MustCompile(`(rds:[a-z0-9-]+?)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}`)

var uuid = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// normalise replaces random ids by their order of appearance, and dates
// in snapshot ids by DATE.
func normalise(b []byte) []byte {
	b = autoSnapshot.ReplaceAll(b, []byte("$1-DATE"))
	b = uuid.ReplaceAll(b, []byte("UUID"))
	b = publicIP.ReplaceAll(b, []byte("public IP PUBLIC_IP"))
	seen := map[string]string{}
	return idPattern.ReplaceAllFunc(b, func(id []byte) []byte {
		k := string(id)
		if v, ok := seen[k]; ok {
			return []byte(v)
		}
		prefix := idPattern.FindSubmatch(id)[1]
		v := fmt.Sprintf("%s-%d", prefix, len(seen)+1)
		seen[k] = v
		return []byte(v)
	})
}

// findingsJSON is the golden view of a report: per database, check → status: detail.
func findingsJSON(t *testing.T, rep *posture.Report) []byte {
	t.Helper()
	view := map[string]map[string]string{}
	for _, db := range rep.Databases {
		m := map[string]string{}
		for _, f := range db.Results {
			m[f.CheckID] = string(f.Status) + ": " + f.Detail
		}
		view[db.Region+"/"+db.ID] = m
	}
	b, err := json.MarshalIndent(view, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(normalise(b), '\n')
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the golden file (rerun with -update to accept):\n%s", name, got)
	}
}

// motoGaps are the calls moto cannot answer: the SDK's CloudWatch client
// speaks the Smithy RPC v2 CBOR protocol, which moto 5.2 does not serve
// (404). The checks that need them are covered by snapshot tests.
// Nor does it implement Systems Manager's DescribeInstanceInformation, so
// only tagged bastions are found there.
var motoGaps = []string{"cloudwatch:DescribeAlarms", "ssm:DescribeInstanceInformation"}

// motoDrops are the checks whose passing setting moto accepts but does
// not report back (MonitoringInterval): the hardened account cannot pass
// them there; snapshot tests cover them.
var motoDrops = []string{"enhanced-monitoring-off"}

func checkMotoErr(t *testing.T, s *posture.Snapshot, err error) {
	t.Helper()
	if s == nil {
		t.Fatalf("collect: %v", err)
	}
	for _, r := range s.Regions {
		for _, e := range r.Errors {
			if !e.Denied && !slices.Contains(motoGaps, e.Action) {
				t.Errorf("collect: unexpected failure %+v", e)
			}
		}
	}
	for _, e := range s.IAM.Errors {
		if !e.Denied {
			t.Errorf("collect: unexpected IAM failure %+v", e)
		}
	}
}

func TestAcceptanceMoto(t *testing.T) {
	m := testharness.StartMoto(t)
	cfg := m.AWSConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := Options{Regions: []string{m.Region}, Now: func() time.Time { return collectedAt }, MaxAttempts: 2, MaxBackoff: 100 * time.Millisecond}

	buildBad(t, ctx, cfg)
	bad, err := Collect(ctx, cfg, opts)
	checkMotoErr(t, bad, err)
	badRep := posture.Audit(bad, posture.AuditOptions{})
	golden(t, "moto-bad.json", findingsJSON(t, badRep))
	t.Run("denied", func(t *testing.T) { testDenied(t, cfg, opts) })
	t.Run("retry", func(t *testing.T) { testRetry(t, cfg, opts) })

	m.Reset(t)
	buildHardened(t, func(args ...string) { m.CLI(t, args...) }, ctx, cfg)
	good, err := Collect(ctx, cfg, opts)
	checkMotoErr(t, good, err)
	goodRep := posture.Audit(good, posture.AuditOptions{})
	golden(t, "moto-hardened.json", findingsJSON(t, goodRep))

	status := func(rep *posture.Report, db, check string) posture.Status {
		for _, d := range rep.Databases {
			if d.ID == db {
				for _, f := range d.Results {
					if f.CheckID == check {
						return f.Status
					}
				}
			}
		}
		return ""
	}
	for _, c := range badFindings {
		if got := status(badRep, "bad-db", c); got != posture.StatusFail {
			t.Errorf("bad account: %s is %q, want fail", c, got)
		}
		if got := status(goodRep, "good-db", c); (got == posture.StatusFail && !slices.Contains(motoDrops, c)) || got == "" {
			t.Errorf("hardened account: %s is %q, want no finding", c, got)
		}
	}
	for _, gaps := range [][]posture.RegionError{badRep.Gaps, goodRep.Gaps} {
		for _, g := range gaps {
			t.Logf("collection error (moto gap?): %+v", g)
		}
	}
}
