package mysqlfront

import (
	"strings"
	"testing"
)

var testSecret = []byte("0123456789abcdef-sandbox-secret")

func TestRewriteQuery(t *testing.T) {
	clause := func(user string) string { return iamAuthClause(testSecret, user) }
	for _, c := range []struct {
		in, want string
	}{
		{"CREATE USER 'bob'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL",
			"CREATE USER 'bob'@'%' " + clause("bob") + " "},
		{"create user bob identified with awsauthenticationplugin as 'rds'",
			"create user bob " + clause("bob")},
		{"  /* grant */ CREATE USER IF NOT EXISTS `jane`@`10.0.%` IDENTIFIED WITH 'AWSAuthenticationPlugin' AS \"RDS\";",
			"  /* grant */ CREATE USER IF NOT EXISTS `jane`@`10.0.%` " + clause("jane") + ";"},
		{"CREATE OR REPLACE USER 'a''b'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL WITH MAX_USER_CONNECTIONS 5",
			"CREATE OR REPLACE USER 'a''b'@'%' " + clause("a'b") + "  WITH MAX_USER_CONNECTIONS 5"},
		{"ALTER USER 'x\\'; drop table t;--'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'",
			"ALTER USER 'x\\'; drop table t;--'@'%' " + clause("x'; drop table t;--")},
		{"CREATE USER p@'%' IDENTIFIED BY 'pw', q IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL",
			"CREATE USER p@'%' IDENTIFIED BY 'pw', q " + clause("q") + " "},
		{"CREATE USER \"dq\"\"x\" IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL AND X509",
			"CREATE USER \"dq\"\"x\" " + clause("dq\"x") + " REQUIRE SSL AND X509"},
	} {
		got, ok := RewriteQuery(testSecret, c.in)
		if !ok || got != c.want {
			t.Errorf("RewriteQuery(%q)\n got %q, %v\nwant %q", c.in, got, ok, c.want)
		}
		if !mayRewrite([]byte(c.in)) {
			t.Errorf("mayRewrite(%q) = false", c.in)
		}
	}
	for _, in := range []string{
		"SELECT 'CREATE USER bob IDENTIFIED WITH AWSAuthenticationPlugin AS ''RDS'''",
		"CREATE USER bob IDENTIFIED BY 'AWSAuthenticationPlugin'",
		"CREATE USER bob IDENTIFIED WITH AWSAuthenticationPlugin AS 'other'",
		"CREATE TABLE AWSAuthenticationPlugin (a int)",
		"CREATE USER 'unterminated IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS",
		"DROP USER bob",
		"",
	} {
		if got, ok := RewriteQuery(testSecret, in); ok || got != in {
			t.Errorf("RewriteQuery(%q) = %q, %v; want unchanged", in, got, ok)
		}
	}
	for _, in := range []string{"SELECT 1", "INSERT INTO t VALUES ('AWSAuthenticationPlugin')", "create table t (a int)", ""} {
		if mayRewrite([]byte(in)) {
			t.Errorf("mayRewrite(%q) = true", in)
		}
	}
}

func TestIAMUserSQL(t *testing.T) {
	got := IAMUserSQL(testSecret, `o'k\`, "%")
	want := `CREATE USER 'o''k\\'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('` + DerivedPassword(testSecret, `o'k\`) + `')`
	if got != want {
		t.Errorf("IAMUserSQL = %q, want %q", got, want)
	}
	d := DerivedPassword(testSecret, "bob")
	if len(d) != 43 || strings.ContainsAny(d, "'\\=+/") || d == DerivedPassword(testSecret, "Bob") || d == DerivedPassword([]byte("other secret 123"), "bob") {
		t.Errorf("DerivedPassword = %q", d)
	}
}

func TestMayRewriteDoesNotAllocate(t *testing.T) {
	q := []byte("SELECT * FROM orders WHERE id = 42 AND note = 'AWSAuthenticationPlugin'")
	c := []byte("CREATE TABLE t (id int primary key, note text)")
	if n := testing.AllocsPerRun(100, func() { mayRewrite(q); mayRewrite(c) }); n != 0 {
		t.Errorf("mayRewrite allocates %v times", n)
	}
}

func FuzzRewriteQuery(f *testing.F) {
	f.Add("CREATE USER 'bob'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL")
	f.Add("ALTER USER `a``b` IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'")
	f.Add("CREATE USER a IDENTIFIED VIA x USING PASSWORD('y'), b IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'")
	f.Fuzz(func(t *testing.T, q string) {
		got, ok := RewriteQuery(testSecret, q)
		if !ok {
			if got != q {
				t.Fatal("changed without ok")
			}
			return
		}
		if !strings.Contains(got, "IDENTIFIED VIA mysql_native_password USING PASSWORD('") {
			t.Fatalf("rewrite without the emulation clause: %q", got)
		}
		// A rewritten statement still lexes, and has nothing left to rewrite.
		if _, ok := lex(got); !ok {
			t.Fatalf("rewrite does not lex: %q", got)
		}
		if again, ok := RewriteQuery(testSecret, got); ok {
			t.Fatalf("rewrite not idempotent: %q -> %q", got, again)
		}
		_ = mayRewrite([]byte(q))
	})
}
