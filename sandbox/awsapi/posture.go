package awsapi

import (
	"net/http"
	"strings"

	"github.com/rdsgate/rdsgate/sandbox/world"
)

// The sandbox's databases as `rdsgate audit` sees them. The world does not
// model RDS settings the sandbox does not run (monitoring, snapshots,
// parameter groups, tags), so they are derived here from the engine, the
// same on every start. They are chosen so that the audit of a fresh
// sandbox shows a few deliberate findings the demo can point at:
//
//   - demo-pg (PostgreSQL) is tagged environment=production but runs in one
//     zone (production-multi-az-off), listens on 5432 (default-port), keeps
//     Performance Insights under the AWS-managed aws/rds key
//     (performance-insights-aws-key), and has a manual snapshot shared with
//     everyone (snapshot-public). It enforces TLS (rds.force_ssl = 1, as its
//     front does).
//   - demo-mysql (MariaDB) is tagged environment=staging, does not enforce
//     TLS in its parameter group (tls-not-enforced), has no Enhanced
//     Monitoring and does not copy tags to snapshots, and its snapshot is
//     shared with an account nobody vouched for
//     (snapshot-shared-unknown-account).
//
// The account has no event subscription, alarm or trail (the audit says
// event-subscription-missing, no-outside-vpc-connection-alarm and
// cloudtrail-off).

// UntrustedAccount is the account demo-mysql's snapshot is shared with.
const UntrustedAccount = "444455556666"

// rdsProfile is what the sandbox reports for an instance beyond the world.
type rdsProfile struct {
	tags               map[string]string
	monitoringInterval int
	copyTags           bool
	piKey              string // "" when Performance Insights is off
	paramGroup         string
	params             map[string]string
	snapshot           string   // a manual snapshot's id
	restore            []string // who may restore it
}

func (s *Server) rdsProfile(inst *world.Instance) rdsProfile {
	if strings.HasPrefix(inst.Engine, "postgres") {
		return rdsProfile{
			tags:               map[string]string{"environment": "production", "team": "orders"},
			monitoringInterval: 60, copyTags: true, piKey: s.awsRDSKey(),
			paramGroup: "rdsgate-sandbox-postgres", params: map[string]string{"rds.force_ssl": "1", "log_connections": "1"},
			snapshot: inst.Identifier + "-before-migration", restore: []string{"all"},
		}
	}
	return rdsProfile{
		tags:       map[string]string{"environment": "staging", "team": "orders"},
		paramGroup: "rdsgate-sandbox-mariadb", params: map[string]string{"require_secure_transport": "OFF"},
		snapshot: inst.Identifier + "-for-analytics", restore: []string{UntrustedAccount},
	}
}

// awsRDSKey is the ARN of the account's AWS-managed aws/rds KMS key.
func (s *Server) awsRDSKey() string {
	return s.arn("kms", "key/"+shortHash("aws/rds"+s.world.Account)+"-aws-rds")
}

type rdsTagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type dbParameterGroupStatusXML struct {
	DBParameterGroupName string `xml:"DBParameterGroupName"`
	ParameterApplyStatus string `xml:"ParameterApplyStatus"`
}

// addProfile fills the posture fields of an instance's answer.
func (s *Server) addProfile(x *dbInstanceXML, inst *world.Instance) {
	p := s.rdsProfile(inst)
	for _, k := range sortedKeys(p.tags) {
		x.TagList = append(x.TagList, rdsTagXML{Key: k, Value: p.tags[k]})
	}
	x.MonitoringInterval, x.CopyTagsToSnapshot = p.monitoringInterval, p.copyTags
	if p.monitoringInterval > 0 {
		x.MonitoringRoleArn = "arn:aws:iam::" + s.world.Account + ":role/rds-monitoring-role"
	}
	x.PerformanceInsightsEnabled = p.piKey != ""
	x.PerformanceInsightsKMSKeyID = p.piKey
	x.DBParameterGroups = []dbParameterGroupStatusXML{{DBParameterGroupName: p.paramGroup, ParameterApplyStatus: "in-sync"}}
	x.EngineLifecycleSupport = "open-source-rds-extended-support-disabled"
}

type describeEventSubscriptionsResult struct {
	EventSubscriptionsList []struct{} `xml:"EventSubscriptionsList>EventSubscription"`
}

type describeDBParametersResult struct {
	Parameters []dbParameterXML `xml:"Parameters>Parameter"`
	Marker     string           `xml:"Marker,omitempty"`
}

type dbParameterXML struct {
	ParameterName  string `xml:"ParameterName"`
	ParameterValue string `xml:"ParameterValue,omitempty"`
	Source         string `xml:"Source"`
	ApplyType      string `xml:"ApplyType"`
	IsModifiable   bool   `xml:"IsModifiable"`
}

// describeDBParameters answers RDS DescribeDBParameters for the parameter
// groups the instances use.
func (s *Server) describeDBParameters(c *call) (any, *apiError) {
	name := c.params.Get("DBParameterGroupName")
	if name == "" {
		return nil, missingParam(c.svc, "DBParameterGroupName")
	}
	if e := s.authorize(c, "rds:DescribeDBParameters", s.arn("rds", "pg:"+name), nil); e != nil {
		return nil, e
	}
	if _, _, e := rdsPaging(c.params); e != nil {
		return nil, e
	}
	for i := range s.world.Instances {
		p := s.rdsProfile(&s.world.Instances[i])
		if p.paramGroup != name {
			continue
		}
		var out describeDBParametersResult
		for _, k := range sortedKeys(p.params) {
			out.Parameters = append(out.Parameters, dbParameterXML{ParameterName: k, ParameterValue: p.params[k], Source: "user", ApplyType: "dynamic", IsModifiable: true})
		}
		return out, nil
	}
	return nil, &apiError{Status: http.StatusNotFound, Code: "DBParameterGroupNotFound", Message: "DBParameterGroup not found: " + name}
}

type describeDBSnapshotsResult struct {
	DBSnapshots []dbSnapshotXML `xml:"DBSnapshots>DBSnapshot"`
}

type dbSnapshotXML struct {
	DBSnapshotIdentifier string `xml:"DBSnapshotIdentifier"`
	DBSnapshotArn        string `xml:"DBSnapshotArn"`
	DBInstanceIdentifier string `xml:"DBInstanceIdentifier"`
	SnapshotType         string `xml:"SnapshotType"`
	Engine               string `xml:"Engine"`
	Status               string `xml:"Status"`
	Encrypted            bool   `xml:"Encrypted"`
	SnapshotCreateTime   string `xml:"SnapshotCreateTime"`
}

// snapshots are the manual snapshots of the world's instances.
func (s *Server) snapshots() []dbSnapshotXML {
	var out []dbSnapshotXML
	for i := range s.world.Instances {
		inst := &s.world.Instances[i]
		p := s.rdsProfile(inst)
		out = append(out, dbSnapshotXML{
			DBSnapshotIdentifier: p.snapshot, DBSnapshotArn: s.arn("rds", "snapshot:"+p.snapshot),
			DBInstanceIdentifier: inst.Identifier, SnapshotType: "manual", Engine: inst.Engine,
			Status: "available", Encrypted: true, SnapshotCreateTime: xmlTime(s.epoch()),
		})
	}
	return out
}

// describeDBSnapshots answers RDS DescribeDBSnapshots: one manual snapshot
// per instance.
func (s *Server) describeDBSnapshots(c *call) (any, *apiError) {
	if e := s.authorize(c, "rds:DescribeDBSnapshots", s.arn("rds", "snapshot:*"), nil); e != nil {
		return nil, e
	}
	if _, _, e := rdsPaging(c.params); e != nil {
		return nil, e
	}
	return describeDBSnapshotsResult{DBSnapshots: s.snapshots()}, nil
}

type describeDBSnapshotAttributesResult struct {
	DBSnapshotAttributesResult struct {
		DBSnapshotIdentifier string `xml:"DBSnapshotIdentifier"`
		DBSnapshotAttributes []struct {
			AttributeName   string   `xml:"AttributeName"`
			AttributeValues []string `xml:"AttributeValues>AttributeValue"`
		} `xml:"DBSnapshotAttributes>DBSnapshotAttribute"`
	} `xml:"DBSnapshotAttributesResult"`
}

// describeDBSnapshotAttributes answers RDS DescribeDBSnapshotAttributes:
// who may restore the snapshot.
func (s *Server) describeDBSnapshotAttributes(c *call) (any, *apiError) {
	id := c.params.Get("DBSnapshotIdentifier")
	if id == "" {
		return nil, missingParam(c.svc, "DBSnapshotIdentifier")
	}
	if e := s.authorize(c, "rds:DescribeDBSnapshotAttributes", s.arn("rds", "snapshot:"+id), nil); e != nil {
		return nil, e
	}
	for i := range s.world.Instances {
		p := s.rdsProfile(&s.world.Instances[i])
		if p.snapshot != id {
			continue
		}
		var out describeDBSnapshotAttributesResult
		out.DBSnapshotAttributesResult.DBSnapshotIdentifier = id
		out.DBSnapshotAttributesResult.DBSnapshotAttributes = append(out.DBSnapshotAttributesResult.DBSnapshotAttributes, struct {
			AttributeName   string   `xml:"AttributeName"`
			AttributeValues []string `xml:"AttributeValues>AttributeValue"`
		}{"restore", p.restore})
		return out, nil
	}
	return nil, &apiError{Status: http.StatusNotFound, Code: "DBSnapshotNotFound", Message: "DBSnapshot " + id + " not found."}
}

// describeKey answers KMS DescribeKey for the aws/rds key (the only key
// the sandbox's databases name).
func (s *Server) describeKey(c *call) (any, *apiError) {
	var in struct{ KeyId string }
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	if in.KeyId == "" {
		return nil, validation(c.svc, "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	key := s.awsRDSKey()
	if e := s.authorize(c, "kms:DescribeKey", key, nil); e != nil {
		return nil, e
	}
	if in.KeyId != key && in.KeyId != "alias/aws/rds" && !strings.HasSuffix(key, "/"+in.KeyId) {
		return nil, clientError("NotFoundException", "Key '%s' does not exist", shorten(in.KeyId))
	}
	return map[string]any{"KeyMetadata": map[string]any{
		"AWSAccountId": s.world.Account, "Arn": key, "KeyId": key[strings.LastIndex(key, "/")+1:],
		"KeyManager": "AWS", "KeyState": "Enabled", "Enabled": true, "Description": "Default key that protects my RDS database volumes when no other key is defined",
		"KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT", "Origin": "AWS_KMS", "CreationDate": epochTime(s.epoch()),
	}}, nil
}
