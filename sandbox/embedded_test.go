package sandbox

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/dbserver"
)

func TestBackendFor(t *testing.T) {
	defer func(pg, my func() bool) { postgresInstalled, mariadbInstalled = pg, my }(postgresInstalled, mariadbInstalled)
	postgresInstalled = func() bool { return true }
	mariadbInstalled = func() bool { return false }
	for _, tc := range []struct {
		choice, engine, want, err string
	}{
		{"", "postgres", BackendInstalled, ""},
		{"auto", "postgres", BackendInstalled, ""},
		{"auto", "mysql", BackendEmbedded, ""},
		{"embedded", "postgres", BackendEmbedded, ""},
		{"installed", "postgres", BackendInstalled, ""},
		{"installed", "mysql", "", "MariaDB (apt-get install mariadb-server) is not installed"},
		{"sqlite", "mysql", "", `unknown backend "sqlite"`},
	} {
		got, err := backendFor(tc.choice, tc.engine)
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("backendFor(%q, %q) = %q, %v; want %q, %q", tc.choice, tc.engine, got, err, tc.want, tc.err)
		}
	}
}

// An existing server given by URL: the sandbox seeds it (twice: the second
// run takes back what the first made), IAM logins work through the front,
// and a role it did not make is refused, not taken over.
func TestBackendURL(t *testing.T) {
	requireBackends(t, "postgres", "mysql")
	ctx := context.Background()
	pg, err := dbserver.StartPostgres(ctx, dbserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	my, err := dbserver.StartMariaDB(ctx, dbserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer my.Close()
	pgURL := (&url.URL{Scheme: "postgres", User: url.UserPassword(pg.AdminUser, pg.AdminPassword), Host: pg.Addr(), RawQuery: "sslmode=disable"}).String()
	myURL := (&url.URL{Scheme: "mysql", User: url.UserPassword("root", my.AdminPassword), Host: my.Addr()}).String()

	for run := 0; run < 2; run++ {
		sb, err := Start(ctx, Options{Dir: t.TempDir(), BackendURLs: []string{pgURL, myURL}})
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		admin, intern := sb.Principal(ProfileAdmin), sb.Principal(ProfileIntern)
		for _, id := range []string{InstancePG, InstanceMySQL} {
			inst, _ := sb.Instance(id)
			if inst.Backend != BackendURL {
				t.Errorf("%s: backend %q", id, inst.Backend)
			}
			if who, err := login(t, sb, inst, admin, IAMUser); err != nil || who != IAMUser {
				t.Errorf("run %d %s: admin as app_user: %q, %v", run, id, who, err)
			}
			if _, err := login(t, sb, inst, intern, IAMUser); err == nil {
				t.Errorf("run %d %s: the intern got in", run, id)
			}
		}
		if err := sb.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}

	// The catalog emulation and the rdsadmin rename are for the sandbox's own
	// throwaway server only: a server given by URL keeps its mysql.user view
	// and its root.
	mdb, err := sql.Open("mysql", my.MySQLConfig("").FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer mdb.Close()
	var view, vname, cs, coll string
	var roots int
	if err := mdb.QueryRowContext(ctx, "SHOW CREATE VIEW mysql.user").Scan(&vname, &view, &cs, &coll); err != nil {
		t.Fatal(err)
	}
	if err := mdb.QueryRowContext(ctx, "SELECT count(*) FROM mysql.global_priv WHERE User = 'root'").Scan(&roots); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(view, "rdsgate") || roots == 0 || my.AdminUser != "root" {
		t.Errorf("the URL server's catalog was changed: %d root accounts, view %.200s", roots, view)
	}

	// A role of the server's own is not taken over.
	c, err := pgx.Connect(ctx, pg.AdminDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "COMMENT ON ROLE app_user IS 'ours'"); err != nil {
		t.Fatal(err)
	}
	_, err = Start(ctx, Options{Dir: t.TempDir(), Engines: []string{"postgres"}, BackendURLs: []string{pgURL}})
	if err == nil || !strings.Contains(err.Error(), `role "app_user" already exists`) || strings.Contains(err.Error(), pg.AdminPassword) {
		t.Fatalf("foreign role: %v", err)
	}
	if _, err := Start(ctx, Options{Dir: t.TempDir(), BackendURLs: []string{"oracle://x@y:1"}}); err == nil || !strings.Contains(err.Error(), "postgres:// or mysql://") {
		t.Fatalf("bad scheme: %v", err)
	}
}
