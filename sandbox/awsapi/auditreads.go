package awsapi

import (
	"net/netip"
	"slices"
	"strings"
)

// The list calls `rdsgate audit` makes, answered from the world so that an
// audit of the sandbox has no read the endpoint does not serve. Each checks
// IAM like the other handlers. What the world lacks is answered as an empty
// list, as AWS answers an account without such resources: no snapshots, no
// trail, no metric filter, no customer-managed policy — which the audit
// reports as findings (cloudtrail-off, no-outside-vpc-connection-alarm,
// no-delete-guard-policy).

type describeDBSubnetGroupsResult struct {
	DBSubnetGroups []dbSubnetGroupXML `xml:"DBSubnetGroups>DBSubnetGroup"`
}

// describeDBSubnetGroups answers RDS DescribeDBSubnetGroups: one group per
// VPC with instances, as DescribeDBInstances reports them.
func (s *Server) describeDBSubnetGroups(c *call) (any, *apiError) {
	if e := s.authorize(c, "rds:DescribeDBSubnetGroups", s.arn("rds", "subgrp:*"), nil); e != nil {
		return nil, e
	}
	if _, _, e := rdsPaging(c.params); e != nil {
		return nil, e
	}
	var out describeDBSubnetGroupsResult
	seen := map[string]bool{}
	for i := range s.world.Instances {
		x := s.dbInstanceXML(&s.world.Instances[i])
		if g := x.DBSubnetGroup; g != nil && !seen[g.DBSubnetGroupName] {
			seen[g.DBSubnetGroupName] = true
			out.DBSubnetGroups = append(out.DBSubnetGroups, *g)
		}
	}
	return out, nil
}

type describeDBClusterSnapshotsResult struct {
	DBClusterSnapshots []struct{} `xml:"DBClusterSnapshots>DBClusterSnapshot"`
}

type describeAutomatedBackupsResult struct {
	DBInstanceAutomatedBackups []struct{} `xml:"DBInstanceAutomatedBackups>DBInstanceAutomatedBackup"`
}

// rdsEmptyList answers an RDS list call of which the sandbox has none
// (snapshots, automated backups), after authorizing action.
func (s *Server) rdsEmptyList(action, resource string, out any) op {
	return func(c *call) (any, *apiError) {
		if e := s.authorize(c, action, s.arn("rds", resource), nil); e != nil {
			return nil, e
		}
		if _, _, e := rdsPaging(c.params); e != nil {
			return nil, e
		}
		return out, nil
	}
}

type describeVpcsResponse struct {
	ec2Meta
	Vpcs []vpcXML `xml:"vpcSet>item"`
}

type vpcXML struct {
	VpcID     string `xml:"vpcId"`
	State     string `xml:"state"`
	CidrBlock string `xml:"cidrBlock"`
	OwnerID   string `xml:"ownerId"`
	IsDefault bool   `xml:"isDefault"`
}

// vpcs are the world's VPCs with a CIDR block: the /16 around their
// subnets.
func (s *Server) vpcs() []vpcXML {
	var out []vpcXML
	for _, n := range s.world.Subnets {
		if slices.ContainsFunc(out, func(v vpcXML) bool { return v.VpcID == n.VPC }) {
			continue
		}
		cidr := ""
		if p, err := netip.ParsePrefix(n.CIDR); err == nil {
			if q, err := p.Addr().Prefix(16); err == nil {
				cidr = q.String()
			}
		}
		out = append(out, vpcXML{VpcID: n.VPC, State: "available", CidrBlock: cidr, OwnerID: s.world.Account})
	}
	return out
}

// describeVpcs answers EC2 DescribeVpcs.
func (s *Server) describeVpcs(c *call) (any, *apiError) {
	if e := s.authorize(c, "ec2:DescribeVpcs", "*", nil); e != nil {
		return nil, e
	}
	if e := ec2DryRun(c.params); e != nil {
		return nil, e
	}
	return &describeVpcsResponse{Vpcs: s.vpcs()}, nil
}

type describeInternetGatewaysResponse struct {
	ec2Meta
	InternetGateways []internetGatewayXML `xml:"internetGatewaySet>item"`
}

type internetGatewayXML struct {
	InternetGatewayID string `xml:"internetGatewayId"`
	OwnerID           string `xml:"ownerId"`
	Attachments       []struct {
		VpcID string `xml:"vpcId"`
		State string `xml:"state"`
	} `xml:"attachmentSet>item"`
}

// describeInternetGateways answers EC2 DescribeInternetGateways with the
// gateways (igw-...) the route tables name, attached to their VPCs.
func (s *Server) describeInternetGateways(c *call) (any, *apiError) {
	if e := s.authorize(c, "ec2:DescribeInternetGateways", "*", nil); e != nil {
		return nil, e
	}
	if e := ec2DryRun(c.params); e != nil {
		return nil, e
	}
	out := &describeInternetGatewaysResponse{}
	s.world.View(func() {
		for _, t := range s.world.RouteTables {
			for _, r := range t.Routes {
				if !strings.HasPrefix(r.Gateway, "igw-") || slices.ContainsFunc(out.InternetGateways, func(g internetGatewayXML) bool { return g.InternetGatewayID == r.Gateway }) {
					continue
				}
				g := internetGatewayXML{InternetGatewayID: r.Gateway, OwnerID: s.world.Account}
				g.Attachments = append(g.Attachments, struct {
					VpcID string `xml:"vpcId"`
					State string `xml:"state"`
				}{t.VPC, "available"})
				out.InternetGateways = append(out.InternetGateways, g)
			}
		}
	})
	return out, nil
}

type describeNetworkAclsResponse struct {
	ec2Meta
	NetworkAcls []networkACLXML `xml:"networkAclSet>item"`
}

type networkACLXML struct {
	NetworkACLID string              `xml:"networkAclId"`
	VpcID        string              `xml:"vpcId"`
	IsDefault    bool                `xml:"default"`
	OwnerID      string              `xml:"ownerId"`
	Entries      []aclEntryXML       `xml:"entrySet>item"`
	Associations []aclAssociationXML `xml:"associationSet>item"`
}

type aclEntryXML struct {
	RuleNumber int    `xml:"ruleNumber"`
	Protocol   string `xml:"protocol"`
	RuleAction string `xml:"ruleAction"`
	Egress     bool   `xml:"egress"`
	CidrBlock  string `xml:"cidrBlock"`
}

type aclAssociationXML struct {
	NetworkACLAssociationID string `xml:"networkAclAssociationId"`
	NetworkACLID            string `xml:"networkAclId"`
	SubnetID                string `xml:"subnetId"`
}

// describeNetworkAcls answers EC2 DescribeNetworkAcls: each VPC's default
// ACL, associated with its subnets; it allows everything, as AWS's
// default does, and the security groups do the filtering.
func (s *Server) describeNetworkAcls(c *call) (any, *apiError) {
	if e := s.authorize(c, "ec2:DescribeNetworkAcls", "*", nil); e != nil {
		return nil, e
	}
	if e := ec2DryRun(c.params); e != nil {
		return nil, e
	}
	out := &describeNetworkAclsResponse{}
	for _, v := range s.vpcs() {
		id := "acl-" + shortHash(v.VpcID)
		acl := networkACLXML{NetworkACLID: id, VpcID: v.VpcID, IsDefault: true, OwnerID: s.world.Account, Entries: []aclEntryXML{
			{RuleNumber: 100, Protocol: "-1", RuleAction: "allow", CidrBlock: "0.0.0.0/0"},
			{RuleNumber: 32767, Protocol: "-1", RuleAction: "deny", CidrBlock: "0.0.0.0/0"},
			{RuleNumber: 100, Protocol: "-1", RuleAction: "allow", Egress: true, CidrBlock: "0.0.0.0/0"},
			{RuleNumber: 32767, Protocol: "-1", RuleAction: "deny", Egress: true, CidrBlock: "0.0.0.0/0"},
		}}
		for _, n := range s.world.Subnets {
			if n.VPC == v.VpcID {
				acl.Associations = append(acl.Associations, aclAssociationXML{NetworkACLAssociationID: "aclassoc-" + shortHash(id+n.ID), NetworkACLID: id, SubnetID: n.ID})
			}
		}
		out.NetworkAcls = append(out.NetworkAcls, acl)
	}
	return out, nil
}

type listPoliciesResult struct {
	Policies    []struct{} `xml:"Policies>member"`
	IsTruncated bool       `xml:"IsTruncated"`
}

// listPolicies answers IAM ListPolicies: the sandbox has no
// customer-managed policy.
func (s *Server) listPolicies(c *call) (any, *apiError) {
	if e := s.authorize(c, "iam:ListPolicies", "arn:aws:iam::"+s.world.Account+":policy/*", nil); e != nil {
		return nil, e
	}
	return listPoliciesResult{}, nil
}

type listSecretsEntry struct {
	ARN             string    `json:"ARN"`
	Name            string    `json:"Name"`
	OwningService   string    `json:"OwningService,omitempty"`
	RotationEnabled bool      `json:"RotationEnabled"`
	Tags            []tagJSON `json:"Tags,omitempty"`
	CreatedDate     epochTime `json:"CreatedDate"`
}

type tagJSON struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// listSecrets answers Secrets Manager ListSecrets (metadata, never
// values); a secret an instance names as its master secret is owned by
// RDS and tagged with the instance, as RDS-managed secrets are.
func (s *Server) listSecrets(c *call) (any, *apiError) {
	if e := s.authorize(c, "secretsmanager:ListSecrets", "*", nil); e != nil {
		return nil, e
	}
	out := []listSecretsEntry{}
	for _, sec := range s.world.Secrets {
		e := listSecretsEntry{ARN: sec.ARN, Name: sec.Name, CreatedDate: epochTime(s.epoch())}
		for _, in := range s.world.Instances {
			if in.MasterSecretARN == sec.ARN {
				e.OwningService = "rds"
				e.RotationEnabled = true
				e.Tags = []tagJSON{{Key: "aws:rds:primaryDBInstanceArn", Value: s.arn("rds", "db:"+in.Identifier)}}
			}
		}
		out = append(out, e)
	}
	return map[string]any{"SecretList": out}, nil
}

// describeTrails answers CloudTrail DescribeTrails: the sandbox has no
// trail, a finding the audit shows (cloudtrail-off).
func (s *Server) describeTrails(c *call) (any, *apiError) {
	if e := s.authorize(c, "cloudtrail:DescribeTrails", "*", nil); e != nil {
		return nil, e
	}
	return map[string]any{"trailList": []struct{}{}}, nil
}

type logGroupJSON struct {
	LogGroupName string `json:"logGroupName"`
	Arn          string `json:"arn"`
	CreationTime int64  `json:"creationTime"`
}
