package grant

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/sandbox"
	"github.com/rdsgate/rdsgate/sandbox/world"
	"github.com/rdsgate/rdsgate/target"
)

// adminConfig is what rdsgate passes OpenAdmin for inst of sb: the
// instance as the RDS API describes it, the sandbox's Secrets Manager, a
// dial to the front, TLS verified against the endpoint name.
func adminConfig(t *testing.T, sb *sandbox.Sandbox, inst *world.Instance) AdminConfig {
	t.Helper()
	pool, err := sb.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	p := sb.Principal(sandbox.ProfileAdmin)
	front := inst.FrontAddr
	return AdminConfig{
		Target: target.Target{Identifier: inst.Identifier, Engine: inst.Engine, Host: inst.Endpoint, Port: inst.Port,
			Region: sb.World.Region, MasterUser: inst.MasterUser, MasterSecretARN: inst.MasterSecretARN},
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", front)
		},
		TLS: &tls.Config{ServerName: inst.Endpoint, RootCAs: pool, MinVersion: tls.VersionTLS12},
		AWS: aws.Config{Region: sb.World.Region, BaseEndpoint: aws.String(sb.APIURL),
			Credentials: credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, p.SessionToken)},
	}
}

// TestOpenAdminSandbox logs in as the master user through the sandbox's
// fronts as rdsgate grant --apply does: with the managed master secret, a
// prompt, and, once the master user is a member of rds_iam and the front
// refuses its password as RDS does (PAM, 28000), with an IAM token.
func TestOpenAdminSandbox(t *testing.T) {
	engines := []string{"postgres"}
	if dbserver.MariaDBAvailable() {
		engines = append(engines, "mysql")
	}
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{Dir: t.TempDir(), Engines: engines, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	pg, _ := sb.Instance(sandbox.InstancePG)
	master := pg.MasterUser
	t.Run("PAMRefused", func(t *testing.T) { testPAMRefusedByFront(t, adminConfig(t, sb, pg)) })
	badKey := credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "not-the-secret", "")
	wrongPrompt := func(context.Context, string) (string, error) { return "not-the-password", nil }
	sec, ok := sb.World.Secret(pg.MasterSecretARN)
	if !ok {
		t.Fatal("no master secret")
	}
	var m struct{ Password string }
	if err := json.Unmarshal([]byte(sec.SecretString), &m); err != nil {
		t.Fatal(err)
	}
	rightPrompt := func(context.Context, string) (string, error) { return m.Password, nil }
	steps := []struct {
		desc     string
		inst     string
		before   string // SQL run as the master user first
		change   func(*AdminConfig)
		wantFrom string // "secret" says the instance's managed master secret
		wantErr  string // "" logs in; "login": a *LoginError; "sign": no token; else ErrNoMasterSecret
		wantPAM  bool   // the login error is a PAM refusal
	}{
		{desc: "postgres managed master secret", inst: sandbox.InstancePG, wantFrom: "secret"},
		{desc: "postgres wrong password from the prompt", inst: sandbox.InstancePG,
			change:   func(c *AdminConfig) { c.Target.MasterSecretARN, c.Prompt = "", wrongPrompt },
			wantFrom: "the prompt", wantErr: "login"},
		{desc: "postgres no secret, no master user", inst: sandbox.InstancePG,
			change:  func(c *AdminConfig) { c.Target.MasterSecretARN, c.Target.MasterUser = "", "" },
			wantErr: ErrNoMasterSecret.Error()},
		{desc: "postgres master user in rds_iam: an IAM token", inst: sandbox.InstancePG,
			before:   "GRANT rds_iam TO " + master,
			wantFrom: "an IAM token (" + master + " is a member of rds_iam)"},
		{desc: "postgres master user in rds_iam, token refused", inst: sandbox.InstancePG,
			change: func(c *AdminConfig) {
				c.Target.MasterSecretARN, c.Prompt, c.AWS.Credentials = "", rightPrompt, badKey
			},
			wantFrom: "an IAM token (" + master + " is a member of rds_iam)", wantErr: "login", wantPAM: true},
		{desc: "postgres master user in rds_iam, without AWS credentials", inst: sandbox.InstancePG,
			change: func(c *AdminConfig) {
				c.Target.MasterSecretARN, c.Prompt, c.AWS.Credentials = "", rightPrompt, nil
			},
			wantErr: "sign"},
		{desc: "mysql managed master secret", inst: sandbox.InstanceMySQL, wantFrom: "secret"},
		{desc: "mysql wrong password from the prompt", inst: sandbox.InstanceMySQL,
			change:   func(c *AdminConfig) { c.Target.MasterSecretARN, c.Prompt = "", wrongPrompt },
			wantFrom: "the prompt", wantErr: "login"},
	}
	for _, st := range steps {
		t.Run(st.desc, func(t *testing.T) {
			inst, ok := sb.Instance(st.inst)
			if !ok {
				testpeer.Missing(t, "mariadb-server", "apt-get install mariadb-server")
			}
			cfg := adminConfig(t, sb, inst)
			if st.wantFrom == "secret" {
				st.wantFrom = "secret " + inst.MasterSecretARN
			}
			if st.inst == sandbox.InstancePG {
				cfg.Database = sandbox.DemoDatabase
			}
			if st.before != "" {
				db, _, err := OpenAdmin(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				_, err = db.ExecContext(ctx, st.before)
				db.Close()
				if err != nil {
					t.Fatalf("%s: %v", st.before, err)
				}
			}
			if st.change != nil {
				st.change(&cfg)
			}
			db, login, err := OpenAdmin(ctx, cfg)
			if st.wantErr != "" {
				var le *LoginError
				switch {
				case err == nil:
					db.Close()
					t.Fatalf("logged in as %+v, want an error", login)
				case st.wantErr == "login" && !errors.As(err, &le):
					t.Fatalf("error %v is not a *LoginError", err)
				case st.wantErr == "login":
					if le.Login.From != st.wantFrom || le.Login.User != cfg.Target.MasterUser {
						t.Errorf("login error says %+v, want from %q", le.Login, st.wantFrom)
					}
					if PAMRefused(err) != st.wantPAM {
						t.Errorf("PAMRefused(%v) = %v, want %v", err, !st.wantPAM, st.wantPAM)
					}
				case st.wantErr == "sign":
					if want := "sign an IAM token for the administrative user " + master + ": "; !strings.HasPrefix(err.Error(), want) {
						t.Errorf("error %v, want %q...", err, want)
					}
				case !errors.Is(err, ErrNoMasterSecret):
					t.Errorf("error %v, want %s", err, st.wantErr)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if login.User != inst.MasterUser || login.From != st.wantFrom {
				t.Errorf("logged in as %+v, want %s from %q", login, inst.MasterUser, st.wantFrom)
			}
			var who string
			q := "SELECT current_user"
			if st.inst == sandbox.InstanceMySQL {
				q = "SELECT current_user()"
			}
			if err := db.QueryRowContext(ctx, q).Scan(&who); err != nil {
				t.Fatal(err)
			}
			t.Logf("logged in as %s (%s), password from %s", who, login.User, login.From)
		})
	}
}

// testPAMRefusedByFront checks that the front refuses a password for a
// member of rds_iam as RDS does, and that PAMRefused recognises that
// refusal as pgx returns it, and only that one.
func testPAMRefusedByFront(t *testing.T, cfg AdminConfig) {
	ctx := context.Background()
	connect := func(user, password string) error {
		pc, err := pgx.ParseConfig("sslmode=verify-full dbname=" + sandbox.DemoDatabase)
		if err != nil {
			t.Fatal(err)
		}
		pc.Host, pc.Port, pc.User, pc.Password = cfg.Target.Host, uint16(cfg.Target.Port), user, password
		pc.TLSConfig, pc.Fallbacks, pc.DialFunc, pc.ConnectTimeout = cfg.TLS, nil, cfg.Dial, 20*time.Second
		pc.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
		c, err := pgx.ConnectConfig(ctx, pc)
		if err == nil {
			c.Close(ctx)
		}
		return err
	}
	tests := []struct {
		desc     string
		user     string
		wantCode string
		wantPAM  bool
	}{
		{"IAM user with a password", sandbox.IAMUser, "28000", true},
		{"master user with a wrong password", cfg.Target.MasterUser, "28P01", false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := connect(tc.user, "not-a-token")
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != tc.wantCode {
				t.Fatalf("login: %v, want SQLSTATE %s", err, tc.wantCode)
			}
			if got := PAMRefused(err); got != tc.wantPAM {
				t.Errorf("PAMRefused(%v) = %v, want %v", err, got, tc.wantPAM)
			}
		})
	}
}
