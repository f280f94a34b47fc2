package bastion

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Formats of WriteCode.
const (
	FormatTerraform      = "terraform"
	FormatCloudFormation = "cloudformation"
)

// WriteCode writes d as Terraform (HCL) or CloudFormation (YAML): the
// same resources and settings as the plan, built from the same Design.
func (d Design) WriteCode(w io.Writer, format string) error {
	switch format {
	case FormatTerraform:
		_, err := io.WriteString(w, d.terraform())
		return err
	case FormatCloudFormation:
		b, err := yaml.Marshal(d.cloudFormation())
		if err != nil {
			return fmt.Errorf("bastion: cloudformation: %w", err)
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("bastion: %q is not a format: use %s or %s", format, FormatTerraform, FormatCloudFormation)
}

// tfResourceName is a rule's Terraform name and CloudFormation id stem.
func (r Rule) stem() string {
	switch r.Peer {
	case PeerDB:
		return "database"
	case PeerBastion:
		return "bastion"
	}
	return "https"
}

type hclWriter struct{ strings.Builder }

func (h *hclWriter) block(header string, body func()) {
	fmt.Fprintf(h, "%s {\n", header)
	body()
	h.WriteString("}\n\n")
}

func (h *hclWriter) attr(indent int, key, value string) {
	fmt.Fprintf(h, "%s%s = %s\n", strings.Repeat("  ", indent), key, value)
}

// q quotes s as an HCL string (no interpolation).
func q(s string) string {
	s = strconv.Quote(s)
	return strings.NewReplacer("${", "$${", "%{", "%%{").Replace(s)
}

func (h *hclWriter) tags(indent int, d Design, name string) {
	pad := strings.Repeat("  ", indent)
	fmt.Fprintf(h, "%stags = {\n%s  %q = %s\n%s  Name = %s\n%s}\n", pad, pad, TagKey, q(d.VPC), pad, q(name), pad)
}

func (d Design) terraform() string {
	var h hclWriter
	fmt.Fprintf(&h, "# rdsgate bastion for %s in %s (%s)\n\n", d.DB.Identifier, d.VPC, d.Region)
	h.block(`resource "aws_security_group" "bastion"`, func() {
		h.attr(1, "name", q(d.Name()))
		h.attr(1, "description", q("rdsgate Session Manager bastion: no ingress"))
		h.attr(1, "vpc_id", q(d.VPC))
		h.tags(1, d, d.Name())
	})
	if d.Endpoints {
		h.block(`resource "aws_security_group" "endpoints"`, func() {
			h.attr(1, "name", q(d.EndpointGroupName()))
			h.attr(1, "description", q("rdsgate bastion's Session Manager endpoints"))
			h.attr(1, "vpc_id", q(d.VPC))
			h.tags(1, d, d.EndpointGroupName())
		})
	}
	for _, r := range d.Egress() {
		h.block(`resource "aws_vpc_security_group_egress_rule" "bastion_`+r.stem()+`"`, func() {
			h.attr(1, "security_group_id", "aws_security_group.bastion.id")
			h.attr(1, "description", q(r.Why))
			h.attr(1, "ip_protocol", q("tcp"))
			h.attr(1, "from_port", strconv.Itoa(r.Port))
			h.attr(1, "to_port", strconv.Itoa(r.Port))
			switch r.Peer {
			case PeerDB:
				h.attr(1, "referenced_security_group_id", q(d.DB.SecurityGroup))
			case PeerEndpoints:
				h.attr(1, "referenced_security_group_id", "aws_security_group.endpoints.id")
			default:
				h.attr(1, "cidr_ipv4", q(string(r.Peer)))
			}
			h.tags(1, d, d.Name())
		})
	}
	ingress := func(name, group string, r Rule) {
		h.block(`resource "aws_vpc_security_group_ingress_rule" "`+name+`"`, func() {
			h.attr(1, "security_group_id", group)
			h.attr(1, "description", q(r.Why))
			h.attr(1, "ip_protocol", q("tcp"))
			h.attr(1, "from_port", strconv.Itoa(r.Port))
			h.attr(1, "to_port", strconv.Itoa(r.Port))
			h.attr(1, "referenced_security_group_id", "aws_security_group.bastion.id")
			h.tags(1, d, d.Name())
		})
	}
	if d.Endpoints {
		ingress("endpoints_https", "aws_security_group.endpoints.id", d.EndpointIngress())
	}
	ingress("database_from_bastion", q(d.DB.SecurityGroup), d.DBIngress())
	if d.Endpoints {
		for _, s := range EndpointServices {
			h.block(`resource "aws_vpc_endpoint" "`+s+`"`, func() {
				h.attr(1, "vpc_id", q(d.VPC))
				h.attr(1, "service_name", q(d.EndpointService(s)))
				h.attr(1, "vpc_endpoint_type", q("Interface"))
				h.attr(1, "subnet_ids", "["+q(d.Subnet)+"]")
				h.attr(1, "security_group_ids", "[aws_security_group.endpoints.id]")
				h.attr(1, "private_dns_enabled", "true")
				h.tags(1, d, d.Name()+"-"+s)
			})
		}
	}
	h.block(`resource "aws_iam_role" "bastion"`, func() {
		h.attr(1, "name", q(d.Name()))
		h.attr(1, "assume_role_policy", q(d.TrustPolicy()))
		fmt.Fprintf(&h, "  tags = {\n    %q = %s\n  }\n", TagKey, q(d.VPC))
	})
	h.block(`resource "aws_iam_role_policy_attachment" "bastion_ssm_core"`, func() {
		h.attr(1, "role", "aws_iam_role.bastion.name")
		h.attr(1, "policy_arn", q(SSMCorePolicyARN))
	})
	h.block(`resource "aws_iam_instance_profile" "bastion"`, func() {
		h.attr(1, "name", q(d.Name()))
		h.attr(1, "role", "aws_iam_role.bastion.name")
		fmt.Fprintf(&h, "  tags = {\n    %q = %s\n  }\n", TagKey, q(d.VPC))
	})
	h.block(`data "aws_ssm_parameter" "al2023"`, func() {
		h.attr(1, "name", q(d.ImageParameter()))
	})
	h.block(`resource "aws_instance" "bastion"`, func() {
		h.attr(1, "ami", "data.aws_ssm_parameter.al2023.value")
		h.attr(1, "instance_type", q(d.InstanceType))
		h.attr(1, "subnet_id", q(d.Subnet))
		h.attr(1, "vpc_security_group_ids", "[aws_security_group.bastion.id]")
		h.attr(1, "iam_instance_profile", "aws_iam_instance_profile.bastion.name")
		h.attr(1, "associate_public_ip_address", "false")
		h.WriteString("  metadata_options {\n    http_endpoint = \"enabled\"\n    http_tokens = \"required\"\n    http_put_response_hop_limit = 1\n  }\n")
		fmt.Fprintf(&h, "  root_block_device {\n    volume_type = \"gp3\"\n    volume_size = %d\n    encrypted = true\n  }\n", VolumeGiB)
		h.attr(1, "user_data", q(d.UserData()))
		if d.IdleStop > 0 {
			fmt.Fprintf(&h, "  tags = {\n    %q = %s\n    Name = %s\n    %q = %s\n  }\n", TagKey, q(d.VPC), q(d.Name()), IdleStopTagKey, q(d.IdleStop.String()))
		} else {
			h.tags(1, d, d.Name())
		}
		if d.Endpoints {
			deps := []string{}
			for _, s := range EndpointServices {
				deps = append(deps, "aws_vpc_endpoint."+s)
			}
			h.attr(1, "depends_on", "["+strings.Join(deps, ", ")+"]")
		}
	})
	return strings.TrimSuffix(h.String(), "\n")
}

type m = map[string]any

func ref(id string) m          { return m{"Ref": id} }
func getAtt(id, attr string) m { return m{"Fn::GetAtt": []string{id, attr}} }
func cfnTags(d Design, name string) []m {
	return []m{{"Key": TagKey, "Value": d.VPC}, {"Key": "Name", "Value": name}}
}

// CloudFormation logical ids, by what they are.
func cfnRuleID(prefix string, r Rule) string {
	return prefix + strings.ToUpper(r.stem()[:1]) + r.stem()[1:]
}

func (d Design) cloudFormation() m {
	res := m{}
	res["BastionSecurityGroup"] = m{"Type": "AWS::EC2::SecurityGroup", "Properties": m{
		"GroupName": d.Name(), "GroupDescription": "rdsgate Session Manager bastion: no ingress", "VpcId": d.VPC,
		// An explicit egress list replaces the default allow-all; the
		// rules themselves are resources below.
		"SecurityGroupEgress": []m{{"IpProtocol": "icmp", "FromPort": 252, "ToPort": 86, "CidrIp": "255.255.255.255/32", "Description": "no egress but the rules below"}},
		"Tags":                cfnTags(d, d.Name())}}
	if d.Endpoints {
		res["EndpointSecurityGroup"] = m{"Type": "AWS::EC2::SecurityGroup", "Properties": m{
			"GroupName": d.EndpointGroupName(), "GroupDescription": "rdsgate bastion's Session Manager endpoints", "VpcId": d.VPC,
			"Tags": cfnTags(d, d.EndpointGroupName())}}
	}
	for _, r := range d.Egress() {
		p := m{"GroupId": getAtt("BastionSecurityGroup", "GroupId"), "IpProtocol": "tcp", "FromPort": r.Port, "ToPort": r.Port, "Description": r.Why}
		switch r.Peer {
		case PeerDB:
			p["DestinationSecurityGroupId"] = d.DB.SecurityGroup
		case PeerEndpoints:
			p["DestinationSecurityGroupId"] = getAtt("EndpointSecurityGroup", "GroupId")
		default:
			p["CidrIp"] = string(r.Peer)
		}
		res[cfnRuleID("BastionEgress", r)] = m{"Type": "AWS::EC2::SecurityGroupEgress", "Properties": p}
	}
	ingress := func(group any, r Rule) m {
		return m{"Type": "AWS::EC2::SecurityGroupIngress", "Properties": m{"GroupId": group, "IpProtocol": "tcp",
			"FromPort": r.Port, "ToPort": r.Port, "SourceSecurityGroupId": getAtt("BastionSecurityGroup", "GroupId"), "Description": r.Why}}
	}
	if d.Endpoints {
		res["EndpointIngressHttps"] = ingress(getAtt("EndpointSecurityGroup", "GroupId"), d.EndpointIngress())
		for _, s := range EndpointServices {
			res["Endpoint"+strings.ToUpper(s[:1])+s[1:]] = m{"Type": "AWS::EC2::VPCEndpoint", "Properties": m{
				"VpcId": d.VPC, "ServiceName": d.EndpointService(s), "VpcEndpointType": "Interface", "SubnetIds": []string{d.Subnet},
				"SecurityGroupIds": []any{getAtt("EndpointSecurityGroup", "GroupId")}, "PrivateDnsEnabled": true}}
		}
	}
	res["DatabaseIngressFromBastion"] = ingress(d.DB.SecurityGroup, d.DBIngress())
	var trust any
	_ = yaml.Unmarshal([]byte(d.TrustPolicy()), &trust)
	res["BastionRole"] = m{"Type": "AWS::IAM::Role", "Properties": m{"RoleName": d.Name(), "AssumeRolePolicyDocument": trust,
		"ManagedPolicyArns": []string{SSMCorePolicyARN}, "Tags": []m{{"Key": TagKey, "Value": d.VPC}}}}
	res["BastionInstanceProfile"] = m{"Type": "AWS::IAM::InstanceProfile", "Properties": m{"InstanceProfileName": d.Name(), "Roles": []any{ref("BastionRole")}}}
	tags := cfnTags(d, d.Name())
	if d.IdleStop > 0 {
		tags = append(tags, m{"Key": IdleStopTagKey, "Value": d.IdleStop.String()})
	}
	inst := m{"Type": "AWS::EC2::Instance", "Properties": m{
		"ImageId": ref("ImageId"), "InstanceType": d.InstanceType, "IamInstanceProfile": ref("BastionInstanceProfile"),
		"NetworkInterfaces": []m{{"DeviceIndex": "0", "SubnetId": d.Subnet, "GroupSet": []any{getAtt("BastionSecurityGroup", "GroupId")},
			"AssociatePublicIpAddress": false, "DeleteOnTermination": true}},
		"MetadataOptions":     m{"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled"},
		"BlockDeviceMappings": []m{{"DeviceName": "/dev/xvda", "Ebs": m{"VolumeType": "gp3", "VolumeSize": VolumeGiB, "Encrypted": true, "DeleteOnTermination": true}}},
		"UserData":            m{"Fn::Base64": d.UserData()},
		"Tags":                tags}}
	if d.Endpoints {
		inst["DependsOn"] = []string{"EndpointSsm", "EndpointSsmmessages", "EndpointEc2messages"}
	}
	res["BastionInstance"] = inst
	return m{
		"AWSTemplateFormatVersion": "2010-09-09",
		"Description":              fmt.Sprintf("rdsgate bastion for %s in %s", d.DB.Identifier, d.VPC),
		"Parameters": m{"ImageId": m{"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", "Default": d.ImageParameter(),
			"Description": "Amazon Linux 2023, latest, from AWS's public parameter"}},
		"Resources": res,
	}
}
