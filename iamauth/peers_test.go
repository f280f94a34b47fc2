package iamauth

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/testpeer"
)

// isolatedAWSEnv is an environment in which the AWS CLI and botocore see only
// the given static credentials: no config files, no IMDS, UTC.
func isolatedAWSEnv(t testing.TB, akid, secret, session string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"TZ=UTC",
		"LC_ALL=C.UTF-8",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ACCESS_KEY_ID=" + akid,
		"AWS_SECRET_ACCESS_KEY=" + secret,
	}
	if session != "" {
		env = append(env, "AWS_SESSION_TOKEN="+session)
	}
	return env
}

// botocoreReq is one token request for the botocore script.
type botocoreReq struct {
	Time    string `json:"time"` // RFC 3339, UTC
	Region  string `json:"region"`
	AKID    string `json:"akid"`
	Secret  string `json:"secret"`
	Session string `json:"session,omitempty"`
	Host    string `json:"host"`
	Port    int    `json:"port"`
	User    string `json:"user"`
}

// botocoreScript pins botocore's clock and prints one token per request.
// botocore 1.43 reads the time through botocore.compat.get_current_datetime,
// imported by name into botocore.auth, so replacing botocore.auth's binding
// pins every SigV4 signer; awscrt is not installed, so no CRT signer reads
// the clock on its own. The script refuses to run if that binding is gone,
// rather than silently signing "now".
const botocoreScript = `
import datetime, json, sys
import botocore, botocore.auth, botocore.session
if not hasattr(botocore.auth, "get_current_datetime"):
    sys.exit("botocore %s: botocore.auth.get_current_datetime is gone; update the clock pinning" % botocore.__version__)
out = []
for req in json.load(sys.stdin):
    fixed = datetime.datetime.strptime(req["time"], "%Y-%m-%dT%H:%M:%SZ")
    def now(remove_tzinfo=True, fixed=fixed):
        return fixed if remove_tzinfo else fixed.replace(tzinfo=datetime.timezone.utc)
    botocore.auth.get_current_datetime = now
    client = botocore.session.Session().create_client(
        "rds", region_name=req["region"], aws_access_key_id=req["akid"],
        aws_secret_access_key=req["secret"], aws_session_token=req.get("session") or None)
    out.append(client.generate_db_auth_token(req["host"], req["port"], req["user"], Region=req["region"]))
json.dump(out, sys.stdout)
`

// botocoreTokens runs the requests through botocore in one python3 process.
func botocoreTokens(t *testing.T, reqs []botocoreReq) []string {
	t.Helper()
	py := testpeer.LookPath(t, "install python3 with botocore (pip install botocore)", "python3")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, py, "-c", "import botocore").Run(); err != nil {
		testpeer.Missing(t, "botocore", "pip install botocore (python3 -c 'import botocore' failed: "+err.Error()+")")
	}
	in, err := json.Marshal(reqs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, py, "-c", botocoreScript)
	cmd.Env = isolatedAWSEnv(t, "AKIDNOTUSED", "not-used", "")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("botocore script: %v\n%s", err, stderr.String())
	}
	var toks []string
	if err := json.Unmarshal(out, &toks); err != nil || len(toks) != len(reqs) {
		t.Fatalf("botocore script printed %q (err %v)", out, err)
	}
	return toks
}

// cliToken runs /usr/bin/aws rds generate-db-auth-token in an isolated
// environment, under faketime (clock frozen at at) unless at is zero.
func cliToken(t *testing.T, at time.Time, akid, secret, session, host string, port int, user, region string) string {
	t.Helper()
	aws := testpeer.AWSCLIv2(t)
	args := []string{aws, "rds", "generate-db-auth-token",
		"--hostname", host, "--port", strconv.Itoa(port), "--username", user, "--region", region}
	if !at.IsZero() {
		ft := testpeer.LookPath(t, "apt-get install faketime", "/usr/bin/faketime", "faketime")
		// "-f" passes the timestamp to libfaketime as is, and an absolute
		// timestamp without "@" freezes the clock there. Without -f the
		// faketime wrapper makes it a start time and the clock runs on (a
		// 0.7 s CLI run then often signs a second later).
		args = append([]string{ft, "-f", at.UTC().Format("2006-01-02 15:04:05")}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = isolatedAWSEnv(t, akid, secret, session)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}
