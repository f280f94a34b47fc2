package awsapi

import (
	"slices"
	"strings"

	"github.com/rdsgate/rdsgate/sandbox/world"
)

type describeSubnetsResponse struct {
	ec2Meta
	Subnets []subnetXML `xml:"subnetSet>item"`
}

type subnetXML struct {
	SubnetID         string `xml:"subnetId"`
	State            string `xml:"state"`
	VpcID            string `xml:"vpcId"`
	CidrBlock        string `xml:"cidrBlock"`
	AvailabilityZone string `xml:"availabilityZone"`
	OwnerID          string `xml:"ownerId"`
	MapPublicIP      bool   `xml:"mapPublicIpOnLaunch"`
}

// describeSubnets answers EC2 DescribeSubnets: SubnetId.N and the filters
// vpc-id, subnet-id and availability-zone.
func (s *Server) describeSubnets(c *call) (any, *apiError) {
	if e := s.authorize(c, "ec2:DescribeSubnets", "*", nil); e != nil {
		return nil, e
	}
	if e := ec2DryRun(c.params); e != nil {
		return nil, e
	}
	filters, e := ec2Filters(c.params, func(n string) bool { return n == "vpc-id" || n == "subnet-id" || n == "availability-zone" })
	if e != nil {
		return nil, e
	}
	ids := members(c.params, "SubnetId")
	for _, id := range ids {
		if !slices.ContainsFunc(s.world.Subnets, func(n world.Subnet) bool { return n.ID == id }) {
			return nil, clientError("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", shorten(id))
		}
	}
	out := &describeSubnetsResponse{}
	for _, n := range s.world.Subnets {
		if len(ids) > 0 && !slices.Contains(ids, n.ID) {
			continue
		}
		ok := true
		for _, f := range filters {
			v := map[string]string{"vpc-id": n.VPC, "subnet-id": n.ID, "availability-zone": n.AvailabilityZone}[f.Name]
			ok = ok && matchesAny(f.Values, v)
		}
		if ok {
			out.Subnets = append(out.Subnets, subnetXML{SubnetID: n.ID, State: "available", VpcID: n.VPC, CidrBlock: n.CIDR,
				AvailabilityZone: n.AvailabilityZone, OwnerID: s.world.Account})
		}
	}
	return out, nil
}

type describeRouteTablesResponse struct {
	ec2Meta
	RouteTables []routeTableXML `xml:"routeTableSet>item"`
}

type routeTableXML struct {
	RouteTableID string           `xml:"routeTableId"`
	VpcID        string           `xml:"vpcId"`
	OwnerID      string           `xml:"ownerId"`
	Routes       []routeXML       `xml:"routeSet>item"`
	Associations []associationXML `xml:"associationSet>item"`
}

type routeXML struct {
	DestinationCidrBlock string `xml:"destinationCidrBlock"`
	GatewayID            string `xml:"gatewayId,omitempty"`
	NatGatewayID         string `xml:"natGatewayId,omitempty"`
	State                string `xml:"state"`
	Origin               string `xml:"origin"`
}

type associationXML struct {
	RouteTableAssociationID string `xml:"routeTableAssociationId"`
	RouteTableID            string `xml:"routeTableId"`
	SubnetID                string `xml:"subnetId,omitempty"`
	Main                    bool   `xml:"main"`
}

// describeRouteTables answers EC2 DescribeRouteTables with the filters
// vpc-id, route-table-id and association.subnet-id.
func (s *Server) describeRouteTables(c *call) (any, *apiError) {
	if e := s.authorize(c, "ec2:DescribeRouteTables", "*", nil); e != nil {
		return nil, e
	}
	if e := ec2DryRun(c.params); e != nil {
		return nil, e
	}
	filters, e := ec2Filters(c.params, func(n string) bool {
		return n == "vpc-id" || n == "route-table-id" || n == "association.subnet-id"
	})
	if e != nil {
		return nil, e
	}
	out := &describeRouteTablesResponse{}
	for _, t := range s.world.RouteTables {
		ok := true
		for _, f := range filters {
			switch f.Name {
			case "vpc-id":
				ok = ok && matchesAny(f.Values, t.VPC)
			case "route-table-id":
				ok = ok && matchesAny(f.Values, t.ID)
			default:
				ok = ok && matchesAny(f.Values, t.Subnets...)
			}
		}
		if !ok {
			continue
		}
		x := routeTableXML{RouteTableID: t.ID, VpcID: t.VPC, OwnerID: s.world.Account}
		for _, r := range t.Routes {
			origin := "CreateRoute"
			if r.Gateway == "local" {
				origin = "CreateRouteTable"
			}
			x.Routes = append(x.Routes, routeXML{DestinationCidrBlock: r.Destination, GatewayID: r.Gateway, NatGatewayID: r.NATGateway, State: "active", Origin: origin})
		}
		if t.Main {
			x.Associations = append(x.Associations, associationXML{RouteTableAssociationID: "rtbassoc-" + shortHash(t.ID), RouteTableID: t.ID, Main: true})
		}
		for _, sn := range t.Subnets {
			x.Associations = append(x.Associations, associationXML{RouteTableAssociationID: "rtbassoc-" + shortHash(t.ID+sn), RouteTableID: t.ID, SubnetID: sn})
		}
		out.RouteTables = append(out.RouteTables, x)
	}
	return out, nil
}

type describeVpcEndpointsResponse struct {
	ec2Meta
	VpcEndpoints []struct{} `xml:"vpcEndpointSet>item"`
}

// describeVpcEndpoints answers EC2 DescribeVpcEndpoints: the sandbox's VPC
// has none.
func (s *Server) describeVpcEndpoints(c *call) (any, *apiError) {
	if e := s.authorize(c, "ec2:DescribeVpcEndpoints", "*", nil); e != nil {
		return nil, e
	}
	if _, e := ec2Filters(c.params, func(n string) bool {
		return n == "vpc-id" || n == "service-name" || n == "vpc-endpoint-id" || n == "vpc-endpoint-state" || n == "tag-key" || strings.HasPrefix(n, "tag:")
	}); e != nil {
		return nil, e
	}
	return &describeVpcEndpointsResponse{}, nil
}

type getParameterInput struct {
	Name           *string
	WithDecryption *bool
}

type parameterXML struct {
	Name     string `json:"Name"`
	Type     string `json:"Type"`
	Value    string `json:"Value"`
	Version  int    `json:"Version"`
	ARN      string `json:"ARN"`
	DataType string `json:"DataType"`
}

// getParameter answers SSM GetParameter for AWS's public parameters (the
// latest Amazon Linux images); they are readable by anyone allowed
// ssm:GetParameter on their ARN, which has no account.
func (s *Server) getParameter(c *call) (any, *apiError) {
	var in getParameterInput
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	if in.Name == nil {
		return nil, missingParam(c.svc, "Name")
	}
	name := *in.Name
	arn := "arn:aws:ssm:" + s.world.Region + "::parameter" + name
	if e := s.authorize(c, "ssm:GetParameter", arn, nil); e != nil {
		return nil, e
	}
	v, ok := s.world.Parameters[name]
	if !ok {
		return nil, clientError("ParameterNotFound", "Parameter %s not found.", shorten(name))
	}
	return map[string]parameterXML{"Parameter": {Name: name, Type: "String", Value: v, Version: 1, ARN: arn, DataType: "aws:ec2:image"}}, nil
}

// iamNoSuchEntity answers the IAM reads of roles and instance profiles:
// the sandbox account has none.
func (s *Server) iamNoSuchEntity(kind, param, action string) op {
	return func(c *call) (any, *apiError) {
		name := c.params.Get(param)
		if name == "" {
			return nil, missingParam(c.svc, param)
		}
		if e := s.authorize(c, action, "arn:aws:iam::"+s.world.Account+":"+kind+"/"+name, nil); e != nil {
			return nil, e
		}
		return nil, (&apiError{Status: 404, Code: "NoSuchEntity", Message: "The " + kind + " with name " + shorten(name) + " cannot be found."})
	}
}
