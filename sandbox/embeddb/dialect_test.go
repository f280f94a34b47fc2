package embeddb

import (
	"errors"
	"strings"
	"testing"
)

func TestTranslate(t *testing.T) {
	pg := translator{s: &session{dialect: postgres, user: "app_user", db: "demo", connID: 7}, vars: pgSetting}
	my := translator{s: &session{dialect: mysqlDialect, user: "app_user", host: "%", db: "demo", connID: 9},
		vars: func(n string) (string, bool) {
			return map[string]string{"version_comment": "x"}[n], n == "version_comment"
		}}
	for _, tc := range []struct {
		name string
		tr   translator
		in   string
		want string
		n    int
	}{
		{"pg current_user aliased", pg, "select current_user as u from t", "select 'app_user' as u from t", 0},
		{"pg current_user gets its name", pg, "select current_user, 1", `select 'app_user' AS "current_user", 1`, 0},
		{"pg in an expression", pg, "select length(current_user)", "select length('app_user')", 0},
		{"pg column of a table is left alone", pg, "select t.user from t", "select t.user from t", 0},
		{"pg quoted name is left alone", pg, `select "current_user" from t`, `select "current_user" from t`, 0},
		{"pg string is left alone", pg, "select 'current_user'", "select 'current_user'", 0},
		{"pg parameters", pg, "select * from t where a = $2 and b = $1", "select * from t where a = ?2 and b = ?1", 2},
		{"pg version()", pg, "select version()", `select 'PostgreSQL ` + PostgresVersion + `' AS "version"`, 0},
		{"pg backend pid", pg, "select pg_backend_pid ( )", `select 7 AS "pg_backend_pid"`, 0},
		{"my current_user()", my, "select current_user()", `select 'app_user@%' AS "current_user()"`, 0},
		{"my sysvar", my, "select @@version_comment limit 1", `select 'x' AS "@@version_comment" limit 1`, 0},
		{"my session sysvar", my, "select @@session.version_comment", `select 'x' AS "@@session.version_comment"`, 0},
		{"my placeholders", my, "select ? + ?", "select ? + ?", 2},
		{"my comment kept", my, "select 1 -- current_user\n", "select 1 -- current_user\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, n, err := tc.tr.translate(tc.in)
			if err != nil || got != tc.want || n != tc.n {
				t.Fatalf("translate(%q) = %q, %d, %v; want %q, %d", tc.in, got, n, err, tc.want, tc.n)
			}
		})
	}
	if _, _, err := my.translate("select @@nope"); err == nil || !strings.Contains(err.Error(), "Unknown system variable 'nope'") {
		t.Fatalf("unknown variable: %v", err)
	}
}

// Queries of system catalogs are refused with what to do instead, not
// SQLite's "no such table"; look-alikes pass.
func TestTranslateCatalogs(t *testing.T) {
	pg := translator{s: &session{dialect: postgres, user: "app_user", db: "demo", connID: 7}, vars: pgSetting}
	my := translator{s: &session{dialect: mysqlDialect, user: "app_user", host: "%", db: "demo", connID: 9}}
	for _, tc := range []struct {
		tr   translator
		in   string
		want string // the catalog named in the error; "" = no error
	}{
		{pg, "select rolname from pg_roles", "pg_roles"},
		{pg, "SELECT r.rolname FROM pg_catalog.pg_roles r", "pg_catalog.pg_roles"},
		{pg, "select * from information_schema.tables", "information_schema.tables"},
		{my, "SELECT u.User FROM mysql.user u", "mysql.user"},
		{my, "select * from `mysql`.`db`", ""}, // quoted names are not words: SQLite's own error
		{pg, "select pg_backend_pid()", ""},
		{pg, "select * from orders where note = 'pg_roles'", ""},
		{my, "select mysql_col from t", ""},
		{pg, "select o.pg_note, 1 as pg_x from orders o", ""},
		{pg, "select * from orders o join pg_auth_members m on true", "pg_auth_members"},
	} {
		_, _, err := tc.tr.translate(tc.in)
		var ce *catalogError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("translate(%q): %v", tc.in, err)
		case tc.want != "" && (!errors.As(err, &ce) || ce.name != tc.want || !strings.Contains(err.Error(), "--backend installed")):
			t.Errorf("translate(%q) = %v, want the catalog error for %s", tc.in, err, tc.want)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("select 1; select ';' ; -- only a comment\n;; select \"a;b\"")
	want := []string{"select 1", "select ';'", `select "a;b"`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", got)
	}
}

// FuzzTranslate: client SQL is the peer's bytes; lexing and translating
// must never panic, and must keep the text outside the rewritten tokens.
func FuzzTranslate(f *testing.F) {
	for _, s := range []string{"select current_user", "select $1, @@version", "'unterminated", "/* open", "select current_user ( ) x", "$", "@@", "`a``b`"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		for _, tr := range []translator{
			{s: &session{dialect: postgres, user: "u"}, vars: pgSetting},
			{s: &session{dialect: mysqlDialect, user: "u"}, vars: func(string) (string, bool) { return "v", true }},
		} {
			_, _, _ = tr.translate(q)
		}
		var b strings.Builder
		for _, tok := range lex(q) {
			b.WriteString(tok.text)
		}
		if b.String() != q {
			t.Fatalf("lex lost text: %q", q)
		}
		_ = splitStatements(q)
	})
}
