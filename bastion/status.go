package bastion

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Report is a bastion's status.
type Report struct {
	VPC    string `json:"vpc"`
	Region string `json:"region"`
	// Instance is nil when the VPC has no bastion.
	Instance  *InstanceReport  `json:"instance"`
	Groups    []GroupReport    `json:"security_groups"`
	Role      *RoleReport      `json:"role"`
	Endpoints []EndpointReport `json:"endpoints"`
	// NAT is whether the bastion's subnet routes to a NAT gateway.
	NAT bool `json:"nat_route"`
	// MonthlyUSD estimates a month of what runs now, at us-east-1's
	// on-demand prices (instance, volume, endpoints).
	MonthlyUSD float64 `json:"monthly_usd_estimate"`
}

// InstanceReport is the instance's side of a Report.
type InstanceReport struct {
	ID         string `json:"id"`
	State      string `json:"state"`
	Type       string `json:"type"`
	Subnet     string `json:"subnet"`
	PrivateIP  string `json:"private_ip"`
	PublicIP   string `json:"public_ip,omitempty"`
	KeyName    string `json:"key_name,omitempty"`
	HTTPTokens string `json:"http_tokens"`
	Agent      string `json:"agent"`
	IdleStop   string `json:"idle_stop"`
}

// GroupReport is a security group with its rules.
type GroupReport struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Ingress []string `json:"ingress"`
	Egress  []string `json:"egress"`
}

// RoleReport is the instance role.
type RoleReport struct {
	Name     string   `json:"name"`
	Policies []string `json:"policies"`
}

// EndpointReport is one interface endpoint.
type EndpointReport struct {
	Service string `json:"service"`
	ID      string `json:"id"`
	State   string `json:"state"`
	Ours    bool   `json:"rdsgate"`
}

// Hourly on-demand prices in us-east-1 (USD), for the estimate.
var hourlyUSD = map[string]float64{
	"t4g.nano": 0.0042, "t4g.micro": 0.0084, "t4g.small": 0.0168,
	"t3.nano": 0.0052, "t3.micro": 0.0104, "t3.small": 0.0208,
	"t3a.nano": 0.0047, "t3a.micro": 0.0094, "t3a.small": 0.0188,
}

const (
	hoursPerMonth   = 730
	endpointHourUSD = 0.01 // per endpoint per zone
	gp3GiBMonthUSD  = 0.08
)

// Status reads d's bastion as it is.
func Status(ctx context.Context, c Clients, d Design) (*Report, error) {
	s, err := Observe(ctx, c, d)
	if err != nil {
		return nil, err
	}
	r := &Report{VPC: d.VPC, Region: d.Region, NAT: d.NAT, Endpoints: []EndpointReport{}, Groups: []GroupReport{}}
	for _, g := range []*ec2types.SecurityGroup{s.Group, s.EndpointGroup, s.DBGroup} {
		if g != nil {
			r.Groups = append(r.Groups, GroupReport{ID: aws.ToString(g.GroupId), Name: aws.ToString(g.GroupName),
				Ingress: rulesText(g.IpPermissions, "from"), Egress: rulesText(g.IpPermissionsEgress, "to")})
		}
	}
	if s.Role != nil {
		r.Role = &RoleReport{Name: aws.ToString(s.Role.RoleName), Policies: s.RolePolicies}
	}
	for _, short := range EndpointServices {
		if e, ok := s.Endpoints[short]; ok {
			r.Endpoints = append(r.Endpoints, EndpointReport{Service: short, ID: aws.ToString(e.VpcEndpointId), State: string(e.State), Ours: ec2Tag(e.Tags, TagKey) == d.VPC})
			if ec2Tag(e.Tags, TagKey) == d.VPC {
				r.MonthlyUSD += endpointHourUSD * hoursPerMonth
			}
		}
	}
	if i := s.Instance; i != nil {
		r.Instance = &InstanceReport{ID: aws.ToString(i.InstanceId), State: string(i.State.Name), Type: string(i.InstanceType),
			Subnet: aws.ToString(i.SubnetId), PrivateIP: aws.ToString(i.PrivateIpAddress), PublicIP: aws.ToString(i.PublicIpAddress),
			KeyName: aws.ToString(i.KeyName), Agent: agentStatus(s.Agent, s.AgentErr), IdleStop: "never"}
		if i.MetadataOptions != nil {
			r.Instance.HTTPTokens = string(i.MetadataOptions.HttpTokens)
		}
		if v := ec2Tag(i.Tags, IdleStopTagKey); v != "" {
			r.Instance.IdleStop = "after " + v + " with no session"
		}
		r.MonthlyUSD += VolumeGiB * gp3GiBMonthUSD
		if i.State.Name == ec2types.InstanceStateNameRunning || i.State.Name == ec2types.InstanceStateNamePending {
			r.MonthlyUSD += hourlyUSD[string(i.InstanceType)] * hoursPerMonth
		}
	}
	return r, nil
}

func rulesText(perms []ec2types.IpPermission, dir string) []string {
	out := []string{}
	for _, p := range perms {
		ports := "all"
		if aws.ToString(p.IpProtocol) != "-1" {
			ports = fmt.Sprintf("%s %d", aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort))
			if aws.ToInt32(p.ToPort) != aws.ToInt32(p.FromPort) {
				ports += fmt.Sprintf("-%d", aws.ToInt32(p.ToPort))
			}
		}
		for _, g := range p.UserIdGroupPairs {
			out = append(out, ports+" "+dir+" "+aws.ToString(g.GroupId))
		}
		for _, c := range p.IpRanges {
			out = append(out, ports+" "+dir+" "+aws.ToString(c.CidrIp))
		}
	}
	return out
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "bastion of %s (%s)\n", r.VPC, r.Region)
	if i := r.Instance; i != nil {
		fmt.Fprintf(&b, "  instance   %s %s (%s) in %s, %s\n", i.ID, i.State, i.Type, i.Subnet, i.PrivateIP)
		fmt.Fprintf(&b, "  agent      %s\n", i.Agent)
		fmt.Fprintf(&b, "  access     public ip %s, key pair %s, metadata tokens %s\n", orNone(i.PublicIP), orNone(i.KeyName), i.HTTPTokens)
		fmt.Fprintf(&b, "  idle stop  %s\n", i.IdleStop)
	} else {
		b.WriteString("  instance   none\n")
	}
	for _, g := range r.Groups {
		fmt.Fprintf(&b, "  group      %s %s: ingress %s; egress %s\n", g.ID, g.Name, orNone(strings.Join(g.Ingress, ", ")), orNone(strings.Join(g.Egress, ", ")))
	}
	if r.Role != nil {
		fmt.Fprintf(&b, "  role       %s: %s\n", r.Role.Name, orNone(strings.Join(r.Role.Policies, ", ")))
	} else {
		b.WriteString("  role       none\n")
	}
	if r.NAT {
		b.WriteString("  network    NAT route\n")
	}
	for _, e := range r.Endpoints {
		fmt.Fprintf(&b, "  endpoint   %s %s (%s)\n", e.Service, e.ID, e.State)
	}
	fmt.Fprintf(&b, "  cost       about $%.2f a month as it runs now (us-east-1 on-demand prices)\n", r.MonthlyUSD)
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
