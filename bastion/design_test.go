package bastion

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"gopkg.in/yaml.v3"
)

func testDesign(endpoints bool) Design {
	return Design{VPC: "vpc-0abc", Region: "eu-west-1", Subnet: "subnet-0a", AZ: "eu-west-1a", NAT: !endpoints, Endpoints: endpoints,
		DB: DB{Identifier: "orders", SecurityGroup: "sg-0db", Port: 5432}, InstanceType: "t4g.nano", Architecture: "arm64", IdleStop: 30 * time.Minute}
}

func TestArchOf(t *testing.T) {
	for _, tc := range []struct{ typ, want string }{
		{"t4g.nano", "arm64"}, {"m7gd.large", "arm64"}, {"c6gn.xlarge", "arm64"}, {"t3.micro", "x86_64"},
		{"g4dn.xlarge", "x86_64"}, {"t3a.nano", "x86_64"}, {"g5g.xlarge", "arm64"},
	} {
		if got := archOf(tc.typ); got != tc.want {
			t.Errorf("archOf(%s) = %s, want %s", tc.typ, got, tc.want)
		}
	}
}

func TestRouteOf(t *testing.T) {
	route := func(gw, nat string) ec2types.Route {
		return ec2types.Route{DestinationCidrBlock: aws.String("0.0.0.0/0"), GatewayId: aws.String(gw), NatGatewayId: aws.String(nat)}
	}
	tables := []ec2types.RouteTable{
		{Associations: []ec2types.RouteTableAssociation{{Main: aws.Bool(true)}}, Routes: []ec2types.Route{route("igw-1", "")}},
		{Associations: []ec2types.RouteTableAssociation{{SubnetId: aws.String("subnet-nat")}}, Routes: []ec2types.Route{route("", "nat-1")}},
		{Associations: []ec2types.RouteTableAssociation{{SubnetId: aws.String("subnet-none")}}},
	}
	for _, tc := range []struct{ subnet, want string }{{"subnet-nat", "nat"}, {"subnet-none", ""}, {"subnet-main", "igw"}} {
		if got := routeOf(tables, tc.subnet); got != tc.want {
			t.Errorf("routeOf(%s) = %q, want %q", tc.subnet, got, tc.want)
		}
	}
}

func TestUserDataIdleStop(t *testing.T) {
	d := testDesign(false)
	if got := IdleStopOf(d.UserData()); got != 1800 {
		t.Errorf("idle stop read back as %d, want 1800", got)
	}
	d.IdleStop = 0
	if got := IdleStopOf(d.UserData()); got != 0 {
		t.Errorf("no idle stop read back as %d", got)
	}
	if !strings.Contains(testDesign(false).UserData(), "pgrep -f ssm-session-worker") {
		t.Error("the idle check does not look at the session workers")
	}
}

// TestTerraformParses parses the Terraform output with HashiCorp's HCL
// parser and checks that it names each resource of the plan with its
// settings.
func TestTerraformParses(t *testing.T) {
	for _, endpoints := range []bool{true, false} {
		d := testDesign(endpoints)
		var b bytes.Buffer
		if err := d.WriteCode(&b, FormatTerraform); err != nil {
			t.Fatal(err)
		}
		f, diags := hclsyntax.ParseConfig(b.Bytes(), "bastion.tf", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("parse: %v\n%s", diags, b.String())
		}
		counts := map[string]int{}
		attrs := map[string]map[string]string{}
		for _, blk := range f.Body.(*hclsyntax.Body).Blocks {
			if blk.Type != "resource" {
				continue
			}
			counts[blk.Labels[0]]++
			m := map[string]string{}
			for name, a := range blk.Body.Attributes {
				if v, diags := a.Expr.Value(nil); !diags.HasErrors() && v.Type().FriendlyName() == "string" {
					m[name] = v.AsString()
				} else {
					m[name] = string(a.Expr.Range().SliceBytes(b.Bytes()))
				}
			}
			attrs[blk.Labels[0]+"."+blk.Labels[1]] = m
		}
		want := map[string]int{}
		for _, r := range d.Resources() {
			want[map[string]string{KindGroup: "aws_security_group", KindRule: "aws_vpc_security_group_ingress_rule", KindRole: "aws_iam_role",
				KindProfile: "aws_iam_instance_profile", KindEndpoint: "aws_vpc_endpoint", KindInstance: "aws_instance"}[r.Kind]]++
		}
		if endpoints {
			want["aws_vpc_security_group_ingress_rule"]++ // the endpoints' group's rule
		}
		want["aws_vpc_security_group_egress_rule"] = len(d.Egress())
		want["aws_iam_role_policy_attachment"] = 1
		for k, n := range want {
			if counts[k] != n {
				t.Errorf("endpoints=%v: %d %s, want %d", endpoints, counts[k], k, n)
			}
		}
		inst := attrs["aws_instance.bastion"]
		if inst["instance_type"] != d.InstanceType || inst["subnet_id"] != d.Subnet || inst["associate_public_ip_address"] != "false" || IdleStopOf(inst["user_data"]) != 1800 {
			t.Errorf("instance: %v", inst)
		}
		if _, ok := inst["key_name"]; ok {
			t.Error("the instance has a key pair")
		}
		if a := attrs["aws_iam_role_policy_attachment.bastion_ssm_core"]; a["policy_arn"] != SSMCorePolicyARN {
			t.Errorf("policy attachment %v", a)
		}
		if db := attrs["aws_vpc_security_group_ingress_rule.database_from_bastion"]; db["security_group_id"] != d.DB.SecurityGroup || db["from_port"] != "5432" {
			t.Errorf("database rule %v", db)
		}
		https := attrs["aws_vpc_security_group_egress_rule.bastion_https"]
		if endpoints != (https["referenced_security_group_id"] == "aws_security_group.endpoints.id") || !endpoints && https["cidr_ipv4"] != "0.0.0.0/0" {
			t.Errorf("endpoints=%v: https egress %v", endpoints, https)
		}
	}
}

// TestCloudFormationParses parses the template as YAML and checks its
// resources against the plan.
func TestCloudFormationParses(t *testing.T) {
	d := testDesign(true)
	var b bytes.Buffer
	if err := d.WriteCode(&b, FormatCloudFormation); err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Parameters map[string]struct {
			Default string `yaml:"Default"`
		} `yaml:"Parameters"`
		Resources map[string]struct {
			Type       string         `yaml:"Type"`
			Properties map[string]any `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(b.Bytes(), &tpl); err != nil {
		t.Fatalf("parse: %v\n%s", err, b.String())
	}
	if tpl.Parameters["ImageId"].Default != d.ImageParameter() {
		t.Errorf("image parameter %v", tpl.Parameters)
	}
	types := map[string]int{}
	for _, r := range tpl.Resources {
		types[r.Type]++
	}
	want := map[string]int{"AWS::EC2::SecurityGroup": 2, "AWS::EC2::SecurityGroupEgress": 2, "AWS::EC2::SecurityGroupIngress": 2,
		"AWS::EC2::VPCEndpoint": 3, "AWS::IAM::Role": 1, "AWS::IAM::InstanceProfile": 1, "AWS::EC2::Instance": 1}
	for k, n := range want {
		if types[k] != n {
			t.Errorf("%d %s, want %d", types[k], k, n)
		}
	}
	props := tpl.Resources["BastionInstance"].Properties
	js, _ := json.Marshal(props)
	for _, s := range []string{`"HttpTokens":"required"`, `"HttpPutResponseHopLimit":1`, `"VolumeType":"gp3"`, `"Encrypted":true`,
		`"AssociatePublicIpAddress":false`, `"InstanceType":"t4g.nano"`, `"SubnetId":"subnet-0a"`} {
		if !strings.Contains(string(js), s) {
			t.Errorf("instance lacks %s: %s", s, js)
		}
	}
	if _, ok := props["KeyName"]; ok {
		t.Error("the instance has a key pair")
	}
	role, _ := json.Marshal(tpl.Resources["BastionRole"].Properties)
	if !strings.Contains(string(role), `"ManagedPolicyArns":["`+SSMCorePolicyARN+`"]`) || !strings.Contains(string(role), "ec2.amazonaws.com") {
		t.Errorf("role: %s", role)
	}
	var services []string
	for _, r := range tpl.Resources {
		if r.Type == "AWS::EC2::VPCEndpoint" {
			services = append(services, r.Properties["ServiceName"].(string))
		}
	}
	slices.Sort(services)
	if !slices.Equal(services, []string{"com.amazonaws.eu-west-1.ec2messages", "com.amazonaws.eu-west-1.ssm", "com.amazonaws.eu-west-1.ssmmessages"}) {
		t.Errorf("endpoints %v", services)
	}
}
