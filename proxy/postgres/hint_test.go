package postgres

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/pgwire"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/target"
)

// hostileNames are user names that a raw or Go-quoted hint would turn into
// another statement or command when an admin copies it.
var hostileNames = []string{
	"app_user",
	"App User",
	`x"; DROP DATABASE demo; --`,
	`x'; DROP DATABASE demo; --`,
	"x\nDROP DATABASE demo;\n--",
	"x`; DROP DATABASE demo; --",
	`x\"; DROP DATABASE demo; --`,
	`$(echo pwned)`,
	"a'b\"c`d\\e$f",
}

// The SQL and the command in the hints the proxy sends name exactly the
// user, whatever it holds: one identifier, then the statement's end.
func TestHintsQuoteTheUser(t *testing.T) {
	up := &proxy.Upstream{
		Target:      target.Target{Identifier: "orders", Host: endpoint, Port: 5432, Region: region, ResourceID: "db-TEST"},
		Credentials: &proxy.IAMCredentials{Host: endpoint, Port: 5432, Region: region},
	}
	for _, user := range hostileNames {
		t.Run(user, func(t *testing.T) {
			_, err := New().answerAuth(context.Background(), up, user, pgwire.AuthMD5Password, []byte("salt"), new(*pgwire.SCRAMClient), new(bool))
			var pgErr *pgwire.Error
			if !errors.As(err, &pgErr) {
				t.Fatalf("answerAuth: %v", err)
			}
			for _, tc := range []struct{ desc, text string }{
				{"not-IAM hint", pgErr.Hint},
				{"refused-login hint", loginHint(&proxy.Session{Upstream: up}, user)},
			} {
				got, rest, ok := grantedIdent(tc.text)
				if !ok || got != user || !(strings.HasPrefix(rest, ";") || strings.HasPrefix(rest, ")")) {
					t.Errorf("%s names %q then %.20q, want %q then the statement's end:\n%s", tc.desc, got, rest, user, tc.text)
				}
			}
			if args := shellArgs(t, pgErr.Hint); !slices.Equal(args, []string{"grant", "orders", user}) {
				t.Errorf("the rdsgate command runs with %q, want grant orders %q:\n%s", args, user, pgErr.Hint)
			}
		})
	}
}

// grantedIdent reads the identifier after "GRANT rds_iam TO " in s as
// PostgreSQL does: a quoted identifier with "" for ", or a bare word up to a
// space or ; (folded to lower case).
func grantedIdent(s string) (ident, rest string, ok bool) {
	_, after, ok := strings.Cut(s, "GRANT rds_iam TO ")
	if !ok {
		return "", "", false
	}
	if !strings.HasPrefix(after, `"`) {
		end := strings.IndexAny(after, " ;)")
		if end < 0 {
			return "", "", false
		}
		return strings.ToLower(after[:end]), after[end:], true
	}
	var b strings.Builder
	for i := 1; i < len(after); i++ {
		if after[i] != '"' {
			b.WriteByte(after[i])
			continue
		}
		if i+1 < len(after) && after[i+1] == '"' {
			b.WriteByte('"')
			i++
			continue
		}
		return b.String(), after[i+1:], true
	}
	return "", "", false
}

// shellArgs runs the `rdsgate ...` command quoted in hint with a POSIX
// shell whose rdsgate prints its arguments.
func shellArgs(t *testing.T, hint string) []string {
	t.Helper()
	_, after, ok := strings.Cut(hint, "`rdsgate ")
	if !ok {
		t.Fatalf("no rdsgate command in %q", hint)
	}
	end := strings.LastIndex(after, "`") // the user's own backticks are quoted
	if end < 0 {
		t.Fatalf("unterminated command in %q", hint)
	}
	out, err := exec.Command("sh", "-c", `rdsgate() { printf '%s\0' "$@"; }; rdsgate `+after[:end]).Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}
