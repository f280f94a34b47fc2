package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/grant"
	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/sandbox"
	"github.com/rdsgate/rdsgate/target"
)

// runG runs rdsgate in-process with the grant commands present, whether or
// not root.go lists them yet.
func TestGrantCommandsHaveExamples(t *testing.T) {
	a := &app{getenv: os.Getenv, getwd: os.Getwd}
	root := a.newRoot()
	for _, name := range []string{"grant", "revoke", "policy", "users"} {
		c, _, err := root.Find([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(c.Example) == "" || !strings.Contains(c.Example, "rdsgate "+c.Name()) {
			t.Errorf("%s has no real example", c.Name())
		}
	}
}

func TestGrantRevokeSandboxPostgres(t *testing.T) {
	useSandbox(t, []string{"postgres"})
	code, out, errOut := run(t, "grant", "demo-pg", "bob", "--read-only")
	if code != 0 || !strings.Contains(out, `CREATE ROLE "bob" LOGIN;`) || !strings.Contains(out, "--apply") {
		t.Fatalf("dry run: exit %d %q %s", code, out, errOut)
	}
	if code, _, _ := run(t, "connect", "demo-pg", "-q", "--user", "bob", "--exec", "select 1"); code == 0 {
		t.Fatal("the dry run created bob")
	}
	code, out, errOut = run(t, "grant", "demo-pg", "bob", "--read-only", "--apply")
	if code != 0 || !strings.Contains(out, "GRANT rds_iam") {
		t.Fatalf("apply: exit %d %q %s", code, out, errOut)
	}
	code, out, errOut = run(t, "grant", "demo-pg", "bob", "--read-only", "--apply")
	if code != 0 || !strings.Contains(out, "nothing to change") || strings.Contains(out, "GRANT") {
		t.Errorf("second apply must change nothing and say so: exit %d %q %s", code, out, errOut)
	}
	code, out, errOut = run(t, "connect", "demo-pg", "-q", "--user", "bob", "--exec", "select current_user")
	if code != 0 || !strings.Contains(out, "bob") {
		t.Fatalf("bob's login: exit %d %q %s", code, out, errOut)
	}
	if code, out, errOut = run(t, "connect", "demo-pg", "-q", "--user", "bob", "--exec", "select count(*) from orders"); code != 0 || !strings.Contains(out, "3") {
		t.Errorf("bob cannot read orders: exit %d %q %s", code, out, errOut)
	}
	for _, q := range []string{"create table bobs (x int)", "insert into orders values (9, 'x', 1)"} {
		code, _, errOut = run(t, "connect", "demo-pg", "-q", "--user", "bob", "--exec", q)
		if code == 0 || !strings.Contains(errOut, "permission denied") {
			t.Errorf("%s as read-only bob: exit %d %q", q, code, errOut)
		}
	}
	if code, _, errOut = run(t, "grant", "demo-pg", "dbadmin", "--apply"); code != 2 || !strings.Contains(errOut, "master user") {
		t.Errorf("grant to the master user: exit %d %q", code, errOut)
	}
	// users: the master user and app_user's password twin are flagged.
	code, out, errOut = run(t, "users", "demo-pg", "-o", "json")
	var us []struct {
		Name   string
		IAM    bool
		Master bool
		Flags  []string
		Auth   string
	}
	if code != 0 || json.Unmarshal([]byte(out), &us) != nil {
		t.Fatalf("users: exit %d %q %s", code, out, errOut)
	}
	byName := map[string]int{}
	for i, u := range us {
		byName[u.Name] = i
	}
	if i, ok := byName["dbadmin"]; !ok || !us[i].Master || len(us[i].Flags) == 0 {
		t.Errorf("master user not flagged: %s", out)
	}
	if i, ok := byName["bob"]; !ok || !us[i].IAM || len(us[i].Flags) != 0 {
		t.Errorf("bob: %s", out)
	}

	code, out, errOut = run(t, "revoke", "demo-pg", "bob", "--apply")
	if code != 0 || !strings.Contains(out, `DROP ROLE "bob"`) {
		t.Fatalf("revoke: exit %d %q %s", code, out, errOut)
	}
	if code, _, _ = run(t, "connect", "demo-pg", "-q", "--user", "bob", "--exec", "select 1"); code == 0 {
		t.Error("bob still logs in after revoke")
	}
	if code, out, _ = run(t, "revoke", "demo-pg", "bob", "--apply"); code != 0 || !strings.Contains(out, "nothing to change") {
		t.Errorf("second revoke: exit %d %q", code, out)
	}
}

func TestUsersFlagsPasswordUser(t *testing.T) {
	useSandbox(t, []string{"postgres"}, "user-not-iam")
	code, out, errOut := run(t, "users", "demo-pg")
	if code != 0 {
		t.Fatalf("users: exit %d %s", code, errOut)
	}
	var app, master string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "app_user ") {
			app = l
		}
		if strings.HasPrefix(l, "dbadmin ") {
			master = l
		}
	}
	if !strings.Contains(app, "password user") || !strings.Contains(master, "master user") {
		t.Errorf("flags missing:\n%s", out)
	}
}

func TestGrantRevokeSandboxMySQL(t *testing.T) {
	if !dbserver.MariaDBAvailable() {
		testpeer.Missing(t, "mariadb-server", "apt-get install mariadb-server")
	}
	useSandbox(t, []string{"mysql"})
	code, out, errOut := run(t, "grant", "demo-mysql", "bob", "--read-only", "--apply")
	if code != 0 || !strings.Contains(out, "AWSAuthenticationPlugin") {
		t.Fatalf("apply: exit %d %q %s", code, out, errOut)
	}
	if code, out, _ = run(t, "grant", "demo-mysql", "bob", "--read-only", "--apply"); code != 0 || !strings.Contains(out, "nothing to change") {
		t.Errorf("second grant: exit %d %q", code, out)
	}
	code, out, errOut = run(t, "connect", "demo-mysql", "-q", "--user", "bob", "--exec", "select current_user() as who")
	if code != 0 || !strings.Contains(out, "bob@%") {
		t.Fatalf("bob's login: exit %d %q %s", code, out, errOut)
	}
	for _, q := range []string{"create table bobs (x int)", "insert into orders values (9, 'x', 1)"} {
		code, _, errOut = run(t, "connect", "demo-mysql", "-q", "--user", "bob", "--exec", q)
		if code == 0 || !strings.Contains(errOut, "denied") {
			t.Errorf("%s as read-only bob: exit %d %q", q, code, errOut)
		}
	}
	if code, out, errOut = run(t, "revoke", "demo-mysql", "bob", "--apply"); code != 0 || !strings.Contains(out, "DROP USER") {
		t.Fatalf("revoke: exit %d %q %s", code, out, errOut)
	}
	if code, _, _ = run(t, "connect", "demo-mysql", "-q", "--user", "bob", "--exec", "select 1"); code == 0 {
		t.Error("bob still logs in after revoke")
	}
}

func TestPolicySandbox(t *testing.T) {
	sb := useSandbox(t, []string{"postgres"})
	inst, _ := sb.Instance("demo-pg")
	code, out, errOut := run(t, "policy", "demo-pg", "--user", "bob", "--via", "ssm", "--bastion", "i-0123456789abcdef0")
	if code != 0 || !strings.Contains(out, "dbuser:"+inst.ResourceID+"/bob") || strings.Contains(out, "dbuser:demo-pg") {
		t.Fatalf("policy: exit %d %q %s", code, out, errOut)
	}
	if !json.Valid([]byte(out)) {
		t.Errorf("not JSON: %s", out)
	}
	code, out, _ = run(t, "policy", "demo-pg", "--user", "bob", "--attach-to", "role/analysts")
	if code != 0 || !strings.HasPrefix(out, "aws iam put-role-policy --role-name analysts") {
		t.Errorf("attach: %d %q", code, out)
	}
	code, out, _ = run(t, "policy", "--deny-delete", "demo-pg", "--format", "terraform")
	if code != 0 || !strings.Contains(out, ":db:demo-pg") || !strings.Contains(out, "rds:DeleteDBInstance") {
		t.Errorf("deny-delete: %d %q", code, out)
	}
	if code, _, errOut = run(t, "policy", "demo-pg", "--user", "dbadmin"); code == 0 || !strings.Contains(errOut, "master user") {
		t.Errorf("policy for the master user: %d %q", code, errOut)
	}
}

// A master user that is a member of rds_iam logs in with an IAM token (RDS
// refuses its password through PAM); when the token is refused too, the
// error says which password was tried and what to check.
func TestUsersMasterInRDSIAM(t *testing.T) {
	sb := useSandbox(t, []string{"postgres"}, sandbox.FaultNoPolicy)
	inst, _ := sb.Instance(sandbox.InstancePG)
	sec, _ := sb.World.Secret(inst.MasterSecretARN)
	var m struct{ Password string }
	if err := json.Unmarshal([]byte(sec.SecretString), &m); err != nil {
		t.Fatal(err)
	}
	pool, err := sb.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, _, err := grant.OpenAdmin(ctx, grant.AdminConfig{
		Target:   target.Target{Identifier: inst.Identifier, Engine: inst.Engine, Host: inst.Endpoint, Port: inst.Port, MasterUser: inst.MasterUser},
		Database: sandbox.DemoDatabase,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", inst.FrontAddr)
		},
		TLS:    &tls.Config{ServerName: inst.Endpoint, RootCAs: pool},
		Prompt: func(context.Context, string) (string, error) { return m.Password, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.ExecContext(ctx, "GRANT rds_iam TO "+inst.MasterUser)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "users", inst.Identifier)
	t.Logf("users: exit %d\n%s", code, errOut)
	for _, want := range []string{
		"log in to demo-pg as the administrative user dbadmin (password from an IAM token (dbadmin is a member of rds_iam)): ",
		"PAM authentication failed",
		"; check the secret (--admin-secret) and the route (rdsgate doctor demo-pg)",
	} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("users: exit %d, want 1 and %q in:\n%s", code, want, errOut)
		}
	}
}

// The acceptance through the command line, on PostgreSQL and
// MariaDB behind the sandbox: an owner creates a table after the grants;
// the read-only user can read it and not write it, the read-write user can
// write it; revoke denies both. Every grant and revoke runs twice, and the
// second run says there is nothing to change.
func TestGrantGroupRolesSandbox(t *testing.T) {
	for _, engine := range []string{"postgres", "mysql"} {
		t.Run(engine, func(t *testing.T) {
			if engine == "mysql" && !dbserver.MariaDBAvailable() {
				testpeer.Missing(t, "mariadb-server", "apt-get install mariadb-server")
			}
			useSandbox(t, []string{engine})
			id, create := sandbox.InstancePG, "create table mig_t (id serial primary key, x text)"
			if engine == "mysql" {
				id, create = sandbox.InstanceMySQL, "create table mig_t (id int auto_increment primary key, x text)"
			}
			twice := func(args ...string) string {
				t.Helper()
				code, out, errOut := run(t, append(args, "--apply")...)
				if code != 0 {
					t.Fatalf("%s: exit %d %q %s", strings.Join(args, " "), code, out, errOut)
				}
				if code, again, errOut := run(t, append(args, "--apply")...); code != 0 || !strings.Contains(again, "nothing to change") {
					t.Fatalf("%s again: exit %d %q %s", strings.Join(args, " "), code, again, errOut)
				}
				return out
			}
			sql := func(user, q string) (bool, string) {
				t.Helper()
				code, out, errOut := run(t, "connect", id, "-q", "--user", user, "--exec", q)
				if code != 0 && !strings.Contains(errOut, "denied") {
					t.Fatalf("%s as %s: exit %d %q %s", q, user, code, out, errOut)
				}
				return code == 0, out
			}
			twice("grant", id, "mig", "--owner")
			twice("grant", id, "reader", "--read-only")
			out := twice("grant", id, "writer", "--read-write")
			if !strings.Contains(out, "rdsgate_"+sandbox.DemoDatabase+"_write") {
				t.Errorf("grant --read-write does not go through the write group role:\n%s", out)
			}
			if ok, _ := sql("mig", create); !ok {
				t.Fatal("the owner cannot create a table")
			}
			for _, tc := range []struct {
				user, q string
				want    bool
			}{
				{"reader", "select count(*) from mig_t", true},
				{"reader", "insert into mig_t (x) values ('r')", false},
				{"writer", "insert into mig_t (x) values ('w')", true},
				{"reader", "select x from mig_t", true},
			} {
				if ok, out := sql(tc.user, tc.q); ok != tc.want {
					t.Errorf("%s as %s: allowed %v, want %v (%q)", tc.q, tc.user, ok, tc.want, out)
				}
			}
			code, out, errOut := run(t, "users", id)
			if code != 0 || !strings.Contains(out, "rdsgate_"+sandbox.DemoDatabase+"_read") {
				t.Errorf("users: exit %d\n%s%s", code, out, errOut)
			}
			for _, u := range []string{"reader", "writer"} {
				twice("revoke", id, u)
				if code, _, _ := run(t, "connect", id, "-q", "--user", u, "--exec", "select 1"); code == 0 {
					t.Errorf("%s still logs in after revoke", u)
				}
			}
		})
	}
}
