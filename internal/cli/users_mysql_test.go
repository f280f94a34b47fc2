package cli

import (
	"database/sql"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/rdsgate/rdsgate/grant"
	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/sandbox"
)

// sandboxMySQLAdmin opens a connection to demo-mysql's front as the master
// user (password from the sandbox's Secrets Manager secret), verify-full.
func sandboxMySQLAdmin(t *testing.T, sb *sandbox.Sandbox) *sql.DB {
	t.Helper()
	inst, _ := sb.Instance(sandbox.InstanceMySQL)
	sec, ok := sb.World.Secret(inst.MasterSecretARN)
	if !ok {
		t.Fatal("no master secret")
	}
	var m struct{ Username, Password string }
	if err := json.Unmarshal([]byte(sec.SecretString), &m); err != nil {
		t.Fatal(err)
	}
	mc, err := sb.MySQLConfig(inst, m.Username, m.Password, "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestUsersSandboxMySQL runs `rdsgate users` on MariaDB through the
// sandbox's front, over the same route and TLS as connect, after seeding a
// password user without TLS, an account shaped as RDS MySQL stores an IAM
// user (plugin AWSAuthenticationPlugin, REQUIRE SSL) and a user made by
// rdsgate grant.
func TestUsersSandboxMySQL(t *testing.T) {
	if !dbserver.MariaDBAvailable() {
		testpeer.Missing(t, "mariadb-server", "apt-get install mariadb-server")
	}
	sb := useSandbox(t, []string{"mysql"})
	admin := sandboxMySQLAdmin(t, sb)
	for _, q := range []string{
		"CREATE USER 'legacy'@'%' IDENTIFIED BY 'not-a-secret-1'",
		"GRANT SELECT, INSERT ON " + sandbox.DemoDatabase + ".* TO 'legacy'@'%'",
		// MariaDB has no AWSAuthenticationPlugin: write the account as RDS
		// MySQL's catalog shows it (mysql.user is a view of global_priv).
		"CREATE USER 'rds_iam_user'@'%' REQUIRE SSL",
		"GRANT SELECT ON " + sandbox.DemoDatabase + ".* TO 'rds_iam_user'@'%'",
		`UPDATE mysql.global_priv SET Priv = JSON_SET(Priv, '$.plugin', 'AWSAuthenticationPlugin', '$.authentication_string', 'RDS') WHERE User = 'rds_iam_user'`,
		"FLUSH PRIVILEGES",
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if code, out, errOut := run(t, "grant", "demo-mysql", "bob", "--read-write", "--apply"); code != 0 {
		t.Fatalf("grant: exit %d %q %s", code, out, errOut)
	}

	code, out, errOut := run(t, "users", "demo-mysql", "-o", "json")
	var us []grant.User
	if code != 0 || json.Unmarshal([]byte(out), &us) != nil {
		t.Fatalf("users: exit %d %q %s", code, out, errOut)
	}
	got := map[string]grant.User{}
	for _, u := range us {
		got[u.Name+"@"+u.Host] = u
	}
	check := func(name string, ok func(u grant.User) bool) {
		t.Helper()
		u, found := got[name]
		if !found || !ok(u) {
			t.Errorf("%s: %+v (found %v)\n%s", name, u, found, out)
		}
	}
	// The backend's superuser is rdsadmin, as on RDS, which users leaves out.
	for name := range got {
		if strings.HasPrefix(name, "root@") || strings.HasPrefix(name, "rdsadmin@") {
			t.Errorf("users lists %s", name)
		}
	}
	inst, _ := sb.Instance(sandbox.InstanceMySQL)
	master := inst.MasterUser + "@%"
	check(master, func(u grant.User) bool { return u.Master && u.Profile == "admin" && len(u.Flags) > 0 })
	check("legacy@%", func(u grant.User) bool {
		return !u.IAM && u.Auth == "password" && u.RequiresTLS == "no" && u.Profile == "read-write" &&
			len(u.Flags) == 2 // password user, TLS not required
	})
	check("rds_iam_user@%", func(u grant.User) bool {
		return u.IAM && u.Auth == "iam" && u.RequiresTLS == "yes (ANY)" && u.Profile == "read-only" && len(u.Flags) == 0
	})
	// The sandbox's MariaDB stores its IAM users as password users with a
	// derived password, and shows them in mysql.user as RDS does (see
	// sandbox/mysqlfront's catalog emulation): bob through the front's
	// rewrite of grant's CREATE USER, app_user from the sandbox's seed.
	for _, name := range []string{"bob@%", sandbox.IAMUser + "@%"} {
		check(name, func(u grant.User) bool {
			return u.IAM && u.Auth == "iam" && u.RequiresTLS == "yes (IAM)" && u.Profile == "read-write" && !u.Master && len(u.Flags) == 0
		})
	}
	// bob's access is the write group role's; app_user's its own grants.
	// The group roles themselves are not users.
	check("bob@%", func(u grant.User) bool {
		return len(u.Roles) == 1 && u.Roles[0] == "rdsgate_"+sandbox.DemoDatabase+"_write"
	})
	check(sandbox.IAMUser+"@%", func(u grant.User) bool { return len(u.Roles) == 0 })
	for name := range got {
		if strings.HasPrefix(name, "rdsgate_") {
			t.Errorf("users lists the group role %s", name)
		}
	}

	// The table for people: the same rows, flags spelled out.
	code, out, errOut = run(t, "users", "demo-mysql")
	if code != 0 {
		t.Fatalf("users: exit %d %s", code, errOut)
	}
	for _, want := range []string{master, "master user", "legacy@%", "password user", "TLS not required", "rds_iam_user@%"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// On the embedded engine, which has no catalogs, users says so and what to
// run instead, without blaming the administrative login.
func TestUsersEmbeddedEngine(t *testing.T) {
	useSandboxWith(t, sandbox.Options{Backend: sandbox.BackendEmbedded})
	for _, id := range []string{sandbox.InstancePG, sandbox.InstanceMySQL} {
		code, _, errOut := run(t, "users", id)
		if code != 1 || !strings.Contains(errOut, "--backend installed") || strings.Contains(errOut, "master user's secret") {
			t.Errorf("users %s: exit %d\n%s", id, code, errOut)
		}
	}
}
