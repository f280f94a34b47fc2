package awsapi

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/testpeer"
)

// cliEnv is an environment that isolates the AWS CLI and botocore from
// the machine's configuration: only the given keys, no config files, no
// instance metadata.
func cliEnv(t *testing.T, akid, secret string) []string {
	return []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + t.TempDir(),
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_DEFAULT_REGION=" + testRegion,
		"AWS_ACCESS_KEY_ID=" + akid,
		"AWS_SECRET_ACCESS_KEY=" + secret,
		"AWS_PAGER=",
		"AWS_CLI_AUTO_PROMPT=off",
		"AWS_RETRY_MODE=standard",
		"AWS_MAX_ATTEMPTS=1",
	}
}

// TestAWSCLI drives the stock AWS CLI v2 against the server.
func TestAWSCLI(t *testing.T) {
	aws := testpeer.AWSCLIv2(t)
	e := start(t)
	admin := principal(t, e.world, "admin")
	run := func(env []string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(aws, append([]string{"--endpoint-url", e.url, "--output", "json"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	env := cliEnv(t, admin.AccessKeyID, admin.SecretAccessKey)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sts", "get-caller-identity"}, `"Arn": "arn:aws:iam::111122223333:user/admin"`},
		{[]string{"rds", "describe-db-instances"}, `"DbiResourceId": "` + pgResourceID + `"`},
		{[]string{"rds", "describe-db-instances", "--db-instance-identifier", "demo-pg"}, `"Address": "demo-pg.c0sandbox.us-east-1.rds.amazonaws.com"`},
		{[]string{"ec2", "describe-instances", "--filters", "Name=tag:Name,Values=rdsgate-sandbox-bastion"}, `"InstanceId": "` + bastionID + `"`},
		{[]string{"ec2", "describe-security-groups", "--group-ids", "sg-0sandboxdb"}, `"FromPort": 5432`},
		{[]string{"ssm", "describe-instance-information"}, `"PingStatus": "Online"`},
		{[]string{"secretsmanager", "get-secret-value", "--secret-id", masterARN}, `s3cr3t-master`},
		{[]string{"iam", "simulate-principal-policy", "--policy-source-arn", admin.ARN, "--action-names", "rds-db:connect"}, `"EvalDecision": "allowed"`},
	} {
		out, err := run(env, tc.args...)
		if err != nil {
			t.Errorf("aws %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			continue
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("aws %s: output lacks %s:\n%s", strings.Join(tc.args, " "), tc.want, out)
		}
		if !json.Valid([]byte(out)) {
			t.Errorf("aws %s: output is not JSON:\n%s", strings.Join(tc.args, " "), out)
		}
	}

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"wrong secret", cliEnv(t, admin.AccessKeyID, "wrong"), []string{"sts", "get-caller-identity"}, "(SignatureDoesNotMatch)"},
		{"wrong secret rds", cliEnv(t, admin.AccessKeyID, "wrong"), []string{"rds", "describe-db-instances"}, "(SignatureDoesNotMatch)"},
		{"unknown key", cliEnv(t, "AKIAUNKNOWNKEY000000", "x"), []string{"sts", "get-caller-identity"}, "(InvalidClientTokenId)"},
		{"unknown key ssm", cliEnv(t, "AKIAUNKNOWNKEY000000", "x"), []string{"ssm", "describe-instance-information"}, "(UnrecognizedClientException)"},
		{"intern", cliEnv(t, principal(t, e.world, "intern").AccessKeyID, principal(t, e.world, "intern").SecretAccessKey),
			[]string{"rds", "describe-db-instances"}, "(AccessDenied)"},
	} {
		out, err := run(tc.env, tc.args...)
		if err == nil {
			t.Errorf("%s: aws %s succeeded:\n%s", tc.name, strings.Join(tc.args, " "), out)
			continue
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s: aws %s: output lacks %s:\n%s", tc.name, strings.Join(tc.args, " "), tc.want, out)
		}
	}
}

// botocoreScript makes JSON-protocol calls with Python's botocore and
// prints what it saw as JSON.
const botocoreScript = `
import json, sys, botocore.session
from botocore.exceptions import ClientError
url, akid, secret = sys.argv[1:4]
s = botocore.session.get_session()
def client(name, key=akid, sec=secret):
    return s.create_client(name, region_name="us-east-1", endpoint_url=url,
        aws_access_key_id=key, aws_secret_access_key=sec,
        config=botocore.config.Config(retries={"max_attempts": 1}))
out = {}
info = client("ssm").describe_instance_information()
out["ids"] = sorted(i["InstanceId"] for i in info["InstanceInformationList"])
sess = client("ssm").start_session(Target="i-0sandbox0000000001", DocumentName="AWS-StartPortForwardingSession",
    Parameters={"portNumber": ["5432"]})
out["session"] = sess["SessionId"]
out["secret"] = client("secretsmanager").get_secret_value(SecretId=sys.argv[4])["Name"]
try:
    client("ssm", sec="wrong").describe_instance_information()
except ClientError as e:
    out["wrong"] = e.response["Error"]["Code"]
print(json.dumps(out))
`

// TestBotocore runs one more independent JSON 1.1 client: Python botocore.
func TestBotocore(t *testing.T) {
	py := testpeer.LookPath(t, "install python3 with botocore (pip install botocore)", "python3")
	if err := exec.Command(py, "-c", "import botocore.session, botocore.config").Run(); err != nil {
		testpeer.Missing(t, "python3 botocore", "pip install botocore")
	}
	e := start(t)
	admin := principal(t, e.world, "admin")
	cmd := exec.Command(py, "-c", botocoreScript, e.url, admin.AccessKeyID, admin.SecretAccessKey, "rds!db-0a1b2c3d-master")
	env := cliEnv(t, "", "")
	env[0] = "PATH=" + pathOf(py)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("botocore: %v\n%s", err, out)
	}
	var got struct {
		IDs     []string `json:"ids"`
		Session string   `json:"session"`
		Secret  string   `json:"secret"`
		Wrong   string   `json:"wrong"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("botocore output: %v\n%s", err, out)
	}
	if len(got.IDs) != 2 || got.IDs[0] != bastionID || !strings.HasPrefix(got.Session, "admin-") ||
		got.Secret != "rds!db-0a1b2c3d-master" || got.Wrong != "InvalidSignatureException" {
		t.Errorf("botocore saw %+v", got)
	}
	if _, ok := e.srv.Session(got.Session); !ok {
		t.Errorf("session %s unknown to the server", got.Session)
	}
}

func pathOf(bin string) string {
	dir := bin[:strings.LastIndex(bin, "/")+1]
	return dir + ":/usr/bin:/bin"
}
