package grant

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
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
		if _, err := pgAs(t, pg, "builder", "Shop-DB").Exec("CREATE TABLE built (x int)"); err != nil {
			t.Fatalf("owner cannot create: %v", err)
		}
		rp, _ := RevokePlan(spec)
		if _, err := rp.Apply(ctx, admin); err == nil || !strings.Contains(err.Error(), "REASSIGN OWNED BY") {
			t.Errorf("revoke of a role owning objects: %v", err)
		}
	})
}
