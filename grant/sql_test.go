package grant

import (
	"errors"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/target"
)

func TestQuoting(t *testing.T) {
	tests := []struct{ got, want string }{
		{QuotePGIdent(`a"b`), `"a""b"`},
		{QuotePGIdent("select"), `"select"`},
		{QuotePGIdent("Jane-Doe"), `"Jane-Doe"`},
		{QuotePGIdent(`x'; drop table t;--`), `"x'; drop table t;--"`},
		{QuotePGLiteral(`it's`), `'it''s'`},
		{QuotePGLiteral(`a\'b`), `E'a\\''b'`},
		{QuoteMySQLIdent("a`b"), "`a``b`"},
		{QuoteMySQLIdent("select"), "`select`"},
		{QuoteMySQLLiteral(`x'; drop table t;--`), `'x''; drop table t;--'`},
		{QuoteMySQLLiteral(`a\b`), `'a\\b'`},
		{QuoteMySQLLiteral("a\x00b\n"), `'a\0b\n'`},
		{mysqlDBPattern("my_db%"), `my\_db\%`},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
}

func TestSQLGolden(t *testing.T) {
	var all strings.Builder
	for _, tc := range []struct {
		name   string
		revoke bool
		spec   Spec
	}{
		{"pg read-only", false, Spec{Family: target.FamilyPostgres, User: "bob", Database: "demo"}},
		{"pg read-write hostile", false, Spec{Family: target.FamilyPostgres, User: `x'; drop table t;--`, Database: `Sales-DB`, Schemas: []string{"select", `a"b`}, Profile: ReadWrite}},
		{"pg owner", false, Spec{Family: target.FamilyPostgres, User: "Jane", Database: "demo", Profile: Owner}},
		{"pg custom", false, Spec{Family: target.FamilyPostgres, User: "etl", Database: "demo", Profile: Custom, Privileges: []string{"select", "insert"}}},
		{"pg revoke", true, Spec{Family: target.FamilyPostgres, User: `a"b`, Database: "demo"}},
		{"pg read-only, a database name too long for the group's", false, Spec{Family: target.FamilyPostgres, User: "bob", Database: strings.Repeat("d", 60)}},
		{"mysql 8 read-only", false, Spec{Family: target.FamilyMySQL, User: "bob", Database: "demo", Engine: "mysql", EngineVersion: "8.0.36"}},
		{"mariadb read-write hostile", false, Spec{Family: target.FamilyMySQL, User: `x'; drop table t;--`, Database: "my_db`x", Profile: ReadWrite, Engine: "mariadb"}},
		{"mariadb owner", false, Spec{Family: target.FamilyMySQL, User: "select", Database: "demo", Profile: Owner, Engine: "mariadb"}},
		{"mariadb custom", false, Spec{Family: target.FamilyMySQL, User: "etl", Database: "demo", Profile: Custom, Privileges: []string{"select", "insert"}, Engine: "mariadb"}},
		{"mysql 5.7 read-only: no roles", false, Spec{Family: target.FamilyMySQL, User: "bob", Database: "demo", Engine: "mysql", EngineVersion: "5.7.44"}},
		{"mysql revoke", true, Spec{Family: target.FamilyMySQL, User: `a\b'c`, Database: "demo"}},
	} {
		plan, err := GrantPlan(tc.spec)
		if tc.revoke {
			plan, err = RevokePlan(tc.spec)
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		all.WriteString("-- " + tc.name + "\n" + plan.SQL() + "\n")
	}
	golden(t, "sql.golden", all.String())
}

func TestRefusals(t *testing.T) {
	for _, s := range []Spec{
		{Family: target.FamilyPostgres, User: "dbadmin", Database: "demo", MasterUser: "dbadmin"},
		{Family: target.FamilyMySQL, User: "Admin", Database: "demo", MasterUser: "admin"},
	} {
		if _, err := GrantPlan(s); !errors.Is(err, ErrMasterUser) || !strings.Contains(err.Error(), "master user") {
			t.Errorf("grant to the master user: %v", err)
		}
		if _, err := RevokePlan(s); !errors.Is(err, ErrMasterUser) {
			t.Errorf("revoke of the master user: %v", err)
		}
	}
	for _, s := range []Spec{
		{Family: target.FamilyPostgres, User: "rds_iam", Database: "d"},
		{Family: target.FamilyPostgres, User: "a\x00b", Database: "d"},
		{Family: target.FamilyPostgres, User: "x\nDROP DATABASE demo;\n--", Database: "d"},
		{Family: target.FamilyMySQL, User: "u", Database: "d\rx"},
		{Family: target.FamilyPostgres, User: "u", Database: "d", Schemas: []string{"s\x1b[2J"}},
		{Family: target.FamilyPostgres, User: strings.Repeat("x", 64), Database: "d"},
		{Family: target.FamilyMySQL, User: "u"},
		{Family: target.FamilyMySQL, User: "u", Database: "d", Profile: Custom, Privileges: []string{"SUPER"}},
		{Family: target.FamilyPostgres, User: "u", Database: "d", Profile: Custom, Privileges: []string{"SELECT; DROP TABLE x"}},
	} {
		if _, err := GrantPlan(s); err == nil {
			t.Errorf("accepted %+v", s)
		}
	}
}

// The plan's "-- " header must stay one comment line whatever the names.
func TestSummaryStaysAComment(t *testing.T) {
	tests := []struct {
		desc string
		plan Plan
		want string
	}{
		{"plain", Plan{Action: "grant", Spec: Spec{User: "jane", Database: "orders", Profile: ReadOnly}},
			"grant read-only to jane on demo-pg (postgres), database orders"},
		{"a newline in the user", Plan{Action: "revoke", Spec: Spec{User: "x\nDROP DATABASE demo;\n--", Database: "demo"}},
			`revoke "x\nDROP DATABASE demo;\n--" on demo-pg (postgres), database demo`},
		{"a carriage return in the database", Plan{Action: "grant", Spec: Spec{User: "u", Database: "a\rb", Profile: ReadWrite}},
			`grant read-write to u on demo-pg (postgres), database "a\rb"`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got := tc.plan.Summary("demo-pg", "postgres")
			if got != tc.want {
				t.Errorf("Summary = %q, want %q", got, tc.want)
			}
			if strings.ContainsAny(got, "\r\n") {
				t.Errorf("Summary %q breaks the comment line", got)
			}
		})
	}
}

// Refusals that a setting fixes name the setting; a caller spells it (the
// command line: as its flag).
func TestRefusalsNameSettings(t *testing.T) {
	flags := setting.Style{Assign: " ", Names: map[setting.Name]string{setting.Database: "--database",
		setting.Privileges: "--privileges", setting.ReadOnly: "--read-only", setting.User: "--user", setting.AttachTo: "--attach-to"}}
	_, noDB := GrantPlan(Spec{Family: target.FamilyMySQL, User: "u"})
	_, noPrivileges := GrantPlan(Spec{Family: target.FamilyPostgres, User: "u", Database: "d", Profile: Custom})
	_, master := GrantPlan(Spec{Family: target.FamilyPostgres, User: "dbadmin", Database: "d", MasterUser: "dbadmin"})
	_, noUser := Policy(Access{})
	_, badPrincipal := AttachCommand("arn:x", "n", Document{})
	tests := []struct {
		desc          string
		err           error
		neutral, flag string
	}{
		{"no database", noDB, "no database: pass database (", "no database: pass --database ("},
		{"custom without privileges", noPrivileges, "e.g. privileges=SELECT,INSERT", "e.g. --privileges SELECT,INSERT"},
		{"master user", master, "rdsgate grant TARGET jane read_only", "rdsgate grant TARGET jane --read-only"},
		{"policy without a user", noUser, "pass user=DBUSER (", "pass --user DBUSER ("},
		{"bad principal", badPrincipal, `attach_to "arn:x": use role/NAME`, `--attach-to "arn:x": use role/NAME`},
	}
	for _, tc := range tests {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.desc)
			continue
		}
		if got := tc.err.Error(); !strings.Contains(got, tc.neutral) {
			t.Errorf("%s: %q, want it to contain %q", tc.desc, got, tc.neutral)
		}
		if got := setting.Render(tc.err, flags); !strings.Contains(got, tc.flag) {
			t.Errorf("%s with flags: %q, want it to contain %q", tc.desc, got, tc.flag)
		}
	}
	if !errors.Is(master, ErrMasterUser) {
		t.Error("the master user refusal is not ErrMasterUser")
	}
	flags.Names[setting.Apply], flags.Names[setting.Schema] = "--apply", "--schema"
	p := &Plan{Action: "grant", Spec: Spec{User: "u", Database: "d"}}
	for _, tc := range []struct{ err, flag string }{
		{"permission denied for table x", "`rdsgate grant` prints without --apply)"},
		{`schema "s" does not exist`, "(pass --schema with a schema that exists in database d)"},
		{"cannot be dropped because some objects depend on it", "run rdsgate revoke with --database for each"},
	} {
		if got := hint(p, errors.New(tc.err)).Render(flags); !strings.Contains(got, tc.flag) {
			t.Errorf("hint for %q: %q, want it to contain %q", tc.err, got, tc.flag)
		}
	}
}
