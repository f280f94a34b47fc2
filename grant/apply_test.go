package grant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/target"
)

// pgAs opens a connection to db as user over the harness's trust socket,
// as the sandbox's pgfront does after an IAM login.
func pgAs(t *testing.T, pg *testharness.Postgres, user, db string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s sslmode=disable", pg.SocketDir, pg.Port, db))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User = user
	h := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { h.Close() })
	return h
}

// TestPostgresGrantRevoke runs the plans against a real PostgreSQL with the
// roles RDS has: rds_iam and a master user with CREATEROLE that is not a
// superuser.
func TestPostgresGrantRevoke(t *testing.T) {
	pg := testharness.StartPostgres(t, testharness.PostgresOptions{})
	pg.Exec(t, `CREATE ROLE rds_iam; CREATE ROLE dbadmin LOGIN CREATEROLE; GRANT rds_iam TO dbadmin WITH ADMIN OPTION`)
	pg.Exec(t, `CREATE DATABASE "Shop-DB" OWNER dbadmin`)
	pg.ExecDB(t, "Shop-DB", `SET ROLE dbadmin; CREATE TABLE orders (id int); INSERT INTO orders VALUES (1), (2)`)
	admin := pgAs(t, pg, "dbadmin", "Shop-DB")
	ctx := context.Background()
	for _, user := range []string{`x'; drop table t;--`, `a"b`, "select", "Bob-Smith"} {
		t.Run(user, func(t *testing.T) {
			spec := Spec{Family: target.FamilyPostgres, User: user, Database: "Shop-DB", MasterUser: "dbadmin"}
			plan, err := GrantPlan(spec)
			if err != nil {
				t.Fatal(err)
			}
			res, err := plan.Apply(ctx, admin)
			if err != nil || !res.Changed() {
				t.Fatalf("grant: %v %+v", err, res)
			}
			if res, err = plan.Apply(ctx, admin); err != nil || res.Changed() {
				t.Fatalf("second grant must change nothing: %v %+v", err, res)
			}
			var iam bool
			if err := admin.QueryRow(`SELECT pg_has_role($1, 'rds_iam', 'MEMBER')`, user).Scan(&iam); err != nil || !iam {
				t.Errorf("not a member of rds_iam: %v", err)
			}
			u := pgAs(t, pg, user, "Shop-DB")
			var n int
			if err := u.QueryRow("SELECT count(*) FROM orders").Scan(&n); err != nil || n != 2 {
				t.Errorf("select: %v %d", err, n)
			}
			for _, q := range []string{"INSERT INTO orders VALUES (3)", "CREATE TABLE mine (x int)"} {
				if _, err := u.Exec(q); err == nil || !strings.Contains(err.Error(), "permission denied") {
					t.Errorf("%s: %v", q, err)
				}
			}
			// A table the admin creates later is readable (default privileges).
			if _, err := admin.Exec(`CREATE TABLE IF NOT EXISTS later (x int)`); err != nil {
				t.Fatal(err)
			}
			if _, err := u.Exec("SELECT * FROM later"); err != nil {
				t.Errorf("future table: %v", err)
			}
			u.Close()
			rp, err := RevokePlan(spec)
			if err != nil {
				t.Fatal(err)
			}
			if res, err = rp.Apply(ctx, admin); err != nil || !res.Changed() {
				t.Fatalf("revoke: %v %+v", err, res)
			}
			if err := pgAs(t, pg, user, "Shop-DB").Ping(); err == nil || !strings.Contains(err.Error(), "does not exist") {
				t.Errorf("login after revoke: %v", err)
			}
			if res, err = rp.Apply(ctx, admin); err != nil || res.Changed() {
				t.Errorf("second revoke: %v %+v", err, res)
			}
		})
	}
	t.Run("owner refuses", func(t *testing.T) {
		spec := Spec{Family: target.FamilyPostgres, User: "builder", Database: "Shop-DB", Profile: Owner}
		plan, _ := GrantPlan(spec)
		if _, err := plan.Apply(ctx, admin); err != nil {
			t.Fatal(err)
		}
		// Out of the owner group's role, the table is the person's own.
		if _, err := pgAs(t, pg, "builder", "Shop-DB").Exec("SET ROLE NONE; CREATE TABLE built (x int)"); err != nil {
			t.Fatalf("owner cannot create: %v", err)
		}
		rp, _ := RevokePlan(spec)
		if _, err := rp.Apply(ctx, admin); err == nil || !strings.Contains(err.Error(), "REASSIGN OWNED BY") {
			t.Errorf("revoke of a role owning objects: %v", err)
		}
	})
}

// TestPostgresGroupRoles is the acceptance on a real PostgreSQL with
// an RDS-like master user (CREATEROLE, not a superuser): an owner creates a
// table after the grants; the read-only user can read it and not write it;
// the read-write user can write it; revoke denies both. Every plan runs
// twice, and the second run changes nothing.
func TestPostgresGroupRoles(t *testing.T) {
	pg := testharness.StartPostgres(t, testharness.PostgresOptions{})
	pg.Exec(t, `CREATE ROLE rds_iam; CREATE ROLE dbadmin LOGIN CREATEROLE; GRANT rds_iam TO dbadmin WITH ADMIN OPTION`)
	const db = "Shop-DB"
	pg.Exec(t, `CREATE DATABASE "Shop-DB" OWNER dbadmin`)
	pg.ExecDB(t, db, `SET ROLE dbadmin; CREATE TABLE orders (id int); INSERT INTO orders VALUES (1)`)
	admin := pgAs(t, pg, "dbadmin", db)
	ctx := context.Background()
	apply := func(t *testing.T, plan *Plan, err error) Result {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		res, err := plan.Apply(ctx, admin)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", plan.Action, plan.Spec.User, err, plan.SQL())
		}
		again, err := plan.Apply(ctx, admin)
		if err != nil || again.Changed() {
			t.Fatalf("second %s %s must change nothing: %v %+v", plan.Action, plan.Spec.User, err, again.Executed)
		}
		return res
	}
	grantTo := func(t *testing.T, user string, p Profile, privs ...string) Result {
		t.Helper()
		plan, err := GrantPlan(Spec{Family: target.FamilyPostgres, User: user, Database: db, Profile: p, Privileges: privs, MasterUser: "dbadmin"})
		return apply(t, plan, err)
	}
	revoke := func(t *testing.T, user string) Result {
		t.Helper()
		plan, err := RevokePlan(Spec{Family: target.FamilyPostgres, User: user, Database: db, MasterUser: "dbadmin"})
		return apply(t, plan, err)
	}
	// can runs q as user and reports whether it was allowed.
	can := func(t *testing.T, user, q string) bool {
		t.Helper()
		u := pgAs(t, pg, user, db)
		defer u.Close()
		_, err := u.ExecContext(ctx, q)
		var pe *pgconn.PgError
		if err != nil && !(errors.As(err, &pe) && pe.Code == "42501") { // insufficient_privilege
			t.Fatalf("%s as %s: %v", q, user, err)
		}
		return err == nil
	}

	grantTo(t, "reader", ReadOnly)
	grantTo(t, "writer", ReadWrite)
	grantTo(t, "mig", Owner)
	grantTo(t, "etl", Custom, "SELECT", "INSERT")
	// After the grants: an owner creates a table, the admin another.
	if !can(t, "mig", "CREATE TABLE mig_t (id serial, x text); INSERT INTO mig_t (x) VALUES ('a')") {
		t.Fatal("the owner cannot create a table")
	}
	var owner string
	if err := admin.QueryRow("SELECT tableowner FROM pg_tables WHERE tablename = 'mig_t'").Scan(&owner); err != nil || owner != "rdsgate_Shop-DB_owner" {
		t.Errorf("mig_t belongs to %q (%v), want the owner group", owner, err)
	}
	if _, err := admin.Exec("CREATE TABLE admin_t (x int)"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, q string
		want    bool
	}{
		{"reader", "SELECT * FROM mig_t", true},
		{"reader", "SELECT * FROM admin_t", true},
		{"reader", "SELECT * FROM orders", true},
		{"reader", "INSERT INTO mig_t (x) VALUES ('r')", false},
		{"reader", "DELETE FROM mig_t", false},
		{"reader", "CREATE TABLE r_t (x int)", false},
		{"writer", "INSERT INTO mig_t (x) VALUES ('w')", true},
		{"writer", "UPDATE mig_t SET x = 'w2' WHERE x = 'w'", true},
		{"writer", "INSERT INTO admin_t VALUES (1)", true},
		{"writer", "DROP TABLE mig_t", false},
		{"etl", "INSERT INTO mig_t (x) VALUES ('e')", true},
		{"etl", "DELETE FROM mig_t", false},
		{"mig", "ALTER TABLE mig_t ADD COLUMN y int", true},
		{"mig", "INSERT INTO orders VALUES (2)", true},
	}
	for _, tc := range tests {
		if got := can(t, tc.user, tc.q); got != tc.want {
			t.Errorf("%s: %s allowed %v, want %v", tc.user, tc.q, got, tc.want)
		}
	}
	// Grants after the owner's table change nothing for the existing
	// users: the default privileges covered it.
	for _, c := range []struct {
		user string
		p    Profile
	}{{"reader", ReadOnly}, {"writer", ReadWrite}, {"mig", Owner}} {
		plan, _ := GrantPlan(Spec{Family: target.FamilyPostgres, User: c.user, Database: db, Profile: c.p})
		if res, err := plan.Apply(ctx, admin); err != nil || res.Changed() {
			t.Errorf("grant %s again after the owner's table: %v %+v", c.user, err, res.Executed)
		}
	}

	t.Run("profile change moves the membership", func(t *testing.T) {
		grantTo(t, "reader", ReadWrite)
		if !can(t, "reader", "INSERT INTO mig_t (x) VALUES ('rw')") {
			t.Error("reader promoted to read-write cannot write")
		}
		res := grantTo(t, "reader", ReadOnly)
		if !slices.Contains(res.Executed, `REVOKE "rdsgate_Shop-DB_write" FROM "reader"`) {
			t.Errorf("back to read-only did not leave the write group: %q", res.Executed)
		}
		if can(t, "reader", "INSERT INTO mig_t (x) VALUES ('ro')") {
			t.Error("reader back to read-only can still write")
		}
	})

	t.Run("users", func(t *testing.T) { checkUsers(t, admin, target.FamilyPostgres, "dbadmin", "rdsgate_Shop-DB_") })

	for _, u := range []string{"reader", "writer", "etl", "mig"} {
		res := revoke(t, u)
		t.Logf("revoke %s: %q", u, res.Executed)
		if err := pgAs(t, pg, u, db).Ping(); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("%s logs in after revoke: %v", u, err)
		}
	}
	// The owner's table outlives the owner: it is the group's.
	var n int
	if err := admin.QueryRow("SELECT count(*) FROM mig_t").Scan(&n); err != nil || n == 0 {
		t.Errorf("mig_t after revoking its creator: %d %v", n, err)
	}
}

// checkUsers checks what ListUsers says of the users TestPostgresGroupRoles
// and the MySQL group roles test make: the access level from the group
// role (prefix is the groups' names before the level), and the custom
// profile's from its own grants.
func checkUsers(t *testing.T, db *sql.DB, fam target.Family, master, prefix string) {
	t.Helper()
	us, err := ListUsers(context.Background(), db, fam, master)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]User{}
	for _, u := range us {
		got[u.Name] = u
		if strings.HasPrefix(u.Name, groupPrefix) {
			t.Errorf("group role %s listed as a user", u.Name)
		}
	}
	for _, want := range []struct {
		name, profile, role string
	}{
		{"reader", "read-only", "read"},
		{"writer", "read-write", "write"},
		{"mig", "owner", "owner"},
		{"etl", "read-write", ""},
		{master, "admin", ""},
	} {
		u, ok := got[want.name]
		var roles []string
		if want.role != "" {
			roles = []string{prefix + want.role}
		}
		if !ok || u.Profile != want.profile || (want.name != master && !slices.Equal(u.Roles, roles)) {
			t.Errorf("%s: %+v, want profile %s through %q", want.name, u, want.profile, roles)
		}
	}
	var b strings.Builder
	if err := WriteUsers(&b, us, "the database"); err != nil {
		t.Fatal(err)
	}
	t.Logf("users:\n%s", b.String())
}
