package collect

import (
	"context"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/rdsgate/rdsgate/posture"
)

func (rs *regionState) vpcs(ctx context.Context, c *ec2.Client) {
	p := ec2.NewDescribeVpcsPaginator(c, &ec2.DescribeVpcsInput{})
	for p.HasMorePages() {
		var page *ec2.DescribeVpcsOutput
		if err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
			rs.record(ctx, "ec2:DescribeVpcs", "", err)
			return
		}
		rs.mu.Lock()
		for _, v := range page.Vpcs {
			out := posture.VPC{ID: aws.ToString(v.VpcId), Default: aws.ToBool(v.IsDefault)}
			for _, a := range v.CidrBlockAssociationSet {
				out.CIDRs = append(out.CIDRs, aws.ToString(a.CidrBlock))
			}
			if len(out.CIDRs) == 0 && v.CidrBlock != nil {
				out.CIDRs = []string{aws.ToString(v.CidrBlock)}
			}
			for _, a := range v.Ipv6CidrBlockAssociationSet {
				out.CIDRs = append(out.CIDRs, aws.ToString(a.Ipv6CidrBlock))
			}
			rs.r.VPCs = append(rs.r.VPCs, out)
		}
		rs.mu.Unlock()
	}
}

func rules(perms []types.IpPermission) []posture.Rule {
	out := []posture.Rule{}
	for _, p := range perms {
		r := posture.Rule{Protocol: aws.ToString(p.IpProtocol), FromPort: int(aws.ToInt32(p.FromPort)), ToPort: int(aws.ToInt32(p.ToPort))}
		if r.Protocol == "-1" {
			r.FromPort, r.ToPort = 0, 65535
		}
		for _, x := range p.IpRanges {
			r.CIDRs = append(r.CIDRs, aws.ToString(x.CidrIp))
		}
		for _, x := range p.Ipv6Ranges {
			r.CIDRs = append(r.CIDRs, aws.ToString(x.CidrIpv6))
		}
		for _, x := range p.UserIdGroupPairs {
			r.Groups = append(r.Groups, aws.ToString(x.GroupId))
		}
		for _, x := range p.PrefixListIds {
			r.PrefixLists = append(r.PrefixLists, aws.ToString(x.PrefixListId))
		}
		out = append(out, r)
	}
	return out
}

func (rs *regionState) securityGroups(ctx context.Context, c *ec2.Client) {
	p := ec2.NewDescribeSecurityGroupsPaginator(c, &ec2.DescribeSecurityGroupsInput{})
	for p.HasMorePages() {
		var page *ec2.DescribeSecurityGroupsOutput
		if err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
			rs.record(ctx, "ec2:DescribeSecurityGroups", "", err)
			return
		}
		rs.mu.Lock()
		for _, g := range page.SecurityGroups {
			rs.r.SecurityGroups = append(rs.r.SecurityGroups, posture.SecurityGroup{
				ID: aws.ToString(g.GroupId), Name: aws.ToString(g.GroupName), VPC: aws.ToString(g.VpcId),
				Ingress: rules(g.IpPermissions), Egress: rules(g.IpPermissionsEgress),
			})
		}
		rs.mu.Unlock()
	}
}

func (rs *regionState) subnets(ctx context.Context, c *ec2.Client) {
	p := ec2.NewDescribeSubnetsPaginator(c, &ec2.DescribeSubnetsInput{})
	for p.HasMorePages() {
		var page *ec2.DescribeSubnetsOutput
		if err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
			rs.record(ctx, "ec2:DescribeSubnets", "", err)
			return
		}
		rs.mu.Lock()
		for _, s := range page.Subnets {
			rs.r.Subnets = append(rs.r.Subnets, posture.Subnet{
				ID: aws.ToString(s.SubnetId), VPC: aws.ToString(s.VpcId), CIDR: aws.ToString(s.CidrBlock), AZ: aws.ToString(s.AvailabilityZone),
			})
		}
		rs.mu.Unlock()
	}
}

func (rs *regionState) routeTables(ctx context.Context, c *ec2.Client) {
	p := ec2.NewDescribeRouteTablesPaginator(c, &ec2.DescribeRouteTablesInput{})
	for p.HasMorePages() {
		var page *ec2.DescribeRouteTablesOutput
		if err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
			rs.record(ctx, "ec2:DescribeRouteTables", "", err)
			return
		}
		rs.mu.Lock()
		for _, t := range page.RouteTables {
			rt := posture.RouteTable{ID: aws.ToString(t.RouteTableId), VPC: aws.ToString(t.VpcId), Routes: []posture.Route{}}
			for _, a := range t.Associations {
				if aws.ToBool(a.Main) {
					rt.Main = true
				}
				if a.SubnetId != nil {
					rt.Subnets = append(rt.Subnets, aws.ToString(a.SubnetId))
				}
			}
			slices.Sort(rt.Subnets)
			for _, r := range t.Routes {
				dst := aws.ToString(r.DestinationCidrBlock)
				if dst == "" {
					dst = aws.ToString(r.DestinationIpv6CidrBlock)
				}
				if dst == "" {
					dst = aws.ToString(r.DestinationPrefixListId)
				}
				rt.Routes = append(rt.Routes, posture.Route{Destination: dst, Target: routeTarget(r), State: string(r.State)})
			}
			rs.r.RouteTables = append(rs.r.RouteTables, rt)
		}
		rs.mu.Unlock()
	}
}

func routeTarget(r types.Route) string {
	for _, s := range []*string{r.GatewayId, r.NatGatewayId, r.TransitGatewayId, r.VpcPeeringConnectionId,
		r.EgressOnlyInternetGatewayId, r.NetworkInterfaceId, r.InstanceId, r.LocalGatewayId, r.CarrierGatewayId} {
		if s != nil && *s != "" {
			return *s
		}
	}
	return ""
}

func (rs *regionState) internetGateways(ctx context.Context, c *ec2.Client) {
	p := ec2.NewDescribeInternetGatewaysPaginator(c, &ec2.DescribeInternetGatewaysInput{})
	for p.HasMorePages() {
		var page *ec2.DescribeInternetGatewaysOutput
		if err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
			rs.record(ctx, "ec2:DescribeInternetGateways", "", err)
			return
		}
		rs.mu.Lock()
		for _, g := range page.InternetGateways {
			ig := posture.InternetGateway{ID: aws.ToString(g.InternetGatewayId)}
			for _, a := range g.Attachments {
				ig.VPCs = append(ig.VPCs, aws.ToString(a.VpcId))
			}
			rs.r.InternetGateways = append(rs.r.InternetGateways, ig)
		}
		rs.mu.Unlock()
	}
}

func (rs *regionState) networkACLs(ctx context.Context, c *ec2.Client) {
	p := ec2.NewDescribeNetworkAclsPaginator(c, &ec2.DescribeNetworkAclsInput{})
	for p.HasMorePages() {
		var page *ec2.DescribeNetworkAclsOutput
		if err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
			rs.record(ctx, "ec2:DescribeNetworkAcls", "", err)
			return
		}
		rs.mu.Lock()
		for _, a := range page.NetworkAcls {
			acl := posture.NetworkACL{ID: aws.ToString(a.NetworkAclId), VPC: aws.ToString(a.VpcId), Default: aws.ToBool(a.IsDefault), Entries: []posture.ACLEntry{}}
			for _, as := range a.Associations {
				acl.Subnets = append(acl.Subnets, aws.ToString(as.SubnetId))
			}
			slices.Sort(acl.Subnets)
			for _, e := range a.Entries {
				en := posture.ACLEntry{
					RuleNumber: int(aws.ToInt32(e.RuleNumber)), Egress: aws.ToBool(e.Egress),
					Allow: e.RuleAction == types.RuleActionAllow, Protocol: normProto(aws.ToString(e.Protocol)),
					CIDR: aws.ToString(e.CidrBlock),
				}
				if en.CIDR == "" {
					en.CIDR = aws.ToString(e.Ipv6CidrBlock)
				}
				if e.PortRange != nil {
					en.FromPort, en.ToPort = int(aws.ToInt32(e.PortRange.From)), int(aws.ToInt32(e.PortRange.To))
				}
				acl.Entries = append(acl.Entries, en)
			}
			rs.r.NetworkACLs = append(rs.r.NetworkACLs, acl)
		}
		rs.mu.Unlock()
	}
}

// normProto maps NACL protocol names to the numbers the API normally uses.
func normProto(p string) string {
	switch p {
	case "tcp":
		return "6"
	case "udp":
		return "17"
	case "all":
		return "-1"
	}
	if _, err := strconv.Atoi(p); err == nil {
		return p
	}
	return p
}
