package mysql

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/target"
)

// The SQL and the command in the hint the proxy sends for a user that is
// not an IAM user name exactly that user, whatever it holds: one string
// literal, then the rest of the statement.
func TestHintsQuoteTheUser(t *testing.T) {
	s := &proxy.Session{Upstream: &proxy.Upstream{
		Target:      target.Target{Identifier: "orders-mysql", Host: endpoint, Port: port, Region: region, ResourceID: "db-TESTMYSQL"},
		Credentials: &proxy.IAMCredentials{Host: endpoint, Port: port, Region: region},
	}}
	for _, user := range []string{
		"app_user",
		"App User",
		`x'; DROP DATABASE demo; --`,
		`x\'; DROP DATABASE demo; --`,
		`x\`,
		`x"; DROP DATABASE demo; --`,
		"x\nDROP DATABASE demo;\n--",
		"x\x1a\r\x00y",
		"x`; DROP DATABASE demo; --",
		`$(echo pwned)`,
		"a'b\"c`d\\e$f%g_h",
	} {
		t.Run(user, func(t *testing.T) {
			msg := notIAMUser(s, user, "refused the login").Error()
			got, rest, ok := mysqlLiteralAfter(msg, "CREATE USER ")
			if !ok || got != user || !strings.HasPrefix(rest, " IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS';") {
				t.Errorf("CREATE USER names %q then %.30q, want %q then IDENTIFIED WITH:\n%s", got, rest, user, msg)
			}
			if strings.ContainsRune(user, 0) {
				return // no shell argument holds a NUL
			}
			if args := shellArgs(t, msg); !slices.Equal(args, []string{"grant", "orders-mysql", user}) {
				t.Errorf("the rdsgate command runs with %q, want grant orders-mysql %q:\n%s", args, user, msg)
			}
		})
	}
}

// mysqlLiteralAfter reads the string literal after prefix in s as MySQL
// does in its default sql_mode: ” for ', and backslash escapes.
func mysqlLiteralAfter(s, prefix string) (lit, rest string, ok bool) {
	_, after, ok := strings.Cut(s, prefix)
	if !ok || !strings.HasPrefix(after, "'") {
		return "", "", false
	}
	unescape := map[byte]string{'0': "\x00", '\'': "'", '"': `"`, 'b': "\b", 'n': "\n", 'r': "\r", 't': "\t", 'Z': "\x1a", '\\': `\`, '%': `\%`, '_': `\_`}
	var b strings.Builder
	for i := 1; i < len(after); i++ {
		switch c := after[i]; {
		case c == '\\' && i+1 < len(after):
			i++
			if u, ok := unescape[after[i]]; ok {
				b.WriteString(u)
			} else {
				b.WriteByte(after[i])
			}
		case c == '\'' && i+1 < len(after) && after[i+1] == '\'':
			b.WriteByte('\'')
			i++
		case c == '\'':
			return b.String(), after[i+1:], true
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

// shellArgs runs the `rdsgate ...` command quoted in msg with a POSIX
// shell whose rdsgate prints its arguments.
func shellArgs(t *testing.T, msg string) []string {
	t.Helper()
	_, after, ok := strings.Cut(msg, "`rdsgate ")
	if !ok {
		t.Fatalf("no rdsgate command in %q", msg)
	}
	end := strings.LastIndex(after, "`") // the user's own backticks are quoted
	if end < 0 {
		t.Fatalf("unterminated command in %q", msg)
	}
	out, err := exec.Command("sh", "-c", `rdsgate() { printf '%s\0' "$@"; }; rdsgate `+after[:end]).Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}
