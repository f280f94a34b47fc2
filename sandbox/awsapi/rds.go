package awsapi

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/rdsgate/rdsgate/sandbox/world"
)

// RDS pagination bounds: MaxRecords must lie in 20..100, default 100.
const (
	rdsMinRecords = 20
	rdsMaxRecords = 100
)

type describeDBInstancesResult struct {
	DBInstances []dbInstanceXML `xml:"DBInstances>DBInstance"`
	Marker      string          `xml:"Marker,omitempty"`
}

type dbInstanceXML struct {
	DBInstanceIdentifier             string                 `xml:"DBInstanceIdentifier"`
	DBInstanceArn                    string                 `xml:"DBInstanceArn"`
	DBInstanceClass                  string                 `xml:"DBInstanceClass"`
	Engine                           string                 `xml:"Engine"`
	EngineVersion                    string                 `xml:"EngineVersion"`
	DBInstanceStatus                 string                 `xml:"DBInstanceStatus"`
	MasterUsername                   string                 `xml:"MasterUsername,omitempty"`
	Endpoint                         *rdsEndpointXML        `xml:"Endpoint,omitempty"`
	AllocatedStorage                 int                    `xml:"AllocatedStorage"`
	InstanceCreateTime               string                 `xml:"InstanceCreateTime"`
	BackupRetentionPeriod            int                    `xml:"BackupRetentionPeriod"`
	VpcSecurityGroups                []vpcSGMembershipXML   `xml:"VpcSecurityGroups>VpcSecurityGroupMembership"`
	AvailabilityZone                 string                 `xml:"AvailabilityZone,omitempty"`
	DBSubnetGroup                    *dbSubnetGroupXML      `xml:"DBSubnetGroup,omitempty"`
	MultiAZ                          bool                   `xml:"MultiAZ"`
	AutoMinorVersionUpgrade          bool                   `xml:"AutoMinorVersionUpgrade"`
	PubliclyAccessible               bool                   `xml:"PubliclyAccessible"`
	StorageType                      string                 `xml:"StorageType"`
	DbInstancePort                   int                    `xml:"DbInstancePort"`
	StorageEncrypted                 bool                   `xml:"StorageEncrypted"`
	DbiResourceID                    string                 `xml:"DbiResourceId"`
	CACertificateIdentifier          string                 `xml:"CACertificateIdentifier,omitempty"`
	DeletionProtection               bool                   `xml:"DeletionProtection"`
	IAMDatabaseAuthenticationEnabled bool                   `xml:"IAMDatabaseAuthenticationEnabled"`
	MasterUserSecret                 *masterUserSecretXML   `xml:"MasterUserSecret,omitempty"`
	CertificateDetails               *certificateDetailsXML `xml:"CertificateDetails,omitempty"`
	NetworkType                      string                 `xml:"NetworkType"`

	// The fields the audit reads (see posture.go).
	TagList                     []rdsTagXML                 `xml:"TagList>Tag"`
	MonitoringInterval          int                         `xml:"MonitoringInterval"`
	MonitoringRoleArn           string                      `xml:"MonitoringRoleArn,omitempty"`
	CopyTagsToSnapshot          bool                        `xml:"CopyTagsToSnapshot"`
	PerformanceInsightsEnabled  bool                        `xml:"PerformanceInsightsEnabled"`
	PerformanceInsightsKMSKeyID string                      `xml:"PerformanceInsightsKMSKeyId,omitempty"`
	DBParameterGroups           []dbParameterGroupStatusXML `xml:"DBParameterGroups>DBParameterGroup"`
	EngineLifecycleSupport      string                      `xml:"EngineLifecycleSupport,omitempty"`
}

type rdsEndpointXML struct {
	Address      string `xml:"Address"`
	Port         int    `xml:"Port"`
	HostedZoneID string `xml:"HostedZoneId"`
}

type vpcSGMembershipXML struct {
	VpcSecurityGroupID string `xml:"VpcSecurityGroupId"`
	Status             string `xml:"Status"`
}

type dbSubnetGroupXML struct {
	DBSubnetGroupName        string         `xml:"DBSubnetGroupName"`
	DBSubnetGroupDescription string         `xml:"DBSubnetGroupDescription"`
	VpcID                    string         `xml:"VpcId"`
	SubnetGroupStatus        string         `xml:"SubnetGroupStatus"`
	Subnets                  []rdsSubnetXML `xml:"Subnets>Subnet"`
}

type rdsSubnetXML struct {
	SubnetIdentifier       string `xml:"SubnetIdentifier"`
	SubnetAvailabilityZone struct {
		Name string `xml:"Name"`
	} `xml:"SubnetAvailabilityZone"`
	SubnetStatus string `xml:"SubnetStatus"`
}

type masterUserSecretXML struct {
	SecretArn    string `xml:"SecretArn"`
	SecretStatus string `xml:"SecretStatus"`
}

type certificateDetailsXML struct {
	CAIdentifier string `xml:"CAIdentifier"`
}

type describeDBClustersResult struct {
	DBClusters []struct{} `xml:"DBClusters>DBCluster"`
	Marker     string     `xml:"Marker,omitempty"`
}

// describeDBInstances answers RDS DescribeDBInstances: every instance, or
// the one DBInstanceIdentifier names (an identifier or an ARN), narrowed by
// the filters db-instance-id, dbi-resource-id, engine and db-cluster-id,
// paginated with Marker and MaxRecords.
func (s *Server) describeDBInstances(c *call) (any, *apiError) {
	p := c.params
	id := p.Get("DBInstanceIdentifier")
	if id != "" {
		id = strings.TrimPrefix(id, s.arn("rds", "db:"))
		if !validRDSIdentifier(id) {
			return nil, clientError("InvalidParameterValue", "The parameter DBInstanceIdentifier is not a valid identifier. "+
				"Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; "+
				"and must not end with a hyphen or contain two consecutive hyphens.").withReason("bad identifier %s", quoteShort(id))
		}
	}
	resource := s.arn("rds", "db:"+or(strings.ToLower(id), "*"))
	if e := s.authorize(c, "rds:DescribeDBInstances", resource, nil); e != nil {
		return nil, e
	}
	max, offset, e := rdsPaging(p)
	if e != nil {
		return nil, e
	}
	filters, e := rdsFilters(p, "db-instance-id", "dbi-resource-id", "engine", "db-cluster-id")
	if e != nil {
		return nil, e
	}
	var list []*world.Instance
	for i := range s.world.Instances {
		inst := &s.world.Instances[i]
		if id != "" && !strings.EqualFold(inst.Identifier, id) {
			continue
		}
		if !rdsInstanceMatches(s, inst, filters) {
			continue
		}
		list = append(list, inst)
	}
	if id != "" && len(list) == 0 {
		return nil, &apiError{Status: http.StatusNotFound, Code: "DBInstanceNotFound", Message: fmt.Sprintf("DBInstance %s not found.", id)}
	}
	slices.SortFunc(list, func(a, b *world.Instance) int { return strings.Compare(a.Identifier, b.Identifier) })
	var out describeDBInstancesResult
	for i := offset; i < len(list) && len(out.DBInstances) < max; i++ {
		out.DBInstances = append(out.DBInstances, s.dbInstanceXML(list[i]))
	}
	if offset+max < len(list) {
		out.Marker = encodeMarker(offset + max)
	}
	return out, nil
}

func (s *Server) dbInstanceXML(inst *world.Instance) dbInstanceXML {
	x := dbInstanceXML{
		DBInstanceIdentifier:             inst.Identifier,
		DBInstanceArn:                    s.arn("rds", "db:"+inst.Identifier),
		DBInstanceClass:                  "db.t3.micro",
		Engine:                           inst.Engine,
		EngineVersion:                    inst.EngineVersion,
		DBInstanceStatus:                 or(inst.Status, "available"),
		MasterUsername:                   inst.MasterUser,
		AllocatedStorage:                 20,
		InstanceCreateTime:               xmlTime(s.epoch()),
		BackupRetentionPeriod:            7,
		AvailabilityZone:                 s.world.Region + "a",
		AutoMinorVersionUpgrade:          true,
		PubliclyAccessible:               inst.Public,
		StorageType:                      "gp3",
		StorageEncrypted:                 true,
		DbiResourceID:                    inst.ResourceID,
		CACertificateIdentifier:          inst.CAIdentifier,
		IAMDatabaseAuthenticationEnabled: inst.IAMAuth,
		NetworkType:                      "IPV4",
	}
	if inst.Endpoint != "" {
		x.Endpoint = &rdsEndpointXML{Address: inst.Endpoint, Port: inst.Port, HostedZoneID: "Z2R2ITUGPM61AM"}
	}
	for _, g := range inst.SecurityGroups {
		x.VpcSecurityGroups = append(x.VpcSecurityGroups, vpcSGMembershipXML{VpcSecurityGroupID: g, Status: "active"})
	}
	if inst.VPC != "" {
		sg := &dbSubnetGroupXML{
			DBSubnetGroupName:        "rdsgate-sandbox-" + inst.VPC,
			DBSubnetGroupDescription: "sandbox subnets of " + inst.VPC,
			VpcID:                    inst.VPC,
			SubnetGroupStatus:        "Complete",
		}
		for i, sn := range inst.Subnets {
			var x rdsSubnetXML
			x.SubnetIdentifier = sn
			x.SubnetAvailabilityZone.Name = s.world.Region + string(rune('a'+i%6))
			x.SubnetStatus = "Active"
			sg.Subnets = append(sg.Subnets, x)
		}
		x.DBSubnetGroup = sg
	}
	if inst.MasterSecretARN != "" {
		x.MasterUserSecret = &masterUserSecretXML{SecretArn: inst.MasterSecretARN, SecretStatus: "active"}
	}
	if inst.CAIdentifier != "" {
		x.CertificateDetails = &certificateDetailsXML{CAIdentifier: inst.CAIdentifier}
	}
	s.addProfile(&x, inst)
	return x
}

// describeDBClusters answers RDS DescribeDBClusters. The sandbox has no
// clusters: the list is empty, and naming one is DBClusterNotFoundFault.
func (s *Server) describeDBClusters(c *call) (any, *apiError) {
	p := c.params
	id := strings.TrimPrefix(p.Get("DBClusterIdentifier"), s.arn("rds", "cluster:"))
	resource := s.arn("rds", "cluster:"+or(strings.ToLower(id), "*"))
	if e := s.authorize(c, "rds:DescribeDBClusters", resource, nil); e != nil {
		return nil, e
	}
	if _, _, e := rdsPaging(p); e != nil {
		return nil, e
	}
	if _, e := rdsFilters(p, "db-cluster-id", "db-cluster-resource-id", "engine", "clone-group-id", "domain"); e != nil {
		return nil, e
	}
	if id != "" {
		return nil, &apiError{Status: http.StatusNotFound, Code: "DBClusterNotFoundFault", Message: fmt.Sprintf("DBCluster %s not found.", id)}
	}
	return describeDBClustersResult{}, nil
}

// rdsPaging validates MaxRecords (20..100) and decodes Marker.
func rdsPaging(p url.Values) (max, offset int, e *apiError) {
	max = rdsMaxRecords
	if v := p.Get("MaxRecords"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < rdsMinRecords || n > rdsMaxRecords {
			return 0, 0, clientError("InvalidParameterValue", "Invalid value %s for MaxRecords. Must be between %d and %d", shorten(v), rdsMinRecords, rdsMaxRecords)
		}
		max = n
	}
	if m := p.Get("Marker"); m != "" {
		n, ok := decodeMarker(m)
		if !ok {
			return 0, 0, clientError("InvalidParameterValue", "Invalid value for Marker.").withReason("undecodable marker %s", quoteShort(m))
		}
		offset = n
	}
	return max, offset, nil
}

// rdsFilters reads Filters.Filter.N.Name / .Values.Value.M, refusing names
// not in allowed.
func rdsFilters(p url.Values, allowed ...string) (map[string][]string, *apiError) {
	out := map[string][]string{}
	for _, f := range structs(p, "Filters.Filter") {
		name := f.Get("Name")
		if !slices.Contains(allowed, name) {
			return nil, clientError("InvalidParameterValue", "Unrecognized filter name: %s.", shorten(name))
		}
		vals := members(f, "Values.Value")
		if len(vals) == 0 {
			return nil, clientError("InvalidParameterCombination", "Filter %s requires at least one value.", name)
		}
		out[name] = append(out[name], vals...)
	}
	return out, nil
}

func rdsInstanceMatches(s *Server, inst *world.Instance, filters map[string][]string) bool {
	for name, vals := range filters {
		var got []string
		switch name {
		case "db-instance-id":
			got = []string{inst.Identifier, s.arn("rds", "db:"+inst.Identifier)}
		case "dbi-resource-id":
			got = []string{inst.ResourceID}
		case "engine":
			got = []string{inst.Engine}
		case "db-cluster-id":
			got = nil // no instance belongs to a cluster
		}
		if !slices.ContainsFunc(vals, func(v string) bool {
			return slices.ContainsFunc(got, func(g string) bool { return strings.EqualFold(g, v) })
		}) {
			return false
		}
	}
	return true
}

// validRDSIdentifier checks RDS's identifier rules: 1..63 ASCII letters,
// digits and hyphens, a letter first, no trailing or doubled hyphen.
func validRDSIdentifier(id string) bool {
	if len(id) < 1 || len(id) > 63 || !isLetter(id[0]) || strings.HasSuffix(id, "-") || strings.Contains(id, "--") {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isLetter(id[i]) && !(id[i] >= '0' && id[i] <= '9') && id[i] != '-' {
			return false
		}
	}
	return true
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

// Pagination tokens are opaque to clients; here they carry an offset.
const markerPrefix = "rdsgate-sandbox:"

func encodeMarker(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(markerPrefix + strconv.Itoa(offset)))
}

func decodeMarker(m string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil {
		return 0, false
	}
	rest, ok := strings.CutPrefix(string(b), markerPrefix)
	if !ok || rest == "" || len(rest) > 9 || !allDigits(rest) {
		return 0, false
	}
	n, _ := strconv.Atoi(rest)
	return n, true
}
