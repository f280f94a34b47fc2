package bastion

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/rdsgate/rdsgate/grant"
	"github.com/rdsgate/rdsgate/sandbox"
	"github.com/rdsgate/rdsgate/sandbox/world"
	"github.com/rdsgate/rdsgate/target"
)

// TestAdminPolicy runs create, stop, start and destroy in a sandbox as a
// principal holding exactly AdminPolicy, and as principals each lacking
// one of its statements: the whole policy is enough, and every statement
// is needed (the first call that fails names the action it allows).
func TestAdminPolicy(t *testing.T) {
	defer func(p, r time.Duration) { PollInterval, RunningTimeout = p, r }(PollInterval, RunningTimeout)
	PollInterval, RunningTimeout = 50*time.Millisecond, 30*time.Second
	full := AdminPolicy(AdminScope{})
	without := func(sid string) grant.Named {
		n := full
		n.Doc.Statement = slices.DeleteFunc(slices.Clone(full.Doc.Statement), func(s grant.Statement) bool { return s.Sid == sid })
		if len(n.Doc.Statement) == len(full.Doc.Statement) {
			t.Fatalf("no statement %s", sid)
		}
		return n
	}
	tests := []struct {
		desc   string
		policy func(sandboxDB) grant.Named
		// failed is the action the first refused call names ("": none).
		failed string
	}{
		{"the whole policy", func(sandboxDB) grant.Named { return full }, ""},
		{"scoped to the VPC and the database's group", func(db sandboxDB) grant.Named {
			return AdminPolicy(AdminScope{Account: world.DefaultAccount, Region: db.region, VPC: db.vpc, DBSecurityGroups: db.groups})
		}, ""},
		{"scoped to another VPC", func(db sandboxDB) grant.Named {
			return AdminPolicy(AdminScope{Account: world.DefaultAccount, Region: db.region, VPC: "vpc-0other", DBSecurityGroups: db.groups})
		}, "iam:GetRole"},
		{"without ReadWhatExists", func(sandboxDB) grant.Named { return without("ReadWhatExists") }, "ec2:DescribeSubnets"},
		{"without ReadTheAmazonLinuxImage", func(sandboxDB) grant.Named { return without("ReadTheAmazonLinuxImage") }, "ssm:GetParameter"},
		{"without CreateOnlyTagged", func(sandboxDB) grant.Named { return without("CreateOnlyTagged") }, "ec2:CreateSecurityGroup"},
		{"without LaunchOnlyTaggedWithIMDSv2", func(sandboxDB) grant.Named { return without("LaunchOnlyTaggedWithIMDSv2") }, "ec2:RunInstances"},
		{"without TagOnlyOnCreate", func(sandboxDB) grant.Named { return without("TagOnlyOnCreate") }, "ec2:CreateTags"},
		{"without PlaceInTheVPC", func(sandboxDB) grant.Named { return without("PlaceInTheVPC") }, "ec2:CreateSecurityGroup"},
		{"without LaunchFromAmazonImages", func(sandboxDB) grant.Named { return without("LaunchFromAmazonImages") }, "ec2:RunInstances"},
		{"without ChangeOnlyTagged", func(sandboxDB) grant.Named { return without("ChangeOnlyTagged") }, "ec2:RevokeSecurityGroupEgress"},
		{"without AdmitTheBastionInTheDatabaseGroup", func(sandboxDB) grant.Named { return without("AdmitTheBastionInTheDatabaseGroup") }, "ec2:AuthorizeSecurityGroupIngress"},
		{"without ReadTheRole", func(sandboxDB) grant.Named { return without("ReadTheRole") }, "iam:GetRole"},
		{"without CreateTheRoleTagged", func(sandboxDB) grant.Named { return without("CreateTheRoleTagged") }, "iam:CreateRole"},
		{"without ChangeTheTaggedRole", func(sandboxDB) grant.Named { return without("ChangeTheTaggedRole") }, "iam:AddRoleToInstanceProfile"},
		{"without AttachOnlyTheSSMCorePolicy", func(sandboxDB) grant.Named { return without("AttachOnlyTheSSMCorePolicy") }, "iam:AttachRolePolicy"},
		{"without PassTheRoleToEC2", func(sandboxDB) grant.Named { return without("PassTheRoleToEC2") }, "iam:PassRole"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			// The policy is the principal's before the sandbox starts:
			// what it names of the sandbox is checked after.
			db := sandboxDB{region: "us-east-1", vpc: sandbox.VPCID, groups: []string{"sg-0sandbox00000db0001"}}
			sb, cfgOf := startSandbox(t, tc.policy(db))
			inst, _ := sb.Instance(sandbox.InstancePG)
			if inst.VPC != db.vpc || !slices.Equal(inst.SecurityGroups, db.groups) {
				t.Fatalf("the sandbox's database is in %s %v, not %s %v", inst.VPC, inst.SecurityGroups, db.vpc, db.groups)
			}
			err := lifecycle(t.Context(), NewClients(cfgOf(adminProfile)), target.Target{Identifier: inst.Identifier, Region: db.region, Port: inst.Port,
				VPC: inst.VPC, Subnets: inst.Subnets, SecurityGroups: inst.SecurityGroups})
			switch {
			case tc.failed == "" && err != nil:
				t.Fatalf("with the whole policy: %v", err)
			case tc.failed != "":
				refused(t, err, tc.failed)
			}
			if tc.failed == "" {
				o, err := FindOwned(t.Context(), NewClients(cfgOf(sandbox.ProfileAdmin)), inst.VPC)
				if err != nil || !o.Empty() {
					t.Errorf("after destroy: %+v, %v", o, err)
				}
				refusesTheRest(t, NewClients(cfgOf(adminProfile)), inst.VPC, inst.SecurityGroups[0])
			}
		})
	}
}

// refusesTheRest checks that the policy holds no more than the bastion:
// it may not claim a resource by tagging it, delete what lacks the tag,
// or give the role another policy.
func refusesTheRest(t *testing.T, c Clients, vpc, dbGroup string) {
	ctx := t.Context()
	tags := []ec2types.Tag{{Key: aws.String(TagKey), Value: aws.String(vpc)}}
	_, err := c.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{dbGroup}, Tags: tags})
	refused(t, err, "ec2:CreateTags")
	_, err = c.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(dbGroup)})
	refused(t, err, "ec2:DeleteSecurityGroup")
	name := Design{VPC: vpc}.Name()
	_, err = c.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(Design{}.TrustPolicy()),
		Tags: []iamtypes.Tag{{Key: aws.String(TagKey), Value: aws.String(vpc)}}})
	if err != nil {
		t.Fatalf("create the role: %v", err)
	}
	_, err = c.IAM.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String("arn:aws:iam::aws:policy/AdministratorAccess")})
	refused(t, err, "iam:AttachRolePolicy")
	_, err = c.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name + "-untagged"), AssumeRolePolicyDocument: aws.String(Design{}.TrustPolicy())})
	refused(t, err, "iam:CreateRole")
}

func refused(t *testing.T, err error, action string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "not authorized to perform: "+action+" ") {
		t.Errorf("got %v, want a refused %s", err, action)
	}
}

// sandboxDB is what a scoped policy names of the sandbox's database.
type sandboxDB struct {
	region, vpc string
	groups      []string
}

const adminProfile = "bastion-admin"

// startSandbox starts a sandbox without a bastion and with a principal
// adminProfile holding policy, and returns a loader of its profiles.
func startSandbox(t *testing.T, policy grant.Named) (*sandbox.Sandbox, func(string) aws.Config) {
	t.Helper()
	ctx := t.Context()
	sb, err := sandbox.Start(ctx, sandbox.Options{Dir: t.TempDir(), NoBastion: true, Backend: sandbox.BackendEmbedded, Engines: []string{"postgres"},
		Principals: []sandbox.PrincipalSpec{{Profile: adminProfile, Policy: policy.Doc.JSON()}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb, func(profile string) aws.Config {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithSharedConfigFiles([]string{filepath.Join(sb.Dir, "aws-config")}),
			config.WithSharedCredentialsFiles([]string{filepath.Join(sb.Dir, "aws-credentials")}), config.WithSharedConfigProfile(profile))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
}

// lifecycle is `bastion create`, `stop`, `start` and `destroy`.
func lifecycle(ctx context.Context, c Clients, t target.Target) error {
	d, err := NewDesign(ctx, c, t, Spec{})
	if err != nil {
		return err
	}
	s, err := Observe(ctx, c, d)
	if err != nil {
		return err
	}
	if _, err := Apply(ctx, c, NewPlan(d, s), nil); err != nil {
		return err
	}
	if _, err := Stop(ctx, c, d.VPC, nil); err != nil {
		return err
	}
	if _, err := Start(ctx, c, d.VPC, nil); err != nil {
		return err
	}
	o, err := FindOwned(ctx, c, d.VPC)
	if err != nil {
		return err
	}
	return Destroy(ctx, c, o, nil)
}

// The policy renders in every format grant renders, with the tag
// condition and the one policy the role may get in each.
func TestAdminPolicyRenders(t *testing.T) {
	n := AdminPolicy(AdminScope{Account: "111122223333", Region: "eu-west-1", VPC: "vpc-0abc"})
	for _, format := range grant.Formats {
		t.Run(format, func(t *testing.T) {
			out, err := n.Render(format)
			if err != nil {
				t.Fatal(err)
			}
			wants := []string{"aws:ResourceTag/rdsgate:bastion", "vpc-0abc", SSMCorePolicyARN,
				"arn:aws:iam::111122223333:role/rdsgate-bastion-vpc-0abc", "arn:aws:ssm:eu-west-1::parameter/aws/service/ami-amazon-linux-latest/"}
			if format != grant.FormatJSON { // a bare document has no name
				wants = append(wants, "rdsgate-bastion-admin-vpc-0abc")
			}
			for _, want := range wants {
				if !strings.Contains(out, want) {
					t.Errorf("no %q in\n%s", want, out)
				}
			}
		})
	}
}
