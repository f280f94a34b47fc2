package bastion

import (
	"cmp"

	"github.com/rdsgate/rdsgate/grant"
	"github.com/rdsgate/rdsgate/target"
)

// AdminScope narrows AdminPolicy; each empty field means any.
type AdminScope struct {
	// Account and Region are where the bastions are.
	Account, Region string
	// VPC limits the policy to that VPC's bastion: the tag's value, the
	// role's and profile's names and the VPC the groups go in.
	VPC string
	// DBSecurityGroups are the databases' security groups, which gain and
	// lose the rule that admits the bastion. EC2 has no condition on a
	// rule's peer, and these groups are not rdsgate's to tag: without
	// them, the policy may change the ingress of any group.
	DBSecurityGroups []string
}

// ScopeOf is the scope of the bastion of t's VPC, in account.
func ScopeOf(t target.Target, account string) AdminScope {
	return AdminScope{Account: account, Region: t.Region, VPC: t.VPC, DBSecurityGroups: t.SecurityGroups}
}

// AdminPolicy is the least IAM policy that runs Apply, Start, Stop,
// Destroy, FindOwned and Status (`rdsgate bastion create, start, stop,
// destroy, status`). Where AWS allows, it is scoped by the tag: a new
// resource must carry TagKey (aws:RequestTag), an existing one is changed
// only when it does (aws:ResourceTag), and ec2:CreateTags is allowed only
// on create, so no one can tag a resource to make it rdsgate's. IAM
// resources are scoped by the name rdsgate gives them; the role can be
// given AmazonSSMManagedInstanceCore and nothing else, and passed only to
// EC2, so the policy cannot lend an instance more than Session Manager.
// What AWS cannot scope (the Describe calls, the subnet and network
// interface of a launch) is on "*" or the resource type.
func AdminPolicy(s AdminScope) grant.Named {
	region, account := cmp.Or(s.Region, "*"), cmp.Or(s.Account, "*")
	part := grant.Partition(s.Region)
	ec2 := func(resource string) string { return "arn:" + part + ":ec2:" + region + ":" + account + ":" + resource }
	iam := func(resource string) string { return "arn:" + part + ":iam::" + account + ":" + resource }
	name := Design{VPC: cmp.Or(s.VPC, "*")}.Name()
	vpc := ec2("vpc/" + cmp.Or(s.VPC, "*"))
	tagged := func(key string) grant.Condition {
		if s.VPC != "" {
			return grant.Condition{Operator: "StringEquals", Key: key + "/" + TagKey, Values: []string{s.VPC}}
		}
		return grant.Condition{Operator: "StringLike", Key: key + "/" + TagKey, Values: []string{"vpc-*"}}
	}
	requestTag, resourceTag := tagged("aws:RequestTag"), tagged("aws:ResourceTag")
	dbGroups := []string{ec2("security-group/*")}
	if len(s.DBSecurityGroups) > 0 {
		dbGroups = nil
		for _, g := range s.DBSecurityGroups {
			dbGroups = append(dbGroups, ec2("security-group/"+g))
		}
	}
	stmts := []grant.Statement{
		{Sid: "ReadWhatExists", Effect: "Allow", Resource: []string{"*"}, Action: []string{
			// None of these takes a resource or a tag condition.
			"ec2:DescribeInstances", "ec2:DescribeRouteTables", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
			"ec2:DescribeVpcEndpoints", "ssm:DescribeInstanceInformation"}},
		{Sid: "ReadTheAmazonLinuxImage", Effect: "Allow", Action: []string{"ssm:GetParameter"},
			Resource: []string{"arn:" + part + ":ssm:" + region + "::parameter" + imageParameterPrefix + "*"}},
		{Sid: "CreateOnlyTagged", Effect: "Allow", Action: []string{"ec2:CreateSecurityGroup", "ec2:CreateVpcEndpoint", "ec2:RunInstances"},
			Resource: []string{ec2("security-group/*"), ec2("vpc-endpoint/*"), ec2("volume/*")}, Condition: []grant.Condition{requestTag}},
		{Sid: "LaunchOnlyTaggedWithIMDSv2", Effect: "Allow", Action: []string{"ec2:RunInstances"},
			Resource: []string{ec2("instance/*")}, Condition: []grant.Condition{requestTag,
				{Operator: "StringEquals", Key: "ec2:MetadataHttpTokens", Values: []string{"required"}}}},
		{Sid: "TagOnlyOnCreate", Effect: "Allow", Action: []string{"ec2:CreateTags"},
			Resource:  []string{ec2("security-group/*"), ec2("vpc-endpoint/*"), ec2("instance/*"), ec2("volume/*")},
			Condition: []grant.Condition{{Operator: "StringEquals", Key: "ec2:CreateAction", Values: []string{"CreateSecurityGroup", "CreateVpcEndpoint", "RunInstances"}, List: true}}},
		{Sid: "PlaceInTheVPC", Effect: "Allow", Action: []string{"ec2:CreateSecurityGroup", "ec2:CreateVpcEndpoint", "ec2:RunInstances"},
			Resource: []string{vpc, ec2("subnet/*"), ec2("network-interface/*")}},
		{Sid: "LaunchFromAmazonImages", Effect: "Allow", Action: []string{"ec2:RunInstances"},
			Resource:  []string{"arn:" + part + ":ec2:" + region + "::image/*"},
			Condition: []grant.Condition{{Operator: "StringEquals", Key: "ec2:Owner", Values: []string{"amazon"}}}},
		{Sid: "ChangeOnlyTagged", Effect: "Allow", Action: []string{
			"ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", "ec2:CreateVpcEndpoint", "ec2:DeleteSecurityGroup",
			"ec2:DeleteVpcEndpoints", "ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress", "ec2:RunInstances",
			"ec2:StartInstances", "ec2:StopInstances", "ec2:TerminateInstances"},
			Resource:  []string{ec2("security-group/*"), ec2("vpc-endpoint/*"), ec2("instance/*")},
			Condition: []grant.Condition{resourceTag}},
		{Sid: "AdmitTheBastionInTheDatabaseGroup", Effect: "Allow", Action: []string{"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"},
			Resource: dbGroups},
		{Sid: "ReadTheRole", Effect: "Allow", Action: []string{"iam:GetInstanceProfile", "iam:GetRole", "iam:ListAttachedRolePolicies"},
			Resource: []string{iam("role/" + name), iam("instance-profile/" + name)}},
		{Sid: "CreateTheRoleTagged", Effect: "Allow", Action: []string{"iam:CreateInstanceProfile", "iam:CreateRole", "iam:TagInstanceProfile", "iam:TagRole"},
			Resource: []string{iam("role/" + name), iam("instance-profile/" + name)}, Condition: []grant.Condition{requestTag}},
		{Sid: "ChangeTheTaggedRole", Effect: "Allow", Action: []string{"iam:AddRoleToInstanceProfile", "iam:DeleteInstanceProfile", "iam:DeleteRole",
			"iam:DetachRolePolicy", "iam:RemoveRoleFromInstanceProfile"},
			Resource: []string{iam("role/" + name), iam("instance-profile/" + name)}, Condition: []grant.Condition{resourceTag}},
		{Sid: "AttachOnlyTheSSMCorePolicy", Effect: "Allow", Action: []string{"iam:AttachRolePolicy"},
			Resource:  []string{iam("role/" + name)},
			Condition: []grant.Condition{{Operator: "ArnEquals", Key: "iam:PolicyARN", Values: []string{SSMCorePolicyARN}}}},
		// AddRoleToInstanceProfile asks for iam:PassRole too, naming no
		// service: hence IfExists. AWS warns that PassRole does not honour
		// tags reliably, so the name scopes it.
		{Sid: "PassTheRoleToEC2", Effect: "Allow", Action: []string{"iam:PassRole"},
			Resource:  []string{iam("role/" + name)},
			Condition: []grant.Condition{{Operator: "StringEqualsIfExists", Key: "iam:PassedToService", Values: []string{"ec2.amazonaws.com"}}}},
	}
	policyName := grant.PolicyName("bastion-admin")
	if s.VPC != "" {
		policyName = grant.PolicyName("bastion-admin", s.VPC)
	}
	return grant.Named{Name: policyName, Description: "rdsgate: create, start, stop and destroy the Session Manager bastion (resources tagged " + TagKey + ")",
		Doc: grant.Document{Version: grant.PolicyVersion, Statement: stmts}}
}
