package bastion

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Design is the one description of a VPC's bastion: Plan, Apply, Status,
// Destroy and the Terraform and CloudFormation output all read it.
type Design struct {
	VPC    string
	Region string
	// Subnet is the bastion's subnet and AZ its zone.
	Subnet string
	AZ     string
	// NAT is whether Subnet routes 0.0.0.0/0 to a NAT gateway.
	NAT bool
	// Endpoints is whether the bastion gets interface endpoints.
	Endpoints bool
	// DB is the database the bastion reaches.
	DB DB
	// InstanceType and Architecture (arm64 or x86_64) of the instance.
	InstanceType string
	Architecture string
	// IdleStop is how long the instance runs with no session (0: forever).
	IdleStop time.Duration
}

// DB is the database side of a Design.
type DB struct {
	Identifier    string
	SecurityGroup string
	Port          int
}

// EndpointServices are the interface endpoints Session Manager needs.
var EndpointServices = []string{"ssm", "ssmmessages", "ec2messages"}

// Name is every named resource's name: rdsgate-bastion-VPC.
func (d Design) Name() string { return "rdsgate-bastion-" + d.VPC }

// EndpointGroupName is the endpoints' security group's name.
func (d Design) EndpointGroupName() string { return d.Name() + "-endpoints" }

// ImageParameter is the public SSM parameter naming the latest Amazon
// Linux 2023 image for the architecture.
func (d Design) ImageParameter() string { return imageParameterPrefix + d.Architecture }

// Tags are the tags of every resource.
func (d Design) Tags() map[string]string {
	return map[string]string{TagKey: d.VPC, "Name": d.Name()}
}

// EndpointService is the full service name of a short one (ssm).
func (d Design) EndpointService(short string) string { return endpointService(d.Region, short) }

func endpointService(region, short string) string { return "com.amazonaws." + region + "." + short }

// Peer is what a security group rule points at.
type Peer string

// Peers of the bastion's rules.
const (
	PeerDB        Peer = "database"
	PeerEndpoints Peer = "endpoints"
	PeerAnywhere  Peer = "0.0.0.0/0"
	PeerBastion   Peer = "bastion"
)

// Rule is one TCP rule of the design.
type Rule struct {
	Port int
	Peer Peer
	// Why is the rule's description.
	Why string
}

// Egress is the bastion group's egress, all of it: the database's group
// on its port, and 443 to the endpoints (or anywhere, behind a NAT).
func (d Design) Egress() []Rule {
	https := Rule{Port: 443, Peer: PeerAnywhere, Why: "Systems Manager over HTTPS through the NAT gateway"}
	if d.Endpoints {
		https = Rule{Port: 443, Peer: PeerEndpoints, Why: "Systems Manager over HTTPS to the interface endpoints"}
	}
	return []Rule{{Port: d.DB.Port, Peer: PeerDB, Why: "rdsgate bastion to " + d.DB.Identifier}, https}
}

// DBIngress is the rule the database's group gains.
func (d Design) DBIngress() Rule {
	return Rule{Port: d.DB.Port, Peer: PeerBastion, Why: "rdsgate bastion " + d.Name()}
}

// EndpointIngress is the endpoints' group's one rule.
func (d Design) EndpointIngress() Rule {
	return Rule{Port: 443, Peer: PeerBastion, Why: "Systems Manager from the rdsgate bastion"}
}

// TrustPolicy is the role's trust policy: EC2 only.
func (d Design) TrustPolicy() string {
	b, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect": "Allow", "Principal": map[string]string{"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole",
		}},
	})
	return string(b)
}

// Resource is one line of the description, as Plan and Status show it.
type Resource struct {
	// Kind is e.g. "security group" or "instance"; Name what it is called.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Settings in the order they are shown.
	Settings []KV `json:"settings"`
}

// KV is one setting of a Resource.
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Kinds of Resource.
const (
	KindGroup    = "security group"
	KindRule     = "security group rule"
	KindRole     = "iam role"
	KindProfile  = "instance profile"
	KindEndpoint = "vpc endpoint"
	KindInstance = "instance"
)

// Resources lists the design, in the order Apply creates it.
func (d Design) Resources() []Resource {
	var out []Resource
	egress := []string{}
	for _, r := range d.Egress() {
		egress = append(egress, r.String(d))
	}
	out = append(out, Resource{Kind: KindGroup, Name: d.Name(), Settings: []KV{
		{"vpc", d.VPC}, {"ingress", "none"}, {"egress", strings.Join(egress, ", ")}}})
	if d.Endpoints {
		out = append(out, Resource{Kind: KindGroup, Name: d.EndpointGroupName(), Settings: []KV{
			{"vpc", d.VPC}, {"ingress", d.EndpointIngress().String(d)}}})
	}
	out = append(out, Resource{Kind: KindRule, Name: d.DB.SecurityGroup + " ingress", Settings: []KV{
		{"rule", d.DBIngress().String(d)}, {"on", d.DB.SecurityGroup + " (" + d.DB.Identifier + ")"}}})
	if d.Endpoints {
		for _, s := range EndpointServices {
			out = append(out, Resource{Kind: KindEndpoint, Name: d.EndpointService(s), Settings: []KV{
				{"type", "Interface"}, {"subnet", d.Subnet}, {"private dns", "true"}, {"security group", d.EndpointGroupName()}}})
		}
	}
	out = append(out,
		Resource{Kind: KindRole, Name: d.Name(), Settings: []KV{{"trust", "ec2.amazonaws.com"}, {"policies", "AmazonSSMManagedInstanceCore"}}},
		Resource{Kind: KindProfile, Name: d.Name(), Settings: []KV{{"role", d.Name()}}},
		Resource{Kind: KindInstance, Name: d.Name(), Settings: []KV{
			{"image", "Amazon Linux 2023 (" + d.ImageParameter() + ")"},
			{"type", d.InstanceType + " (" + d.Architecture + ")"},
			{"subnet", d.Subnet + " (" + d.AZ + ")"},
			{"public ip", "none"}, {"key pair", "none"},
			{"metadata", "IMDSv2 required, hop limit 1"},
			{"root volume", fmt.Sprintf("gp3, %d GiB, encrypted", VolumeGiB)},
			{"idle stop", d.idleText()},
		}})
	return out
}

func (d Design) idleText() string {
	if d.IdleStop <= 0 {
		return "never"
	}
	return "after " + d.IdleStop.String() + " with no session"
}

// String is the rule as a plan shows it.
func (r Rule) String(d Design) string {
	switch r.Peer {
	case PeerDB:
		return fmt.Sprintf("tcp %d to %s", r.Port, d.DB.SecurityGroup)
	case PeerEndpoints:
		return fmt.Sprintf("tcp %d to %s", r.Port, d.EndpointGroupName())
	case PeerBastion:
		return fmt.Sprintf("tcp %d from %s", r.Port, d.Name())
	}
	return fmt.Sprintf("tcp %d to %s", r.Port, r.Peer)
}

// archOf is the architecture of an instance type: Graviton families end
// in g (t4g, m7g, c6gn is c6g+n), arm64; the rest are x86_64.
func archOf(instanceType string) string {
	family, _, _ := strings.Cut(instanceType, ".")
	if i := strings.IndexAny(family, "0123456789"); i >= 0 && strings.Contains(family[i:], "g") {
		return "arm64"
	}
	return "x86_64"
}
