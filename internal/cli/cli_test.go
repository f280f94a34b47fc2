package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/docs"
	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/internal/buildinfo"
	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/sandbox"
)

// run executes rdsgate in-process and returns its exit code and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// isolateAWS clears the developer's AWS setup and points at files in a temp
// dir; it also moves to a directory with no project config above it.
func isolateAWS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "RDSGATE_CONFIG",
		"RDSGATE_OUTPUT", "RDSGATE_REGION", "RDSGATE_PROFILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("HOME", dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "aws-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Chdir(dir)
	return dir
}

// useMoto points the SDK at a fresh moto_server and returns an RDS client.
func useMoto(t *testing.T) (*testharness.Moto, *rds.Client) {
	t.Helper()
	m := testharness.StartMoto(t)
	t.Setenv("AWS_ENDPOINT_URL", m.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", m.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.SecretAccessKey)
	t.Setenv("AWS_REGION", m.Region)
	client := rds.New(rds.Options{
		Region:       m.Region,
		BaseEndpoint: aws.String(m.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(m.AccessKeyID, m.SecretAccessKey, ""),
	})
	return m, client
}

func TestLsListsInstancesAndClustersFromMoto(t *testing.T) {
	isolateAWS(t)
	m, api := useMoto(t)
	ctx := context.Background()
	mustInstance(t, api, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String("orders-pg"), Engine: aws.String("postgres"),
		DBInstanceClass: aws.String("db.t3.micro"), AllocatedStorage: aws.Int32(20),
		MasterUsername: aws.String("dbadmin"), MasterUserPassword: aws.String("pw-not-used-1"),
		EnableIAMDatabaseAuthentication: aws.Bool(true),
	})
	mustInstance(t, api, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String("legacy-mysql"), Engine: aws.String("mysql"),
		DBInstanceClass: aws.String("db.t3.micro"), AllocatedStorage: aws.Int32(20), Port: aws.Int32(3307),
		MasterUsername: aws.String("dbadmin"), MasterUserPassword: aws.String("pw-not-used-1"),
		PubliclyAccessible: aws.Bool(true),
	})
	if _, err := api.CreateDBCluster(ctx, &rds.CreateDBClusterInput{
		DBClusterIdentifier: aws.String("billing"), Engine: aws.String("aurora-postgresql"),
		MasterUsername: aws.String("dbadmin"), MasterUserPassword: aws.String("pw-not-used-1"),
		EnableIAMDatabaseAuthentication: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := run(t, "ls", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("ls -o json is not a JSON array: %v\n%s", err, out)
	}
	byID := map[string]map[string]any{}
	for _, o := range got {
		for _, k := range []string{"identifier", "kind", "engine", "endpoint", "port", "resource_id", "iam_auth", "public", "region"} {
			if _, ok := o[k]; !ok {
				t.Errorf("%v lacks %q", o["identifier"], k)
			}
		}
		byID[o["identifier"].(string)] = o
	}
	if len(byID) != 3 {
		t.Fatalf("want 3 databases, got %d: %s", len(byID), out)
	}
	pg := byID["orders-pg"]
	if pg["kind"] != "instance" || pg["engine"] != "postgres" || pg["port"] != 5432.0 || pg["iam_auth"] != true || pg["public"] != false ||
		!strings.HasPrefix(pg["endpoint"].(string), "orders-pg.") || !strings.HasPrefix(pg["resource_id"].(string), "db-") || pg["region"] != m.Region {
		t.Errorf("orders-pg = %v", pg)
	}
	my := byID["legacy-mysql"]
	if my["port"] != 3307.0 || my["iam_auth"] != false || my["public"] != true {
		t.Errorf("legacy-mysql = %v", my)
	}
	cl := byID["billing"]
	if cl["kind"] != "cluster" || cl["iam_auth"] != true || !strings.HasPrefix(cl["resource_id"].(string), "cluster-") ||
		!strings.Contains(cl["endpoint"].(string), ".cluster-") || !strings.Contains(cl["reader_endpoint"].(string), ".cluster-ro-") {
		t.Errorf("billing = %v", cl)
	}

	code, out, _ = run(t, "ls")
	if code != 0 {
		t.Fatalf("ls exit %d", code)
	}
	for _, want := range []string{"IAM AUTH", "orders-pg", "(reader)"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "legacy-mysql") && !(strings.Contains(line, " NO ") && strings.Contains(line, " YES ")) {
			t.Errorf("IAM auth off and public access must stand out: %q", line)
		}
	}
}

func TestTokenForTargetVerifies(t *testing.T) {
	isolateAWS(t)
	m, api := useMoto(t)
	mustInstance(t, api, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String("orders-pg"), Engine: aws.String("postgres"),
		DBInstanceClass: aws.String("db.t3.micro"), AllocatedStorage: aws.Int32(20),
		MasterUsername: aws.String("dbadmin"), MasterUserPassword: aws.String("pw-not-used-1"),
		EnableIAMDatabaseAuthentication: aws.Bool(true),
	})
	out, err := api.DescribeDBInstances(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("orders-pg")})
	if err != nil {
		t.Fatal(err)
	}
	host := aws.ToString(out.DBInstances[0].Endpoint.Address)
	lookup := func(id string) (iamauth.Secret, bool) {
		return iamauth.Secret{SecretAccessKey: m.SecretAccessKey}, id == m.AccessKeyID
	}

	tests := []struct {
		desc string
		args []string
		want iamauth.Expect
	}{
		{"by instance id", []string{"token", "--target", "orders-pg", "--user", "jane"}, iamauth.Expect{Host: host, Port: 5432, Region: m.Region, User: "jane"}},
		{"by endpoint", []string{"token", "--target", host, "--user", "Jane"}, iamauth.Expect{Host: host, Port: 5432, Region: m.Region, User: "Jane"}},
		{"by flags, mixed case host", []string{"token", "--host", "MyDB.Abc.us-east-1.rds.amazonaws.com", "--port", "3306", "--user", "iam user"},
			iamauth.Expect{Host: "mydb.abc.us-east-1.rds.amazonaws.com", Port: 3306, Region: m.Region, User: "iam user"}},
		{"host:port in --host", []string{"token", "--host", "db.x.us-east-1.rds.amazonaws.com:6543", "--user", "u"},
			iamauth.Expect{Host: "db.x.us-east-1.rds.amazonaws.com", Port: 6543, Region: m.Region, User: "u"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			tok := strings.TrimSpace(stdout)
			if _, err := iamauth.Verify(tok, tc.want, lookup, time.Now()); err != nil {
				t.Errorf("token does not verify for %+v: %v", tc.want, err)
			}
		})
	}
}

func TestTokenWarnsWhenIAMAuthIsOff(t *testing.T) {
	isolateAWS(t)
	_, api := useMoto(t)
	mustInstance(t, api, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String("no-iam"), Engine: aws.String("mysql"),
		DBInstanceClass: aws.String("db.t3.micro"), AllocatedStorage: aws.Int32(20),
		MasterUsername: aws.String("dbadmin"), MasterUserPassword: aws.String("pw-not-used-1"),
	})
	code, _, stderr := run(t, "token", "--target", "no-iam", "--user", "u")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "IAM database authentication is disabled") || !strings.Contains(stderr, "--enable-iam-database-authentication") {
		t.Errorf("want a warning with the fix, got %q", stderr)
	}
	code, _, stderr = run(t, "token", "--target", "absent", "--user", "u")
	if code != 1 || !strings.Contains(stderr, `no DB instance or cluster "absent"`) || !strings.Contains(stderr, "rdsgate ls") {
		t.Errorf("unknown target: exit %d, %q", code, stderr)
	}
}

func TestFailuresAreOneLineWithExitCodes(t *testing.T) {
	dir := isolateAWS(t)
	t.Setenv("AWS_REGION", "us-east-1")
	if err := os.WriteFile(filepath.Join(dir, ".rdsgate.yaml"), []byte("targets:\n  a:\n    identifier: a\n    hostname: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc string
		args []string
		code int
		want string
	}{
		{"no credentials", []string{"token", "--host", "h.example", "--port", "5432", "--user", "u"}, 1, "no AWS credentials found: run `aws configure`"},
		{"config error names file and line", []string{"token", "--target", "a", "--user", "u"}, 1, `.rdsgate.yaml:4:5: unknown key "hostname" in target "a"`},
		{"token without endpoint", []string{"token", "--user", "u"}, 2, "pass --host and --port, or --target"},
		{"unknown flag", []string{"ls", "--bogus"}, 2, "unknown flag: --bogus"},
		{"bad output", []string{"ls", "-o", "yaml"}, 2, `--output "yaml": use text or json`},
		{"extra argument", []string{"version", "x"}, 2, "unknown command"},
		// The library says what is wrong; the command line adds the flag.
		// (Refused before anything binds: tests bind loopback only.)
		{"quit on a non-loopback health address", []string{"proxy", "a=0", "--http-address", "0.0.0.0:0", "--quitquitquit"}, 2,
			"--http-address 0.0.0.0:0 with --quitquitquit: anyone who reaches it could stop the proxy; keep it on 127.0.0.1 (a pod's containers share it), or pass --allow-non-loopback"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (%s)", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want %q", stderr, tc.want)
			}
			first := strings.SplitN(stderr, "\n", 2)[0]
			if !strings.HasPrefix(first, "rdsgate: ") {
				t.Errorf("first line %q is not the error", first)
			}
		})
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	isolateAWS(t)
	t.Setenv("RDSGATE_OUTPUT", "json")
	code, out, _ := run(t, "version")
	var b buildinfo.Info
	if code != 0 || json.Unmarshal([]byte(out), &b) != nil || b.GoVersion == "" {
		t.Errorf("RDSGATE_OUTPUT=json: exit %d, %q", code, out)
	}
	code, out, _ = run(t, "version", "-o", "text")
	if code != 0 || !strings.HasPrefix(out, "rdsgate ") {
		t.Errorf("a flag must win over the environment: %q", out)
	}
	t.Setenv("RDSGATE_OUTPUT", "xml")
	if code, _, stderr := run(t, "version"); code != 2 || !strings.Contains(stderr, `"xml"`) {
		t.Errorf("bad env value: exit %d %q", code, stderr)
	}
}

func TestEveryCommandHasAnExample(t *testing.T) {
	a := &app{getenv: os.Getenv, getwd: os.Getwd}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		if c.Runnable() && strings.TrimSpace(c.Example) == "" && c.Parent() != nil && c.Parent().Name() != "completion" {
			t.Errorf("%q has no example in --help", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(a.newRoot())
}

// TestEveryCommandHasAPage: docs/commands has a page for every command,
// and no page for a command that is gone.
func TestEveryCommandHasAPage(t *testing.T) {
	a := &app{getenv: os.Getenv, getwd: os.Getwd}
	pages := map[string]bool{}
	for _, p := range docs.Commands() {
		pages[p] = true
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Parent() != nil && c.Parent().Name() == "completion" {
			return
		}
		if !pages[c.CommandPath()] {
			t.Errorf("%q has no page in docs/commands", c.CommandPath())
		}
		delete(pages, c.CommandPath())
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(a.newRoot())
	for p := range pages {
		t.Errorf("docs/commands has a page for %q, which is no command", p)
	}
	page, _ := docs.Command("rdsgate sandbox")
	for _, f := range sandbox.AllFaults {
		if !strings.Contains(page.Long, f) {
			t.Errorf("rdsgate sandbox --help does not list the fault %s", f)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, stderr := run(t, "completion", sh)
		if code != 0 || !strings.Contains(out, "rdsgate") {
			t.Errorf("completion %s: exit %d %q", sh, code, stderr)
		}
	}
}

func mustInstance(t *testing.T, api *rds.Client, in *rds.CreateDBInstanceInput) {
	t.Helper()
	if _, err := api.CreateDBInstance(context.Background(), in); err != nil {
		t.Fatalf("create %s in moto: %v", aws.ToString(in.DBInstanceIdentifier), err)
	}
}
