package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/target"
)

// errSpecOnly stops a command once it has built its path's Spec.
var errSpecOnly = errors.New("spec only")

const userFile = `defaults:
  region: eu-west-1
  route:
    via: ssm
    bastion_tag: Name=db-bastion
targets:
  orders:
    identifier: orders-prod
    user: jane
    database: orders
    profile: prod
    local_port: 15432
  legacy:
    endpoint: legacy.abc.eu-west-1.rds.amazonaws.com
    port: 3306
    engine: mysql
    auth: password
    password_env: LEGACY_PW
    ca_bundle: /etc/legacy-ca.pem
    ssl_negotiation: postgres
    route:
      via: direct
      address: 127.0.0.1:13306
  pooled:
    identifier: pooled
    route:
      via: ssm
      bastion_tag: Name=pool
      ssm_sessions: 3
  jump:
    identifier: jump
    route:
      via: ssh
      ssh: me@bastion
      ssh_identity: ~/.ssh/id_ed25519
`

// orders is the orders entry as the user file alone makes it.
func orders() dbpath.Spec {
	return dbpath.Spec{Name: "orders", Identifier: "orders-prod", Profile: "prod", Region: "eu-west-1", User: "jane",
		Database: "orders", LocalPort: 15432, Route: dbpath.Route{Via: "ssm", BastionTag: "Name=db-bastion"}}
}

func with(s dbpath.Spec, f func(*dbpath.Spec)) dbpath.Spec { f(&s); return s }

// TestCommandLineMeansSpec maps command lines, config files and the
// environment to the Spec of the path they open, with no network.
func TestCommandLineMeansSpec(t *testing.T) {
	tests := []struct {
		desc    string
		project string            // .rdsgate.yaml in the working directory ("" none)
		trust   bool              // trust the project file first
		env     map[string]string // set for the row
		args    []string
		want    dbpath.Spec
		wantErr string // instead of a Spec: the error's text, exit 1 or 2
	}{
		{desc: "a name no file knows (the defaults are for entries)", args: []string{"connect", "billing"},
			want: dbpath.Spec{Name: "billing", Route: dbpath.Route{Via: "direct"}}},
		{desc: "the user file's entry", args: []string{"connect", "orders"}, want: orders()},
		{desc: "AWS_PROFILE beats the entry's profile", env: map[string]string{"AWS_PROFILE": "ops"},
			args: []string{"connect", "orders"}, want: with(orders(), func(s *dbpath.Spec) { s.Profile = "" })},
		{desc: "--profile beats the entry's profile", args: []string{"connect", "orders", "--profile", "admin"},
			want: with(orders(), func(s *dbpath.Spec) { s.Profile = "admin" })},
		{desc: "RDSGATE_PROFILE is --profile", env: map[string]string{"RDSGATE_PROFILE": "ci"},
			args: []string{"connect", "orders"}, want: with(orders(), func(s *dbpath.Spec) { s.Profile = "ci" })},
		{desc: "--region beats the entry's", args: []string{"connect", "orders", "--region", "us-east-2"},
			want: with(orders(), func(s *dbpath.Spec) { s.Region = "us-east-2" })},
		{desc: "--user and --db beat the entry", args: []string{"connect", "orders", "--user", "bob", "--db", "app"},
			want: with(orders(), func(s *dbpath.Spec) { s.User, s.Database = "bob", "app" })},
		{desc: "the project file beats the user file", project: "targets:\n  orders:\n    database: reports\n",
			args: []string{"connect", "orders"}, want: with(orders(), func(s *dbpath.Spec) { s.Database = "reports" })},
		{desc: "RDSGATE_DB beats the project file", project: "targets:\n  orders:\n    database: reports\n",
			env: map[string]string{"RDSGATE_DB": "envdb"}, args: []string{"connect", "orders"},
			want: with(orders(), func(s *dbpath.Spec) { s.Database = "envdb" })},
		{desc: "--db beats RDSGATE_DB", env: map[string]string{"RDSGATE_DB": "envdb"}, args: []string{"connect", "orders", "--db", "flagdb"},
			want: with(orders(), func(s *dbpath.Spec) { s.Database = "flagdb" })},
		{desc: "the project's route of another kind replaces the user file's whole",
			project: "targets:\n  orders:\n    route:\n      via: ssh\n      ssh: ops@jump\n", trust: true,
			args: []string{"connect", "orders"}, want: with(orders(), func(s *dbpath.Spec) { s.Route = dbpath.Route{Via: "ssh", SSH: "ops@jump"} })},
		{desc: "an untrusted project address is refused", project: "targets:\n  orders:\n    route:\n      via: direct\n      address: 10.0.0.9:5432\n",
			args: []string{"connect", "orders"}, wantErr: "rdsgate config trust"},
		{desc: "a trusted project address is honoured", project: "targets:\n  orders:\n    route:\n      via: direct\n      address: 10.0.0.9:5432\n",
			trust: true, args: []string{"connect", "orders"},
			want: with(orders(), func(s *dbpath.Spec) { s.Route = dbpath.Route{Via: "direct", Address: "10.0.0.9:5432"} })},
		{desc: "--bastion replaces the configured tag", args: []string{"connect", "orders", "--bastion", "i-0abc"},
			want: with(orders(), func(s *dbpath.Spec) { s.Route = dbpath.Route{Via: "ssm", Bastion: "i-0abc"} })},
		{desc: "--bastion-tag replaces the configured tag", args: []string{"connect", "orders", "--bastion-tag", "Role=bastion"},
			want: with(orders(), func(s *dbpath.Spec) { s.Route.BastionTag = "Role=bastion" })},
		{desc: "--via direct drops the ssm settings", args: []string{"connect", "orders", "--via", "direct"},
			want: with(orders(), func(s *dbpath.Spec) { s.Route = dbpath.Route{Via: "direct"} })},
		{desc: "--via direct --address", args: []string{"connect", "orders", "--via", "direct", "--address", "127.0.0.1:15432"},
			want: with(orders(), func(s *dbpath.Spec) { s.Route = dbpath.Route{Via: "direct", Address: "127.0.0.1:15432"} })},
		{desc: "--no-start", args: []string{"connect", "orders", "--no-start"},
			want: with(orders(), func(s *dbpath.Spec) { s.Route.NoStart = true })},
		{desc: "--ssm-plugin", args: []string{"connect", "orders", "--ssm-plugin", "/usr/local/bin/session-manager-plugin"},
			want: with(orders(), func(s *dbpath.Spec) { s.Route.SSMPlugin = "/usr/local/bin/session-manager-plugin" })},
		{desc: "--ssm-sessions", args: []string{"proxy", "orders", "--ssm-sessions", "6"},
			want: with(orders(), func(s *dbpath.Spec) { s.Route.SSMSessions = 6 })},
		{desc: "route.ssm_sessions in the config", args: []string{"connect", "pooled"},
			want: dbpath.Spec{Name: "pooled", Identifier: "pooled", Region: "eu-west-1", Route: dbpath.Route{Via: "ssm", BastionTag: "Name=pool", SSMSessions: 3}}},
		{desc: "the ssh route with every setting", args: []string{"connect", "orders", "--via", "ssh", "--ssh", "a@b1,c@b2",
			"--ssh-identity", "/k", "--ssh-known-hosts", "/kh", "--ssh-accept-new", "--ssh-eic", "--bastion", "i-0b"},
			want: with(orders(), func(s *dbpath.Spec) {
				s.Route = dbpath.Route{Via: "ssh", SSH: "a@b1,c@b2", SSHIdentity: "/k", SSHKnownHosts: "/kh", SSHAcceptNew: true, SSHEIC: true, Bastion: "i-0b"}
			})},
		{desc: "the configured ssh route", args: []string{"connect", "jump"},
			want: dbpath.Spec{Name: "jump", Identifier: "jump", Region: "eu-west-1",
				Route: dbpath.Route{Via: "ssh", SSH: "me@bastion", SSHIdentity: "~/.ssh/id_ed25519"}}},
		{desc: "a password target with endpoint, CA bundle and address", args: []string{"connect", "legacy"},
			want: dbpath.Spec{Name: "legacy", Endpoint: "legacy.abc.eu-west-1.rds.amazonaws.com", Port: 3306, Engine: "mysql", Region: "eu-west-1",
				Auth: dbpath.Auth{Method: "password", PasswordEnv: "LEGACY_PW"}, CABundle: "/etc/legacy-ca.pem", SSLNegotiation: "postgres",
				Route: dbpath.Route{Via: "direct", Address: "127.0.0.1:13306"}}},
		{desc: "--ca-bundle beats the entry's", args: []string{"connect", "legacy", "--ca-bundle", "/tmp/ca.pem"},
			want: dbpath.Spec{Name: "legacy", Endpoint: "legacy.abc.eu-west-1.rds.amazonaws.com", Port: 3306, Engine: "mysql", Region: "eu-west-1",
				Auth: dbpath.Auth{Method: "password", PasswordEnv: "LEGACY_PW"}, CABundle: "/tmp/ca.pem", SSLNegotiation: "postgres",
				Route: dbpath.Route{Via: "direct", Address: "127.0.0.1:13306"}}},
		{desc: "RDSGATE_CA_BUNDLE is --ca-bundle", env: map[string]string{"RDSGATE_CA_BUNDLE": "/env/ca.pem"}, args: []string{"connect", "orders"},
			want: with(orders(), func(s *dbpath.Spec) { s.CABundle = "/env/ca.pem" })},
		{desc: "proxy: a password flag replaces the configured source", args: []string{"proxy", "legacy=0", "--password-secret", "arn:aws:secretsmanager:x"},
			want: dbpath.Spec{Name: "legacy", Endpoint: "legacy.abc.eu-west-1.rds.amazonaws.com", Port: 3306, Engine: "mysql", Region: "eu-west-1",
				Auth: dbpath.Auth{Method: "password", PasswordSecret: "arn:aws:secretsmanager:x"}, CABundle: "/etc/legacy-ca.pem", SSLNegotiation: "postgres",
				Route: dbpath.Route{Via: "direct", Address: "127.0.0.1:13306"}}},
		{desc: "proxy: --ssl-negotiation direct", args: []string{"proxy", "orders", "--ssl-negotiation", "direct"},
			want: with(orders(), func(s *dbpath.Spec) { s.SSLNegotiation = "direct" })},
		{desc: "proxy: --password-env", args: []string{"proxy", "orders=6000", "--password-env", "PW"},
			want: with(orders(), func(s *dbpath.Spec) { s.Auth = dbpath.Auth{Method: "password", PasswordEnv: "PW"} })},
		{desc: "tunnel to a target", args: []string{"tunnel", "orders", "--port", "15433", "--bastion", "i-0t"},
			want: with(orders(), func(s *dbpath.Spec) { s.Route = dbpath.Route{Via: "ssm", Bastion: "i-0t"} })},
		{desc: "grant's admin path", args: []string{"grant", "orders", "bob", "--via", "ssm", "--bastion", "i-0g"},
			want: with(orders(), func(s *dbpath.Spec) { s.Route = dbpath.Route{Via: "ssm", Bastion: "i-0g"} })},
		{desc: "revoke's admin path", args: []string{"revoke", "orders", "bob"}, want: orders()},
		{desc: "users", args: []string{"users", "orders", "--via", "direct"},
			want: with(orders(), func(s *dbpath.Spec) { s.Route = dbpath.Route{Via: "direct"} })},
		{desc: "token --target", args: []string{"token", "--target", "orders"}, want: orders()},
		{desc: "token TARGET -u: the target as an argument", args: []string{"token", "orders", "-u", "bob"},
			want: with(orders(), func(s *dbpath.Spec) { s.User = "bob" })},
		{desc: "-u and -d are --user and --db", args: []string{"connect", "orders", "-u", "bob", "-d", "app"},
			want: with(orders(), func(s *dbpath.Spec) { s.User, s.Database = "bob", "app" })},
		{desc: "token --target --user", args: []string{"token", "--target", "orders", "--user", "bob"},
			want: with(orders(), func(s *dbpath.Spec) { s.User = "bob" })},
		{desc: "policy's target, its --via is the policy's", args: []string{"policy", "orders", "--user", "bob", "--via", "ssm", "--bastion", "i-0p"},
			want: orders()},
		{desc: "policy --deny-delete", args: []string{"policy", "--deny-delete", "legacy"},
			want: dbpath.Spec{Name: "legacy", Endpoint: "legacy.abc.eu-west-1.rds.amazonaws.com", Port: 3306, Engine: "mysql", Region: "eu-west-1",
				User: "", CABundle: "/etc/legacy-ca.pem", SSLNegotiation: "postgres",
				Auth:  dbpath.Auth{Method: "password", PasswordEnv: "LEGACY_PW"},
				Route: dbpath.Route{Via: "direct", Address: "127.0.0.1:13306"}}},
		{desc: "a bad --via is a usage error", args: []string{"connect", "orders", "--via", "carrier-pigeon"}, wantErr: `--via: "carrier-pigeon" is not a route`},
		{desc: "a bad --bastion-tag is a usage error", args: []string{"connect", "orders", "--bastion-tag", "nokey"}, wantErr: "--bastion-tag"},
		{desc: "two password flags", args: []string{"proxy", "orders", "--password-env", "A", "--password-file", "/f"}, wantErr: "give one"},
		{desc: "an ssm route with ssh settings", args: []string{"connect", "orders", "--ssh", "a@b"}, wantErr: "via ssm takes bastion or bastion_tag"},
		{desc: "a bad --ssl-negotiation", args: []string{"proxy", "orders", "--ssl-negotiation", "maybe"}, wantErr: "--ssl-negotiation"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dir := isolateAWS(t)
			t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
			user := filepath.Join(dir, "user.yaml")
			if err := os.WriteFile(user, []byte(userFile), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv(config.EnvConfig, user)
			if tc.project != "" {
				proj := filepath.Join(dir, config.ProjectFileName)
				if err := os.WriteFile(proj, []byte(tc.project), 0o644); err != nil {
					t.Fatal(err)
				}
				if tc.trust {
					p, err := config.InspectProject(proj)
					if err != nil {
						t.Fatal(err)
					}
					store := config.TrustStore{Path: config.TrustPath(os.Getenv)}
					if err := store.Trust(proj, p.SHA256, time.Now()); err != nil {
						t.Fatal(err)
					}
				}
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var got *dbpath.Spec
			var out, errOut bytes.Buffer
			a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: os.Getenv, getwd: os.Getwd,
				open: func(_ context.Context, s dbpath.Spec, _ dbpath.Options) (*dbpath.Path, error) {
					got = &s
					return nil, errSpecOnly
				}}
			a.resolve = a.open
			a.token = func(_ context.Context, s dbpath.Spec, _ string, _ int, _ dbpath.Options) (string, target.Target, error) {
				got = &s
				return "", target.Target{}, errSpecOnly
			}
			code := a.main(context.Background(), tc.args)
			if tc.wantErr != "" {
				if got != nil || code == 0 || !strings.Contains(errOut.String(), tc.wantErr) {
					t.Fatalf("exit %d, spec %+v, stderr %q; want an error with %q", code, got, errOut.String(), tc.wantErr)
				}
				return
			}
			if got == nil {
				t.Fatalf("no path opened: exit %d, stderr %q", code, errOut.String())
			}
			if d := cmp.Diff(tc.want, *got); d != "" {
				t.Errorf("spec (-want +got):\n%s", d)
			}
		})
	}
}
