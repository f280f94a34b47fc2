package session

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		desc, in, want string
	}{
		{"pg create role", `CREATE ROLE bob LOGIN PASSWORD 'S3cret!'`, `CREATE ROLE bob LOGIN PASSWORD '***'`},
		{"pg alter role, lower case, quotes doubled", `alter role "bob" with encrypted password 'it''s; DROP'`, `alter role "bob" with encrypted password '***'`},
		{"pg E string with backslash", `ALTER USER bob PASSWORD E'a\'b'`, `ALTER USER bob PASSWORD '***'`},
		{"pg dollar quoted", `ALTER ROLE bob PASSWORD $pw$x'y$pw$ VALID UNTIL '2030-01-01'`, `ALTER ROLE bob PASSWORD '***' VALID UNTIL '2030-01-01'`},
		{"psql \\password sends a verifier", `ALTER USER bob PASSWORD 'SCRAM-SHA-256$4096:abc$def:ghi'`, `ALTER USER bob PASSWORD '***'`},
		{"pg user mapping options", `CREATE USER MAPPING FOR bob SERVER s OPTIONS (user 'bob', password 'pw')`, `CREATE USER MAPPING FOR bob SERVER s OPTIONS (user 'bob', password '***')`},
		{"dblink connection string", `SELECT dblink_connect('host=db user=u password=pw dbname=d')`, `SELECT dblink_connect('***')`},
		{"mysql create user", "CREATE USER 'jane'@'%' IDENTIFIED BY 'pw' REQUIRE SSL", "CREATE USER 'jane'@'%' IDENTIFIED BY '***' REQUIRE SSL"},
		{"mysql double-quoted string", `CREATE USER jane IDENTIFIED BY "pw"`, `CREATE USER jane IDENTIFIED BY '***'`},
		{"mysql plugin and introducer", "ALTER USER 'j'@'%' IDENTIFIED WITH caching_sha2_password BY _utf8mb4'pw'", "ALTER USER 'j'@'%' IDENTIFIED WITH caching_sha2_password BY _utf8mb4'***'"},
		{"mysql replace old", "ALTER USER j IDENTIFIED BY 'new' REPLACE 'old'", "ALTER USER j IDENTIFIED BY '***' REPLACE '***'"},
		{"mariadb via using", "CREATE USER j IDENTIFIED VIA ed25519 USING PASSWORD('pw')", "CREATE USER j IDENTIFIED VIA ed25519 USING PASSWORD('***')"},
		{"set password for", "SET PASSWORD FOR 'j'@'%' = 'pw'", "SET PASSWORD FOR 'j'@'%' = '***'"},
		{"set password function", "SET PASSWORD = PASSWORD('pw')", "SET PASSWORD = PASSWORD('***')"},
		{"replication", "CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='pw'", "CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='***'"},
		{"a password column", "UPDATE accounts SET password = 'pw' WHERE id = 1", "UPDATE accounts SET password = '***' WHERE id = 1"},
		{"two statements", "SET PASSWORD = 'a'; SELECT 'b' = 'b'", "SET PASSWORD = '***'; SELECT 'b' = 'b'"},
		{"a cut statement", "ALTER ROLE bob PASSWORD 'abcdef", "ALTER ROLE bob PASSWORD '***'"},
		{"IAM users keep their marker", "CREATE USER 'j'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL", ""},
		{"password in a comment is code, not a literal", "SELECT 1 -- PASSWORD\n, 'x'", ""},
		{"a word that only looks like one", "SELECT passwords, 'x' FROM t", ""},
		{"ordinary statement", "SELECT * FROM orders WHERE note = 'password reset'", ""},
		{"an identifier named password", `SELECT "password" FROM users`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			want := tc.want
			if want == "" {
				want = tc.in
			}
			got, changed := Redact(tc.in)
			if got != want || changed != (want != tc.in) {
				t.Errorf("Redact(%q)\n got %q, %v\nwant %q", tc.in, got, changed, want)
			}
		})
	}
}

func TestRecorderRedactsStatements(t *testing.T) {
	var buf bytes.Buffer
	r := NewRecorder(nil, NewWriterSink(&buf))
	r.Statement(Record{ID: "s1"}, "ALTER ROLE app PASSWORD 'hunter2'")
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ev Event
	if err := json.Unmarshal(buf.Bytes(), &ev); err != nil {
		t.Fatalf("%v: %q", err, buf.String())
	}
	if strings.Contains(buf.String(), "hunter2") || !ev.Redacted || ev.Statement != "ALTER ROLE app PASSWORD '***'" {
		t.Errorf("recorded %s", buf.String())
	}
}

func FuzzRedact(f *testing.F) {
	for _, s := range []string{"ALTER ROLE a PASSWORD 'x'", "SET PASSWORD = PASSWORD('x')", "$a$ $", "E'\\", "/* ", "IDENTIFIED BY _x\"y\"", "'a'';'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, changed := Redact(s)
		if !changed && got != s {
			t.Fatalf("unchanged but different: %q -> %q", s, got)
		}
		if changed && !strings.Contains(got, redacted) {
			t.Fatalf("changed without a mark: %q -> %q", s, got)
		}
		// A secret after PASSWORD never survives what precedes it, unless
		// that leaves a quote or comment open.
		if strings.ContainsAny(s, "'\"`$-#/\\") {
			return
		}
		const secret = "zq9SECRETzq9"
		if got, _ := Redact(s + "; ALTER ROLE r PASSWORD '" + secret + "'"); strings.Contains(got, secret) {
			t.Fatalf("secret kept: %q", got)
		}
	})
}
