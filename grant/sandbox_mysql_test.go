package grant

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/go-sql-driver/mysql"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/sandbox"
	"github.com/rdsgate/rdsgate/sandbox/world"
	"github.com/rdsgate/rdsgate/target"
)

// withoutTLS is mysqlFront over plain TCP.
func withoutTLS(t *testing.T, sb *sandbox.Sandbox, inst *world.Instance, user, password, db string) *sql.DB {
	t.Helper()
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.DBName, mc.Net, mc.Addr = user, password, db, "tcp", inst.FrontAddr
	mc.AllowCleartextPasswords, mc.Timeout = true, 20*time.Second
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		t.Fatal(err)
	}
	h := sql.OpenDB(conn)
	t.Cleanup(func() { h.Close() })
	return h
}

// mysqlFront opens a handle to the sandbox's MySQL front for inst as user
// with password (the master password, or an IAM token sent as cleartext),
// over verify-full TLS against the endpoint name, as rdsgate does.
func mysqlFront(t *testing.T, sb *sandbox.Sandbox, inst *world.Instance, user, password, db string) *sql.DB {
	t.Helper()
	mc, err := sb.MySQLConfig(inst, user, password, db)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		t.Fatal(err)
	}
	h := sql.OpenDB(conn)
	h.SetMaxOpenConns(1)
	t.Cleanup(func() { h.Close() })
	return h
}

// TestMySQLGrantRevokeThroughSandbox applies grant and revoke plans with
// hostile user and database names to MariaDB through the sandbox's MySQL
// front (as rdsgate grant --apply does, as the master user), then logs in
// as each new user with an IAM token through the front and checks what it
// may do, and that revoke removes it. Every plan is applied twice: the
// second run must change nothing.
func TestMySQLGrantRevokeThroughSandbox(t *testing.T) {
	if !dbserver.MariaDBAvailable() {
		testpeer.Missing(t, "mariadb-server", "apt-get install mariadb-server")
	}
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{Dir: t.TempDir(), Engines: []string{"mysql"}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	inst, ok := sb.Instance(sandbox.InstanceMySQL)
	if !ok {
		t.Fatal("no demo-mysql")
	}
	sec, ok := sb.World.Secret(inst.MasterSecretARN)
	if !ok {
		t.Fatal("no master secret")
	}
	var master struct{ Username, Password string }
	if err := json.Unmarshal([]byte(sec.SecretString), &master); err != nil {
		t.Fatal(err)
	}

	// A database whose name needs quoting and holds LIKE wildcards, and a
	// neighbour that an unescaped _ in a GRANT pattern would also cover.
	const dbName = "Shop_DB-`select`-'q\"-Ünï"
	const neighbour = "ShopXDB-`select`-'q\"-Ünï"
	admin := mysqlFront(t, sb, inst, master.Username, master.Password, "")
	for _, db := range []string{dbName, neighbour} {
		q := QuoteMySQLIdent(db)
		for _, stmt := range []string{"CREATE DATABASE " + q, "CREATE TABLE " + q + ".orders (id int)", "INSERT INTO " + q + ".orders VALUES (1), (2)"} {
			if _, err := admin.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	adminDB := mysqlFront(t, sb, inst, master.Username, master.Password, dbName)
	principal := sb.Principal(sandbox.ProfileAdmin)
	creds := credentials.NewStaticCredentialsProvider(principal.AccessKeyID, principal.SecretAccessKey, principal.SessionToken)
	token := func(user string) string {
		tok, err := iamauth.Build(ctx, iamauth.Endpoint{Host: inst.Endpoint, Port: inst.Port, Region: sb.World.Region, User: user}, creds, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	for _, user := range []string{`x'; drop table t;--`, `a"b`, "back`tick", "select", "Bob-Smith", "zoë-日本", `back\slash`} {
		t.Run(user, func(t *testing.T) {
			spec := Spec{Family: target.FamilyMySQL, User: user, Database: dbName, MasterUser: master.Username}
			plan, err := GrantPlan(spec)
			if err != nil {
				t.Fatal(err)
			}
			res, err := plan.Apply(ctx, adminDB)
			if err != nil || !res.Changed() {
				t.Fatalf("grant: %v %+v\n%s", err, res, plan.SQL())
			}
			res, err = plan.Apply(ctx, adminDB)
			if err != nil || res.Changed() || len(res.Skipped) != len(plan.Steps) {
				t.Fatalf("second grant must change nothing: %v %+v", err, res)
			}
			t.Logf("grant twice: first run executed %d statements, second run skipped %d", len(plan.Steps), len(res.Skipped))

			u := mysqlFront(t, sb, inst, user, token(user), dbName)
			var who string
			if err := u.QueryRowContext(ctx, "SELECT current_user()").Scan(&who); err != nil {
				t.Fatalf("IAM login through the front: %v", err)
			}
			if want := user + "@%"; who != want {
				t.Errorf("current_user() = %q, want %q", who, want)
			}
			var n int
			if err := u.QueryRowContext(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 2 {
				t.Errorf("select: %v %d", err, n)
			}
			for _, q := range []string{
				"INSERT INTO orders VALUES (3)",
				"CREATE TABLE mine (x int)",
				"SELECT count(*) FROM " + QuoteMySQLIdent(neighbour) + ".orders",
			} {
				if _, err := u.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "denied") {
					t.Errorf("%s: %v, want denied", q, err)
				}
			}
			// The front drops REQUIRE SSL when it turns the RDS syntax into
			// its MariaDB emulation, and refuses IAM logins without TLS
			// itself: the plan asks for it, the front enforces it.
			for _, st := range plan.Steps {
				if strings.HasPrefix(st.SQL, "CREATE USER") && !strings.Contains(st.SQL, " REQUIRE SSL") {
					t.Errorf("CREATE USER without REQUIRE SSL: %s", st.SQL)
				}
			}
			if err := withoutTLS(t, sb, inst, user, token(user), dbName).PingContext(ctx); err == nil {
				t.Error("IAM login without TLS accepted")
			} else {
				t.Logf("IAM login without TLS: %v", err)
			}
			u.Close()

			rp, err := RevokePlan(spec)
			if err != nil {
				t.Fatal(err)
			}
			if res, err = rp.Apply(ctx, adminDB); err != nil || !res.Changed() {
				t.Fatalf("revoke: %v %+v", err, res)
			}
			if res, err = rp.Apply(ctx, adminDB); err != nil || res.Changed() {
				t.Errorf("second revoke must change nothing: %v %+v", err, res)
			}
			var count int
			if err := adminDB.QueryRowContext(ctx, "SELECT count(*) FROM mysql.user WHERE User = ?", user).Scan(&count); err != nil || count != 0 {
				t.Errorf("user still in mysql.user: %d %v", count, err)
			}
			err = mysqlFront(t, sb, inst, user, token(user), dbName).PingContext(ctx)
			var me *mysql.MySQLError
			if err == nil || !errors.As(err, &me) || me.Number != 1045 {
				t.Errorf("login after revoke: %v, want access denied (1045)", err)
			}
		})
	}

	// The acceptance: an owner creates a table after the grants;
	// the read-only user reads it and cannot write it, the read-write user
	// writes it; revoke denies both. Each plan runs twice.
	t.Run("group roles", func(t *testing.T) {
		apply := func(t *testing.T, plan *Plan, err error) Result {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			res, err := plan.Apply(ctx, adminDB)
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", plan.Action, plan.Spec.User, err, plan.SQL())
			}
			if again, err := plan.Apply(ctx, adminDB); err != nil || again.Changed() {
				t.Fatalf("second %s %s must change nothing: %v %q", plan.Action, plan.Spec.User, err, again.Executed)
			}
			return res
		}
		spec := func(user string, p Profile, privs ...string) Spec {
			return Spec{Family: target.FamilyMySQL, User: user, Database: dbName, Profile: p, Privileges: privs, MasterUser: master.Username, Engine: "mariadb"}
		}
		for _, g := range []struct {
			user string
			p    Profile
		}{{"reader", ReadOnly}, {"writer", ReadWrite}, {"mig", Owner}} {
			plan, err := GrantPlan(spec(g.user, g.p))
			apply(t, plan, err)
		}
		etl, err := GrantPlan(spec("etl", Custom, "SELECT", "INSERT"))
		apply(t, etl, err)
		can := func(user, q string) bool {
			t.Helper()
			u := mysqlFront(t, sb, inst, user, token(user), dbName)
			defer u.Close()
			_, err := u.ExecContext(ctx, q)
			var me *mysql.MySQLError
			if err != nil && !(errors.As(err, &me) && (me.Number == 1142 || me.Number == 1044)) { // command denied, access denied to the database
				t.Fatalf("%s as %s: %v", q, user, err)
			}
			return err == nil
		}
		if !can("mig", "CREATE TABLE mig_t (id int AUTO_INCREMENT PRIMARY KEY, x text)") || !can("mig", "INSERT INTO mig_t (x) VALUES ('a')") {
			t.Fatal("the owner cannot create and fill a table")
		}
		for _, tc := range []struct {
			user, q string
			want    bool
		}{
			{"reader", "SELECT * FROM mig_t", true},
			{"reader", "INSERT INTO mig_t (x) VALUES ('r')", false},
			{"reader", "DELETE FROM mig_t", false},
			{"reader", "CREATE TABLE r_t (x int)", false},
			{"writer", "INSERT INTO mig_t (x) VALUES ('w')", true},
			{"writer", "UPDATE mig_t SET x = 'w2' WHERE x = 'w'", true},
			{"writer", "DROP TABLE mig_t", false},
			{"etl", "INSERT INTO mig_t (x) VALUES ('e')", true},
			{"etl", "DELETE FROM mig_t", false},
			{"mig", "ALTER TABLE mig_t ADD COLUMN y int", true},
		} {
			if got := can(tc.user, tc.q); got != tc.want {
				t.Errorf("%s: %s allowed %v, want %v", tc.user, tc.q, got, tc.want)
			}
		}
		// A profile change moves the user to the other role.
		plan, err := GrantPlan(spec("reader", ReadWrite))
		apply(t, plan, err)
		plan, err = GrantPlan(spec("reader", ReadOnly))
		res := apply(t, plan, err)
		if write := "REVOKE " + QuoteMySQLLiteral(GroupRole(target.FamilyMySQL, dbName, ReadWrite)) + " FROM 'reader'@'%'"; !slices.Contains(res.Executed, write) {
			t.Errorf("back to read-only did not leave the write role: %q", res.Executed)
		}
		if can("reader", "INSERT INTO mig_t (x) VALUES ('ro')") {
			t.Error("reader back to read-only can still write")
		}
		t.Run("users", func(t *testing.T) {
			checkUsers(t, adminDB, target.FamilyMySQL, master.Username, strings.TrimSuffix(GroupRole(target.FamilyMySQL, dbName, ReadOnly), "read"))
		})
		for _, u := range []string{"reader", "writer", "etl", "mig"} {
			rp, err := RevokePlan(spec(u, ""))
			res := apply(t, rp, err)
			t.Logf("revoke %s: %q", u, res.Executed)
			var me *mysql.MySQLError
			if err := mysqlFront(t, sb, inst, u, token(u), dbName).PingContext(ctx); err == nil || !errors.As(err, &me) || me.Number != 1045 {
				t.Errorf("%s logs in after revoke: %v", u, err)
			}
		}
	})
}
