package awsapi

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

func TestGetSecretValue(t *testing.T) {
	e := start(t)
	client := secretsmanager.NewFromConfig(e.cfg(t, "admin"))
	for _, id := range []string{masterARN, "rds!db-0a1b2c3d-master"} {
		out, err := client.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetSecretValue(%s): %v", id, err)
		}
		if aws.ToString(out.ARN) != masterARN || aws.ToString(out.Name) != "rds!db-0a1b2c3d-master" ||
			aws.ToString(out.SecretString) != `{"username":"postgres","password":"s3cr3t-master"}` ||
			len(out.VersionStages) != 1 || out.VersionStages[0] != "AWSCURRENT" || out.CreatedDate == nil || aws.ToString(out.VersionId) == "" {
			t.Errorf("GetSecretValue(%s) = %+v", id, out)
		}
	}
	_, err := client.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")})
	wantCode(t, err, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	var rnf *types.ResourceNotFoundException
	if !errorsAs(err, &rnf) {
		t.Errorf("not a ResourceNotFoundException: %T", err)
	}
	_, err = client.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String(masterARN), VersionStage: aws.String("AWSPREVIOUS")})
	wantCode(t, err, "ResourceNotFoundException", "staging label")
	_, err = secretsmanager.NewFromConfig(e.cfg(t, "intern")).GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String(masterARN)})
	wantCode(t, err, "AccessDeniedException", "secretsmanager:GetSecretValue on resource: "+masterARN)
	if got := e.log.String(); contains(got, "s3cr3t-master") {
		t.Error("the log holds the secret value")
	}
}
