package awsapi

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
)

func TestSimulatePrincipalPolicy(t *testing.T) {
	e := start(t)
	client := iam.NewFromConfig(e.cfg(t, "admin"))
	type res struct{ action, resource, decision, policy string }
	run := func(in *iam.SimulatePrincipalPolicyInput) []res {
		t.Helper()
		out, err := client.SimulatePrincipalPolicy(ctx(t), in)
		if err != nil {
			t.Fatalf("SimulatePrincipalPolicy: %v", err)
		}
		var got []res
		for _, r := range out.EvaluationResults {
			x := res{aws.ToString(r.EvalActionName), aws.ToString(r.EvalResourceName), string(r.EvalDecision), ""}
			if len(r.MatchedStatements) > 0 {
				x.policy = aws.ToString(r.MatchedStatements[0].SourcePolicyId) + "/" + string(r.MatchedStatements[0].SourcePolicyType)
			}
			got = append(got, x)
		}
		return got
	}
	got := run(&iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String("arn:aws:iam::111122223333:user/admin"),
		ActionNames:     []string{"rds-db:connect", "secretsmanager:DeleteSecret"},
	})
	want := []res{
		{"rds-db:connect", "*", "allowed", "admin-policy-1/user"},
		{"secretsmanager:DeleteSecret", "*", "explicitDeny", "admin-policy-1/user"},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("admin: %+v, want %+v", got, want)
	}

	// The developer: conditions use the context entries; an input policy
	// adds a permission.
	devARN := "arn:aws:iam::111122223333:user/dev"
	inst := "arn:aws:ec2:us-east-1:111122223333:instance/" + bastionID
	got = run(&iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(devARN),
		ActionNames:     []string{"ec2-instance-connect:SendSSHPublicKey", "rds-db:connect"},
		ResourceArns:    []string{inst},
		ContextEntries: []types.ContextEntry{{ContextKeyName: aws.String("ec2:osuser"), ContextKeyValues: []string{"ec2-user"},
			ContextKeyType: types.ContextKeyTypeEnumString}},
		PolicyInputList: []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds-db:connect","Resource":"*"}]}`},
	})
	want = []res{
		{"ec2-instance-connect:SendSSHPublicKey", inst, "allowed", "dev-policy-1/user"},
		{"rds-db:connect", inst, "allowed", "PolicyInputList.1/none"},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("dev: %+v, want %+v", got, want)
	}
	got = run(&iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(devARN),
		ActionNames:     []string{"ec2-instance-connect:SendSSHPublicKey"},
		ResourceArns:    []string{inst},
		ContextEntries: []types.ContextEntry{{ContextKeyName: aws.String("ec2:osuser"), ContextKeyValues: []string{"root"},
			ContextKeyType: types.ContextKeyTypeEnumString}},
	})
	if len(got) != 1 || got[0].decision != "implicitDeny" || got[0].policy != "" {
		t.Errorf("dev as root: %+v", got)
	}

	_, err := client.SimulatePrincipalPolicy(ctx(t), &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String("arn:aws:iam::111122223333:user/ghost"), ActionNames: []string{"s3:GetObject"}})
	wantCode(t, err, "NoSuchEntity", "The user with name ghost cannot be found.")
	_, err = client.SimulatePrincipalPolicy(ctx(t), &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String("arn:aws:iam::111122223333:user/admin"), ActionNames: []string{"s3:GetObject"},
		PolicyInputList: []string{`{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}`}})
	wantCode(t, err, "MalformedPolicyDocument")
	_, err = iam.NewFromConfig(e.cfg(t, "intern")).SimulatePrincipalPolicy(ctx(t), &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String("arn:aws:iam::111122223333:user/intern"), ActionNames: []string{"rds-db:connect"}})
	wantCode(t, err, "AccessDenied",
		"User: arn:aws:iam::111122223333:user/intern is not authorized to perform: iam:SimulatePrincipalPolicy on resource: arn:aws:iam::111122223333:user/intern")
}
