package awsapi

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

type getSecretValueInput struct {
	SecretID     *string `json:"SecretId"`
	VersionID    *string `json:"VersionId"`
	VersionStage *string `json:"VersionStage"`
}

type getSecretValueOutput struct {
	ARN           string    `json:"ARN"`
	Name          string    `json:"Name"`
	VersionID     string    `json:"VersionId"`
	SecretString  string    `json:"SecretString"`
	VersionStages []string  `json:"VersionStages"`
	CreatedDate   epochTime `json:"CreatedDate"`
}

// currentStage is the staging label of a secret's current version.
const currentStage = "AWSCURRENT"

// getSecretValue answers Secrets Manager GetSecretValue for a secret named
// by ARN or name. Authorization (secretsmanager:GetSecretValue on the
// secret's ARN) comes before the existence check, as on AWS, so a caller
// without permission cannot probe which secrets exist.
func (s *Server) getSecretValue(c *call) (any, *apiError) {
	var in getSecretValueInput
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	if in.SecretID == nil {
		return nil, missingParam(c.svc, "SecretId")
	}
	id := *in.SecretID
	if e := lengthBetween(c.svc, "secretId", id, 1, 2048); e != nil {
		return nil, e
	}
	sec, found := s.world.Secret(id)
	resource := id
	switch {
	case found:
		resource = sec.ARN
	case !strings.HasPrefix(id, "arn:"):
		// AWS appends a random 6-character suffix to secret ARNs.
		resource = s.arn("secretsmanager", "secret:"+id+"-??????")
	}
	if e := s.authorize(c, "secretsmanager:GetSecretValue", resource, nil); e != nil {
		return nil, e
	}
	if !found {
		return nil, clientError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.").
			withReason("no secret %s", quoteShort(id))
	}
	version := secretVersion(sec.ARN)
	if in.VersionID != nil && *in.VersionID != version {
		return nil, clientError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", shorten(*in.VersionID))
	}
	if in.VersionStage != nil && *in.VersionStage != currentStage {
		return nil, clientError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", shorten(*in.VersionStage))
	}
	return getSecretValueOutput{
		ARN:           sec.ARN,
		Name:          sec.Name,
		VersionID:     version,
		SecretString:  sec.SecretString,
		VersionStages: []string{currentStage},
		CreatedDate:   epochTime(s.epoch()),
	}, nil
}

// secretVersion is a stable UUID-shaped version id for a secret.
func secretVersion(arn string) string {
	sum := sha256.Sum256([]byte("version:" + arn))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
