package collect

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// fakeOrg is an in-process stand-in for the AWS APIs CollectOrg calls,
// for an organization of many accounts with many databases: Organizations
// ListAccounts, STS AssumeRole and GetCallerIdentity, EC2 DescribeRegions
// and the network reads, the RDS reads, CloudTrail, and empty answers for
// the rest. It generates its answers; it keeps no resources. The caller's
// access key is the management account's; AssumeRole hands out keys that
// name the account ("ASIA" + its id), so every later call says which
// account it reads. It is built for the benchmark (moto is far too slow
// for 10,000 databases) and checked by TestFakeOrg.
type fakeOrg struct {
	accounts  int      // member accounts (the management account reads no region)
	regions   []string // enabled in every account
	databases int      // per account-region; every other one misconfigured
	// denyRole fails AssumeRole into these accounts with AccessDenied.
	denyRole map[string]bool
	// throttleEvery throttles every n-th call once (0: never).
	throttleEvery int64

	calls     atomic.Int64
	throttled atomic.Int64
}

const (
	fakeManagement = "100000000000"
	fakeOrgID      = "o-bench00001"
	fakeParamPages = 4 // DescribeDBParameters pages of 100, as for a real PostgreSQL group
)

func (f *fakeOrg) accountID(i int) string { return fmt.Sprintf("2%011d", i+1) }

// start serves f and returns a config for the management account.
func (f *fakeOrg) start(t testing.TB) aws.Config {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAMANAGEMENT", "secret", ""),
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}},
	}
}

var credScope = regexp.MustCompile(`Credential=([^/]+)/\d+/([^/]+)/([^/]+)/`)

func (f *fakeOrg) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	m := credScope.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		http.Error(w, "unsigned request", http.StatusForbidden)
		return
	}
	key, region, service := m[1], m[2], m[3]
	account := fakeManagement
	if a, ok := strings.CutPrefix(key, "ASIA"); ok {
		account = a
	}
	c := &fakeCall{f: f, w: w, account: account, region: region, service: service}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		_, c.action, _ = strings.Cut(target, ".")
		if f.throttleEvery > 0 && n%f.throttleEvery == 0 {
			f.throttled.Add(1)
			c.jsonError("ThrottlingException", "Rate exceeded")
			return
		}
		f.serveJSON(c, body)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/service/") {
		// CloudWatch speaks Smithy RPC v2 CBOR: an empty map answers
		// DescribeAlarms with no alarms.
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("Content-Type", "application/cbor")
		_, _ = w.Write([]byte{0xa0})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.action, c.form = form.Get("Action"), form
	if f.throttleEvery > 0 && n%f.throttleEvery == 0 && c.action != "AssumeRole" {
		f.throttled.Add(1)
		c.queryError(http.StatusBadRequest, "Throttling", "Rate exceeded")
		return
	}
	switch service {
	case "sts":
		f.serveSTS(c)
	case "ec2":
		f.serveEC2(c)
	case "rds":
		f.serveRDS(c)
	case "iam":
		c.query(`<Policies/><IsTruncated>false</IsTruncated>`)
	default:
		c.queryError(http.StatusBadRequest, "InvalidAction", "no such service "+service)
	}
}

type fakeCall struct {
	f                        *fakeOrg
	w                        http.ResponseWriter
	account, region, service string
	action                   string
	form                     url.Values
}

// query writes a query-protocol answer: inner inside <ActionResult>.
func (c *fakeCall) query(inner string) {
	c.w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(c.w, `<%sResponse><%sResult>%s</%sResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></%sResponse>`,
		c.action, c.action, inner, c.action, c.action)
}

func (c *fakeCall) queryError(status int, code, msg string) {
	c.w.Header().Set("Content-Type", "text/xml")
	c.w.WriteHeader(status)
	if c.service == "ec2" {
		fmt.Fprintf(c.w, `<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>r</RequestID></Response>`, code, msg)
		return
	}
	fmt.Fprintf(c.w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>r</RequestId></ErrorResponse>`, code, msg)
}

func (c *fakeCall) json(v any) {
	c.w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(c.w).Encode(v)
}

func (c *fakeCall) jsonError(code, msg string) {
	c.w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	c.w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(c.w).Encode(map[string]string{"__type": code, "message": msg})
}

func (f *fakeOrg) serveJSON(c *fakeCall, body []byte) {
	var in map[string]any
	_ = json.Unmarshal(body, &in)
	switch c.action {
	case "ListAccounts":
		start, _ := strconv.Atoi(fmt.Sprint(in["NextToken"]))
		var accts []map[string]string
		all := append([]string{fakeManagement}, func() (ids []string) {
			for i := range f.accounts {
				ids = append(ids, f.accountID(i))
			}
			return ids
		}()...)
		end := min(start+20, len(all))
		for _, id := range all[start:end] {
			accts = append(accts, map[string]string{"Id": id, "Name": "acct-" + id,
				"Arn": "arn:aws:organizations::" + fakeManagement + ":account/" + fakeOrgID + "/" + id, "Status": "ACTIVE", "State": "ACTIVE"})
		}
		out := map[string]any{"Accounts": accts}
		if end < len(all) {
			out["NextToken"] = strconv.Itoa(end)
		}
		c.json(out)
	case "DescribeTrails":
		c.json(map[string]any{"trailList": []map[string]any{{"Name": "org-trail", "TrailARN": "arn:aws:cloudtrail:us-east-1:" + c.account + ":trail/org-trail",
			"HomeRegion": "us-east-1", "IsMultiRegionTrail": true}}})
	case "GetTrailStatus":
		c.json(map[string]any{"IsLogging": true})
	case "DescribeLogGroups", "DescribeMetricFilters", "ListSecrets", "DescribeInstanceInformation":
		c.json(map[string]any{})
	default:
		c.jsonError("UnknownOperationException", "no operation "+c.action)
	}
}

func (f *fakeOrg) serveSTS(c *fakeCall) {
	switch c.action {
	case "GetCallerIdentity":
		c.query(fmt.Sprintf(`<Account>%s</Account><Arn>arn:aws:iam::%s:user/auditor</Arn><UserId>AIDA</UserId>`, c.account, c.account))
	case "AssumeRole":
		arn := c.form.Get("RoleArn")
		parts := strings.Split(arn, ":")
		if len(parts) != 6 || f.denyRole[parts[4]] {
			c.queryError(http.StatusForbidden, "AccessDenied", "User: arn:aws:iam::"+c.account+":user/auditor is not authorized to perform: sts:AssumeRole on resource: "+arn)
			return
		}
		c.query(fmt.Sprintf(`<Credentials><AccessKeyId>ASIA%s</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>%s</Expiration></Credentials>`+
			`<AssumedRoleUser><Arn>%s</Arn><AssumedRoleId>AROA:%s</AssumedRoleId></AssumedRoleUser>`,
			parts[4], time.Now().Add(time.Hour).UTC().Format(time.RFC3339), arn, c.form.Get("RoleSessionName")))
	default:
		c.queryError(http.StatusBadRequest, "InvalidAction", c.action)
	}
}

// Every account-region has one VPC, two private subnets, a route table, a
// network ACL and ten security groups shared by its databases.
func (f *fakeOrg) serveEC2(c *fakeCall) {
	var b strings.Builder
	item := func(format string, args ...any) { b.WriteString("<item>" + fmt.Sprintf(format, args...) + "</item>") }
	switch c.action {
	case "DescribeRegions":
		b.WriteString("<regionInfo>")
		for _, r := range f.regions {
			item(`<regionName>%s</regionName><regionEndpoint>ec2.%s.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus>`, r, r)
		}
		item(`<regionName>me-south-1</regionName><optInStatus>not-opted-in</optInStatus>`)
		b.WriteString("</regionInfo>")
	case "DescribeVpcs":
		b.WriteString("<vpcSet>")
		item(`<vpcId>vpc-1</vpcId><cidrBlock>10.0.0.0/16</cidrBlock><isDefault>false</isDefault><state>available</state>`)
		b.WriteString("</vpcSet>")
	case "DescribeSubnets":
		b.WriteString("<subnetSet>")
		for i := 1; i <= 2; i++ {
			item(`<subnetId>subnet-%d</subnetId><vpcId>vpc-1</vpcId><availabilityZone>%sa</availabilityZone><cidrBlock>10.0.%d.0/24</cidrBlock><mapPublicIpOnLaunch>false</mapPublicIpOnLaunch>`, i, c.region, i)
		}
		b.WriteString("</subnetSet>")
	case "DescribeRouteTables":
		b.WriteString("<routeTableSet>")
		item(`<routeTableId>rtb-1</routeTableId><vpcId>vpc-1</vpcId><routeSet><item><destinationCidrBlock>10.0.0.0/16</destinationCidrBlock><gatewayId>local</gatewayId></item></routeSet>` +
			`<associationSet><item><main>true</main><routeTableAssociationId>rtbassoc-1</routeTableAssociationId></item></associationSet>`)
		b.WriteString("</routeTableSet>")
	case "DescribeInternetGateways":
		b.WriteString("<internetGatewaySet/>")
	case "DescribeNetworkAcls":
		b.WriteString("<networkAclSet>")
		item(`<networkAclId>acl-1</networkAclId><vpcId>vpc-1</vpcId><default>true</default><entrySet>` +
			`<item><ruleNumber>100</ruleNumber><protocol>6</protocol><ruleAction>allow</ruleAction><egress>false</egress><cidrBlock>10.0.0.0/16</cidrBlock><portRange><from>5432</from><to>5432</to></portRange></item>` +
			`</entrySet><associationSet><item><networkAclId>acl-1</networkAclId><subnetId>subnet-1</subnetId></item><item><networkAclId>acl-1</networkAclId><subnetId>subnet-2</subnetId></item></associationSet>`)
		b.WriteString("</networkAclSet>")
	case "DescribeSecurityGroups":
		b.WriteString("<securityGroupInfo>")
		for i := range 10 {
			cidr := `<groups><item><groupId>sg-app</groupId></item></groups>`
			if i%2 == 1 {
				cidr = `<ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges>`
			}
			item(`<groupId>sg-%d</groupId><groupName>db-%d</groupName><vpcId>vpc-1</vpcId><ipPermissions><item><ipProtocol>tcp</ipProtocol><fromPort>5432</fromPort><toPort>5432</toPort>%s</item></ipPermissions><ipPermissionsEgress/>`, i, i, cidr)
		}
		b.WriteString("</securityGroupInfo>")
	case "DescribeInstances":
		b.WriteString("<reservationSet/>")
	default:
		c.queryError(http.StatusBadRequest, "InvalidAction", c.action)
		return
	}
	c.w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(c.w, `<%sResponse><requestId>r</requestId>%s</%sResponse>`, c.action, b.String(), c.action)
}

func (f *fakeOrg) serveRDS(c *fakeCall) {
	var b strings.Builder
	page := func(list string, n, size int, one func(i int)) {
		start, _ := strconv.Atoi(c.form.Get("Marker"))
		end := min(start+size, n)
		b.WriteString("<" + list + ">")
		for i := start; i < end; i++ {
			one(i)
		}
		b.WriteString("</" + list + ">")
		if end < n {
			fmt.Fprintf(&b, "<Marker>%d</Marker>", end)
		}
	}
	switch c.action {
	case "DescribeDBInstances":
		page("DBInstances", f.databases, 100, func(i int) { f.instance(&b, c, i) })
	case "DescribeDBClusters":
		b.WriteString("<DBClusters/>")
	case "DescribeDBSubnetGroups":
		b.WriteString(`<DBSubnetGroups><DBSubnetGroup><DBSubnetGroupName>private</DBSubnetGroupName><VpcId>vpc-1</VpcId><Subnets>` +
			`<Subnet><SubnetIdentifier>subnet-1</SubnetIdentifier></Subnet><Subnet><SubnetIdentifier>subnet-2</SubnetIdentifier></Subnet></Subnets></DBSubnetGroup></DBSubnetGroups>`)
	case "DescribeDBSnapshots":
		page("DBSnapshots", 10, 100, func(i int) {
			fmt.Fprintf(&b, `<DBSnapshot><DBSnapshotIdentifier>snap-%d</DBSnapshotIdentifier><DBInstanceIdentifier>db-%05d</DBInstanceIdentifier><DBSnapshotArn>arn:aws:rds:%s:%s:snapshot:snap-%d</DBSnapshotArn><SnapshotType>manual</SnapshotType><Encrypted>%t</Encrypted><Engine>postgres</Engine></DBSnapshot>`,
				i, i, c.region, c.account, i, i%2 == 0)
		})
	case "DescribeDBSnapshotAttributes":
		id := c.form.Get("DBSnapshotIdentifier")
		fmt.Fprintf(&b, `<DBSnapshotAttributesResult><DBSnapshotIdentifier>%s</DBSnapshotIdentifier><DBSnapshotAttributes><DBSnapshotAttribute><AttributeName>restore</AttributeName><AttributeValues/></DBSnapshotAttribute></DBSnapshotAttributes></DBSnapshotAttributesResult>`, id)
	case "DescribeDBClusterSnapshots":
		b.WriteString("<DBClusterSnapshots/>")
	case "DescribeDBInstanceAutomatedBackups":
		b.WriteString("<DBInstanceAutomatedBackups/>")
	case "DescribeEventSubscriptions":
		b.WriteString("<EventSubscriptionsList/>")
	case "DescribeDBParameters":
		page("Parameters", 100*fakeParamPages, 100, func(i int) {
			name, value := fmt.Sprintf("param_%03d", i), "0"
			if i == 0 {
				name = "rds.force_ssl"
				if c.form.Get("DBParameterGroupName") == "hardened-pg" {
					value = "1"
				}
			}
			fmt.Fprintf(&b, `<Parameter><ParameterName>%s</ParameterName><ParameterValue>%s</ParameterValue><Source>user</Source></Parameter>`, name, value)
		})
	default:
		c.queryError(http.StatusBadRequest, "InvalidAction", c.action)
		return
	}
	c.query(b.String())
}

// instance writes database i of the account-region: the even ones
// hardened, the odd ones public, unencrypted and without IAM
// authentication.
func (f *fakeOrg) instance(b *strings.Builder, c *fakeCall, i int) {
	bad := i%2 == 1
	id := fmt.Sprintf("db-%05d", i)
	pg := "hardened-pg"
	if bad {
		pg = "default.postgres16"
	}
	fmt.Fprintf(b, `<DBInstance><DBInstanceIdentifier>%s</DBInstanceIdentifier><DBInstanceArn>arn:aws:rds:%s:%s:db:%s</DBInstanceArn><DbiResourceId>db-RES%05d</DbiResourceId>`+
		`<DBInstanceClass>db.t3.micro</DBInstanceClass><Engine>postgres</Engine><EngineVersion>16.3</EngineVersion><DBInstanceStatus>available</DBInstanceStatus>`+
		`<MasterUsername>%s</MasterUsername><Endpoint><Address>%s.abc.%s.rds.amazonaws.com</Address><Port>%d</Port></Endpoint>`+
		`<BackupRetentionPeriod>%d</BackupRetentionPeriod><VpcSecurityGroups><VpcSecurityGroupMembership><VpcSecurityGroupId>sg-%d</VpcSecurityGroupId><Status>active</Status></VpcSecurityGroupMembership></VpcSecurityGroups>`+
		`<DBSubnetGroup><DBSubnetGroupName>private</DBSubnetGroupName><VpcId>vpc-1</VpcId><Subnets><Subnet><SubnetIdentifier>subnet-1</SubnetIdentifier></Subnet><Subnet><SubnetIdentifier>subnet-2</SubnetIdentifier></Subnet></Subnets></DBSubnetGroup>`+
		`<MultiAZ>%t</MultiAZ><AutoMinorVersionUpgrade>%t</AutoMinorVersionUpgrade><PubliclyAccessible>%t</PubliclyAccessible><StorageEncrypted>%t</StorageEncrypted>`+
		`<CACertificateIdentifier>rds-ca-rsa2048-g1</CACertificateIdentifier><DeletionProtection>%t</DeletionProtection><IAMDatabaseAuthenticationEnabled>%t</IAMDatabaseAuthenticationEnabled>`+
		`<DBParameterGroups><DBParameterGroup><DBParameterGroupName>%s</DBParameterGroupName><ParameterApplyStatus>in-sync</ParameterApplyStatus></DBParameterGroup></DBParameterGroups>`+
		`<EnabledCloudwatchLogsExports><member>postgresql</member></EnabledCloudwatchLogsExports>`+
		`<TagList><Tag><Key>team</Key><Value>t%d</Value></Tag><Tag><Key>environment</Key><Value>production</Value></Tag></TagList>`+
		`<MonitoringInterval>60</MonitoringInterval><CopyTagsToSnapshot>%t</CopyTagsToSnapshot><PerformanceInsightsEnabled>false</PerformanceInsightsEnabled></DBInstance>`,
		id, c.region, c.account, id, i, map[bool]string{true: "admin", false: "ops_owner"}[bad], id, c.region, map[bool]int{true: 5432, false: 15432}[bad],
		map[bool]int{true: 1, false: 7}[bad], i%10-(i%10)%2+map[bool]int{true: 1, false: 0}[bad],
		!bad, !bad, bad, !bad, !bad, !bad, pg, i%7, !bad)
}
