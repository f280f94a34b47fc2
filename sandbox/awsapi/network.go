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
	VpcEndpoints []vpcEndpointXML `xml:"vpcEndpointSet>item"`
}

type vpcEndpointXML struct {
	VpcEndpointID     string          `xml:"vpcEndpointId"`
	VpcEndpointType   string          `xml:"vpcEndpointType"`
	VpcID             string          `xml:"vpcId"`
	ServiceName       string          `xml:"serviceName"`
	State             string          `xml:"state"`
	SubnetIDs         []string        `xml:"subnetIdSet>item"`
	Groups            []groupIdentXML `xml:"groupSet>item"`
	PrivateDNSEnabled bool            `xml:"privateDnsEnabled"`
	CreationTimestamp string          `xml:"creationTimestamp"`
	OwnerID           string          `xml:"ownerId"`
	Tags              []tagXML        `xml:"tagSet>item"`
}

// endpointXML describes e. The caller holds the world's lock.
func (s *Server) endpointXML(e *world.VPCEndpoint) vpcEndpointXML {
	x := vpcEndpointXML{VpcEndpointID: e.ID, VpcEndpointType: "Interface", VpcID: e.VPC, ServiceName: e.Service, State: e.State,
		SubnetIDs: e.Subnets, PrivateDNSEnabled: e.PrivateDNS, CreationTimestamp: xmlTime(e.Created), OwnerID: s.world.Account}
	for _, g := range e.SecurityGroups {
		name := g
		if sg, ok := s.world.SecurityGroup(g); ok {
			name = sg.Name
		}
		x.Groups = append(x.Groups, groupIdentXML{GroupID: g, GroupName: name})
	}
	for _, k := range sortedKeys(e.Tags) {
		x.Tags = append(x.Tags, tagXML{Key: k, Value: e.Tags[k]})
	}
	return x
}

// describeVpcEndpoints answers EC2 DescribeVpcEndpoints: VpcEndpointId.N
// and the filters vpc-id, service-name, vpc-endpoint-id,
// vpc-endpoint-state, tag-key and tag:KEY.
func (s *Server) describeVpcEndpoints(c *call) (any, *apiError) {
	if e := s.authorize(c, "ec2:DescribeVpcEndpoints", "*", nil); e != nil {
		return nil, e
	}
	filters, e := ec2Filters(c.params, func(n string) bool {
		return n == "vpc-id" || n == "service-name" || n == "vpc-endpoint-id" || n == "vpc-endpoint-state" || n == "tag-key" || strings.HasPrefix(n, "tag:")
	})
	if e != nil {
		return nil, e
	}
	ids := members(c.params, "VpcEndpointId")
	out := &describeVpcEndpointsResponse{}
	s.world.View(func() {
		for _, id := range ids {
			if !slices.ContainsFunc(s.world.Endpoints, func(ep world.VPCEndpoint) bool { return ep.ID == id }) {
				e = clientError("InvalidVpcEndpointId.NotFound", "The Vpc Endpoint Id '%s' does not exist", shorten(id))
				return
			}
		}
		for i := range s.world.Endpoints {
			ep := &s.world.Endpoints[i]
			if len(ids) > 0 && !slices.Contains(ids, ep.ID) {
				continue
			}
			ok := true
			for _, f := range filters {
				var vals []string
				switch f.Name {
				case "vpc-id":
					vals = []string{ep.VPC}
				case "service-name":
					vals = []string{ep.Service}
				case "vpc-endpoint-id":
					vals = []string{ep.ID}
				case "vpc-endpoint-state":
					vals = []string{ep.State}
				case "tag-key":
					vals = sortedKeys(ep.Tags)
				default:
					if v, has := ep.Tags[strings.TrimPrefix(f.Name, "tag:")]; has {
						vals = []string{v}
					}
				}
				ok = ok && matchesAny(f.Values, vals...)
			}
			if ok {
				out.VpcEndpoints = append(out.VpcEndpoints, s.endpointXML(ep))
			}
		}
	})
	if e != nil {
		return nil, e
	}
	return out, nil
}

type createVpcEndpointResponse struct {
	ec2Meta
	VpcEndpoint vpcEndpointXML `xml:"vpcEndpoint"`
}

// createVpcEndpoint answers EC2 CreateVpcEndpoint for interface endpoints
// of the region's services: VpcId, ServiceName, SubnetId.N,
// SecurityGroupId.N, PrivateDnsEnabled and tags. The endpoint is available
// at once; two with private DNS for one service in a VPC conflict, as in
// AWS.
func (s *Server) createVpcEndpoint(c *call) (any, *apiError) {
	p := c.params
	vpc, svc := p.Get("VpcId"), p.Get("ServiceName")
	switch {
	case vpc == "":
		return nil, missingParam(c.svc, "VpcId")
	case svc == "":
		return nil, missingParam(c.svc, "ServiceName")
	case !strings.EqualFold(or(p.Get("VpcEndpointType"), "Gateway"), "Interface"):
		return nil, clientError("InvalidParameter", "The sandbox creates Interface endpoints only")
	case !strings.HasPrefix(svc, "com.amazonaws."+s.world.Region+"."):
		return nil, clientError("InvalidServiceName", "The Vpc Endpoint Service '%s' does not exist", shorten(svc))
	}
	subnets, groups := members(p, "SubnetId"), members(p, "SecurityGroupId")
	privateDNS := !strings.EqualFold(p.Get("PrivateDnsEnabled"), "false")
	tags, e := tagSpecs(p, "vpc-endpoint")
	if e != nil {
		return nil, e
	}
	id := "vpce-" + randomHex(17)
	if e := s.authorizeCreate(c, "ec2:CreateVpcEndpoint", s.arn("ec2", "vpc-endpoint/"+id), tags["vpc-endpoint"]); e != nil {
		return nil, e
	}
	// As EC2 does, the VPC, subnets and groups it goes in are asked for too.
	used := map[string]map[string]string{s.arn("ec2", "vpc/"+vpc): nil}
	for _, sn := range subnets {
		used[s.arn("ec2", "subnet/"+sn)] = nil
	}
	for _, g := range groups {
		used[s.arn("ec2", "security-group/"+g)] = s.groupTags(g)
	}
	if e := s.authorizeUse(c, "ec2:CreateVpcEndpoint", used); e != nil {
		return nil, e
	}
	if e := ec2DryRun(p); e != nil {
		return nil, e
	}
	var out *createVpcEndpointResponse
	s.world.Update(func() {
		for _, sn := range subnets {
			if n, ok := s.world.Subnet(sn); !ok || n.VPC != vpc {
				e = clientError("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist in %s", shorten(sn), shorten(vpc))
				return
			}
		}
		for _, g := range groups {
			if sg, ok := s.world.SecurityGroup(g); !ok || sg.VPC != vpc {
				e = clientError("InvalidGroup.NotFound", "The security group '%s' does not exist in %s", shorten(g), shorten(vpc))
				return
			}
		}
		if privateDNS && slices.ContainsFunc(s.world.Endpoints, func(ep world.VPCEndpoint) bool {
			return ep.VPC == vpc && ep.Service == svc && ep.PrivateDNS
		}) {
			e = clientError("InvalidParameter", "private-dns-enabled cannot be set because there is already a conflicting DNS domain for %s in the VPC %s", shorten(svc), shorten(vpc))
			return
		}
		s.world.Endpoints = append(s.world.Endpoints, world.VPCEndpoint{ID: id, VPC: vpc, Service: svc, Subnets: subnets, SecurityGroups: groups,
			PrivateDNS: privateDNS, State: "available", Created: s.now().UTC(), Tags: tags["vpc-endpoint"]})
		out = &createVpcEndpointResponse{VpcEndpoint: s.endpointXML(&s.world.Endpoints[len(s.world.Endpoints)-1])}
	})
	if e != nil {
		return nil, e
	}
	return out, nil
}

type deleteVpcEndpointsResponse struct {
	ec2Meta
	Unsuccessful []unsuccessfulXML `xml:"unsuccessful>item"`
}

type unsuccessfulXML struct {
	ResourceID string `xml:"resourceId"`
	Error      struct {
		Code    string `xml:"code"`
		Message string `xml:"message"`
	} `xml:"error"`
}

// deleteVpcEndpoints answers EC2 DeleteVpcEndpoints: VpcEndpointId.N;
// unknown ids are listed as unsuccessful, as EC2 does. Deleted endpoints
// are gone at once.
func (s *Server) deleteVpcEndpoints(c *call) (any, *apiError) {
	ids := members(c.params, "VpcEndpointId")
	if len(ids) == 0 {
		return nil, missingParam(c.svc, "VpcEndpointIds")
	}
	for _, id := range ids {
		var tags map[string]string
		s.world.View(func() {
			if set := s.tagsOf(id); set != nil {
				tags = *set
			}
		})
		if e := s.authorize(c, "ec2:DeleteVpcEndpoints", s.arn("ec2", "vpc-endpoint/"+id), resourceTags(tags)); e != nil {
			return nil, e
		}
	}
	if e := ec2DryRun(c.params); e != nil {
		return nil, e
	}
	out := &deleteVpcEndpointsResponse{}
	s.world.Update(func() {
		for _, id := range ids {
			n := len(s.world.Endpoints)
			s.world.Endpoints = slices.DeleteFunc(s.world.Endpoints, func(ep world.VPCEndpoint) bool { return ep.ID == id })
			if len(s.world.Endpoints) == n {
				u := unsuccessfulXML{ResourceID: id}
				u.Error.Code, u.Error.Message = "InvalidVpcEndpoint.NotFound", "The VPC endpoint '"+shorten(id)+"' does not exist"
				out.Unsuccessful = append(out.Unsuccessful, u)
			}
		}
	})
	return out, nil
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
