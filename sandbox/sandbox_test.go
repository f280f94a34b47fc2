package sandbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/world"
	"github.com/rdsgate/rdsgate/target"
)

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func requireBackends(t *testing.T, engines ...string) {
	t.Helper()
	for _, e := range engines {
		if e == "postgres" && !dbserver.PostgresAvailable() {
			testpeer.Missing(t, "postgresql", "apt-get install postgresql")
		}
		if e == "mysql" && !dbserver.MariaDBAvailable() {
			testpeer.Missing(t, "mariadb-server", "apt-get install mariadb-server")
		}
	}
}

func start(t *testing.T, engines []string, faults ...string) (*Sandbox, *logBuffer) {
	t.Helper()
	requireBackends(t, engines...)
	logs := &logBuffer{}
	sb, err := Start(context.Background(), Options{Dir: t.TempDir(), Engines: engines, Faults: faults,
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sb.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return sb, logs
}

// login logs in to inst as user with a token signed by p, over verify-full
// TLS to the front, and returns current_user or the error.
func login(t *testing.T, sb *Sandbox, inst *world.Instance, p *world.Principal, user string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	creds := credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, p.SessionToken)
	tok, err := iamauth.Build(ctx, iamauth.Endpoint{Host: inst.Endpoint, Port: inst.Port, Region: sb.World.Region, User: user}, creds, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool, err := sb.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	tlsConf := &tls.Config{ServerName: inst.Endpoint, RootCAs: pool}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", inst.FrontAddr)
	}
	if target.EngineFamily(inst.Engine) == target.FamilyPostgres {
		cfg, _ := pgx.ParseConfig("sslmode=verify-full")
		cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = inst.Endpoint, uint16(inst.Port), user, tok, DemoDatabase
		cfg.TLSConfig, cfg.Fallbacks, cfg.DialFunc = tlsConf, nil, dial
		cfg.LookupFunc = func(_ context.Context, h string) ([]string, error) { return []string{h}, nil }
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return "", err
		}
		defer c.Close(ctx)
		var who string
		err = c.QueryRow(ctx, "select current_user").Scan(&who)
		return who, err
	}
	mc, err := sb.MySQLConfig(inst, user, tok, DemoDatabase)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var who string
	err = db.QueryRowContext(ctx, "select current_user()").Scan(&who)
	return strings.SplitN(who, "@", 2)[0], err
}

func TestSandboxServesBothEngines(t *testing.T) {
	sb, logs := start(t, []string{"all"})
	for _, f := range []string{"aws-config", "aws-credentials", "ca.pem", "rdsgate.yaml", "env", "sandbox.json", "ready"} {
		if _, err := os.Stat(filepath.Join(sb.Dir, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	if st, _ := os.Stat(filepath.Join(sb.Dir, "aws-credentials")); st.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %v", st.Mode().Perm())
	}
	var state State
	b, _ := os.ReadFile(filepath.Join(sb.Dir, "sandbox.json"))
	if err := json.Unmarshal(b, &state); err != nil || len(state.Instances) != 2 || state.APIURL != sb.APIURL {
		t.Fatalf("sandbox.json: %v %+v", err, state)
	}
	if bytes.Contains(b, []byte(sb.World.Principals[0].SecretAccessKey)) {
		t.Error("sandbox.json holds a secret key")
	}
	env, _ := os.ReadFile(filepath.Join(sb.Dir, "env"))
	for _, v := range []string{"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE", "RDSGATE_CONFIG", "RDSGATE_CA_BUNDLE"} {
		if !bytes.Contains(env, []byte("export "+v+"=")) {
			t.Errorf("env lacks %s", v)
		}
	}
	admin, intern := sb.Principal(ProfileAdmin), sb.Principal(ProfileIntern)
	for _, id := range []string{InstancePG, InstanceMySQL} {
		inst, _ := sb.Instance(id)
		who, err := login(t, sb, inst, admin, IAMUser)
		if err != nil || who != IAMUser {
			t.Errorf("%s: admin as app_user: %q, %v", id, who, err)
		}
		if _, err := login(t, sb, inst, intern, IAMUser); err == nil {
			t.Errorf("%s: the intern (no rds-db:connect) got in", id)
		}
	}
	if !strings.Contains(logs.String(), "no policy allows arn:aws:iam::111122223333:user/rdsgate-sandbox-intern rds-db:connect") {
		t.Errorf("the log does not name the missing policy:\n%s", logs.String())
	}
}

// The stock AWS CLI is a client the sandbox must satisfy: its token logs in
// through psql with verify-full TLS, and its API calls are accepted with the
// written profile and refused with a wrong secret.
func TestAWSCLIAndPsqlAgainstSandbox(t *testing.T) {
	awsCLI := testpeer.AWSCLIv2(t)
	psql := testpeer.LookPath(t, "apt-get install postgresql-client", "psql", "/usr/lib/postgresql/15/bin/psql")
	sb, _ := start(t, []string{"postgres"})
	inst, _ := sb.Instance(InstancePG)
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "AWS_CONFIG_FILE=" + filepath.Join(sb.Dir, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(sb.Dir, "aws-credentials"), "AWS_PROFILE=" + ProfileAdmin, "AWS_EC2_METADATA_DISABLED=true"}
	cli := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(awsCLI, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	tok, err := cli(env, "rds", "generate-db-auth-token", "--hostname", inst.Endpoint, "--port", "5432", "--username", IAMUser)
	if err != nil {
		t.Fatalf("generate-db-auth-token: %v: %s", err, tok)
	}
	_, port, _ := net.SplitHostPort(inst.FrontAddr)
	cmd := exec.Command(psql, "host="+inst.Endpoint+" hostaddr=127.0.0.1 port="+port+" user="+IAMUser+" dbname="+DemoDatabase+
		" sslmode=verify-full sslrootcert="+sb.CAFile, "-XAtc", "select current_user")
	cmd.Env = []string{"PGPASSWORD=" + strings.TrimSpace(tok), "PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != IAMUser {
		t.Errorf("psql with the CLI's token: %v: %s", err, out)
	}
	for _, call := range [][]string{{"sts", "get-caller-identity"}, {"rds", "describe-db-instances"}} {
		out, err := cli(env, append(call, "--endpoint-url", sb.APIURL)...)
		if err != nil {
			t.Errorf("aws %s: %v: %s", call[1], err, out)
		}
	}
	if out, _ := cli(env, "rds", "describe-db-instances", "--endpoint-url", sb.APIURL); !strings.Contains(out, inst.Endpoint) {
		t.Errorf("describe-db-instances lacks the endpoint: %s", out)
	}
	bad := append(append([]string{}, env...), "AWS_ACCESS_KEY_ID="+sb.Principal(ProfileAdmin).AccessKeyID, "AWS_SECRET_ACCESS_KEY=wrong-secret")
	if out, err := cli(bad, "sts", "get-caller-identity", "--endpoint-url", sb.APIURL); err == nil || !strings.Contains(out, "SignatureDoesNotMatch") {
		t.Errorf("wrong secret: %v %s", err, out)
	}
}

// The Go SDK reads endpoint_url from the written profile by itself.
func TestSDKUsesWrittenProfile(t *testing.T) {
	sb, _ := start(t, []string{"postgres"})
	ctx := context.Background()
	cfg, err := awsconf.Load(ctx, awsconf.Options{Profile: ProfileAdmin, ConfigFiles: []string{filepath.Join(sb.Dir, "aws-config")},
		CredentialsFiles: []string{filepath.Join(sb.Dir, "aws-credentials")}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := awsconf.WhoAmI(ctx, cfg, ProfileAdmin)
	if err != nil || id.ARN != sb.Principal(ProfileAdmin).ARN {
		t.Errorf("WhoAmI = %+v, %v", id, err)
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		fault    string
		check    func(t *testing.T, sb *Sandbox, inst *world.Instance, err error, logs string)
		loginErr bool
	}{
		{FaultIAMAuthDisabled, func(t *testing.T, sb *Sandbox, inst *world.Instance, err error, logs string) {
			if !strings.Contains(logs, "IAM database authentication is disabled on demo-pg") {
				t.Errorf("log lacks the reason:\n%s", logs)
			}
		}, true},
		{FaultNoPolicy, func(t *testing.T, sb *Sandbox, inst *world.Instance, err error, logs string) {
			if !strings.Contains(logs, "no policy allows") {
				t.Errorf("log lacks the reason:\n%s", logs)
			}
		}, true},
		{FaultUserNotIAM, func(t *testing.T, sb *Sandbox, inst *world.Instance, err error, logs string) {}, true},
		{FaultWrongCA, func(t *testing.T, sb *Sandbox, inst *world.Instance, err error, logs string) {
			if err == nil || !strings.Contains(err.Error(), "unknown authority") {
				t.Errorf("want an unknown-authority TLS error, got %v", err)
			}
		}, true},
		{FaultExpiredCert, func(t *testing.T, sb *Sandbox, inst *world.Instance, err error, logs string) {
			if err == nil || !strings.Contains(err.Error(), "expired") {
				t.Errorf("want an expired-certificate error, got %v", err)
			}
		}, true},
		{FaultAgentOffline, func(t *testing.T, sb *Sandbox, inst *world.Instance, err error, logs string) {
			out, e := ssmClient(sb).DescribeInstanceInformation(context.Background(), &ssm.DescribeInstanceInformationInput{})
			if e != nil || len(out.InstanceInformationList) != 1 || out.InstanceInformationList[0].PingStatus != "ConnectionLost" {
				t.Errorf("bastion agent should be offline: %v", e)
			}
		}, false},
		{FaultSGBlocksBastion, func(t *testing.T, sb *Sandbox, inst *world.Instance, err error, logs string) {
			out, e := ec2Client(sb).DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{GroupIds: inst.SecurityGroups})
			if e != nil || len(out.SecurityGroups) != 1 {
				t.Fatalf("describe: %v", e)
			}
			for _, p := range out.SecurityGroups[0].IpPermissions {
				for _, g := range p.UserIdGroupPairs {
					if aws.ToString(g.GroupId) == bastionSG {
						t.Error("the database's group still admits the bastion's")
					}
				}
			}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.fault, func(t *testing.T) {
			sb, logs := start(t, []string{"postgres"}, tc.fault)
			inst, _ := sb.Instance(InstancePG)
			_, err := login(t, sb, inst, sb.Principal(ProfileAdmin), IAMUser)
			if tc.loginErr != (err != nil) {
				t.Errorf("login error = %v, want error: %v", err, tc.loginErr)
			}
			tc.check(t, sb, inst, err, logs.String())
		})
	}
	if _, err := Start(context.Background(), Options{Dir: t.TempDir(), Faults: []string{"gremlins"}}); err == nil || !strings.Contains(err.Error(), strings.Join(AllFaults, ", ")) {
		t.Errorf("an unknown fault must be refused with the list: %v", err)
	}
}

func ssmClient(sb *Sandbox) *ssm.Client {
	p := sb.Principal(ProfileAdmin)
	return ssm.New(ssm.Options{Region: sb.World.Region, BaseEndpoint: aws.String(sb.APIURL),
		Credentials: credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, "")})
}

func ec2Client(sb *Sandbox) *ec2.Client {
	p := sb.Principal(ProfileAdmin)
	return ec2.New(ec2.Options{Region: sb.World.Region, BaseEndpoint: aws.String(sb.APIURL),
		Credentials: credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, "")})
}

func TestCloseStopsEverything(t *testing.T) {
	requireBackends(t, "postgres")
	sb, err := Start(context.Background(), Options{Dir: t.TempDir(), Engines: []string{"postgres"}})
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := sb.Instance(InstancePG)
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sb.Dir, "ready")); !errors.Is(err, os.ErrNotExist) {
		t.Error("ready still there after Close")
	}
	for _, addr := range []string{inst.FrontAddr, strings.TrimPrefix(sb.APIURL, "http://")} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts after Close", addr)
		}
	}
	if err := sb.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// The embedded backend stands in for PostgreSQL and MariaDB on machines
// without them: the same fronts, the same IAM checks, the demo data.
func TestEmbeddedBackend(t *testing.T) {
	for _, faults := range [][]string{nil, {FaultUserNotIAM}} {
		logs := &logBuffer{}
		sb, err := Start(context.Background(), Options{Dir: t.TempDir(), Backend: BackendEmbedded, Faults: faults,
			Log: slog.New(slog.NewTextHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		admin, intern := sb.Principal(ProfileAdmin), sb.Principal(ProfileIntern)
		for _, id := range []string{InstancePG, InstanceMySQL} {
			inst, _ := sb.Instance(id)
			if inst.Backend != BackendEmbedded {
				t.Errorf("%s: backend %q", id, inst.Backend)
			}
			who, err := login(t, sb, inst, admin, IAMUser)
			switch {
			case faults == nil && (err != nil || who != IAMUser):
				t.Errorf("%s: admin as app_user: %q, %v", id, who, err)
			case faults != nil && err == nil:
				t.Errorf("%s: app_user is not IAM-enabled, yet the token was accepted", id)
			}
			if _, err := login(t, sb, inst, intern, IAMUser); err == nil {
				t.Errorf("%s: the intern (no rds-db:connect) got in", id)
			}
		}
		// The master user logs in with the password from Secrets Manager.
		inst, _ := sb.Instance(InstancePG)
		var pw string
		for _, s := range sb.World.Secrets {
			if s.ARN == inst.MasterSecretARN {
				var v struct{ Password string }
				_ = json.Unmarshal([]byte(s.SecretString), &v)
				pw = v.Password
			}
		}
		pool, _ := sb.CAPool()
		cfg, _ := pgx.ParseConfig("sslmode=verify-full")
		cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = inst.Endpoint, uint16(inst.Port), inst.MasterUser, pw, DemoDatabase
		cfg.TLSConfig = &tls.Config{ServerName: inst.Endpoint, RootCAs: pool}
		cfg.Fallbacks = nil
		cfg.LookupFunc = func(_ context.Context, h string) ([]string, error) { return []string{h}, nil }
		cfg.DialFunc = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", inst.FrontAddr)
		}
		c, err := pgx.ConnectConfig(context.Background(), cfg)
		if err != nil {
			t.Fatalf("master login: %v", err)
		}
		var n int
		if err := c.QueryRow(context.Background(), "select count(*) from orders").Scan(&n); err != nil || n != 3 {
			t.Errorf("master query: %d %v", n, err)
		}
		c.Close(context.Background())
		if faults != nil && !strings.Contains(logs.String(), "rds_iam") && !strings.Contains(logs.String(), "not an IAM user") {
			t.Errorf("the log does not say why app_user was refused:\n%s", logs.String())
		}
		if err := sb.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// TestExpiredAccessIsNamed: a login refused because the policy's
// DateLessThan aws:CurrentTime has passed is logged as expired access,
// not as a missing policy.
func TestExpiredAccessIsNamed(t *testing.T) {
	sb, logs := start(t, []string{"postgres"})
	inst, _ := sb.Instance(InstancePG)
	arn := sb.World.DBUserARN(inst, IAMUser)
	for _, tc := range []struct {
		until, want string
	}{
		{"2020-01-01T00:00:00Z", "expired access"},
		{"2999-01-01T00:00:00Z", ""},
	} {
		sb.World.Update(func() {
			p := sb.Principal(ProfileIntern)
			p.Policies = []iampolicy.Document{{Version: "2012-10-17", Statement: []iampolicy.Statement{{Sid: "Connect", Effect: "Allow",
				Action: iampolicy.StringList{"rds-db:connect"}, Resource: iampolicy.StringList{arn},
				Condition: map[string]map[string]iampolicy.StringList{"DateLessThan": {"aws:CurrentTime": {tc.until}}}}}}}
		})
		_, err := login(t, sb, inst, sb.Principal(ProfileIntern), IAMUser)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("until %s: %v", tc.until, err)
		case tc.want != "" && (err == nil || !strings.Contains(logs.String(), tc.want)):
			t.Errorf("until %s: err %v, log lacks %q:\n%s", tc.until, err, tc.want, logs.String())
		}
	}
}
