package grant

import (
	"fmt"
	"strings"
	"unicode"
)

// Name length limits: PostgreSQL truncates identifiers to NAMEDATALEN-1
// bytes, MariaDB allows 80 characters in a user name (MySQL 8: 32).
const (
	maxPGName    = 63
	maxMySQLName = 80
)

// QuotePGIdent quotes s as a PostgreSQL identifier: "..." with " doubled.
// Quoting always keeps capitals and makes reserved words usable.
func QuotePGIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// QuotePGLiteral quotes s as a PostgreSQL string literal: '...' with '
// doubled, or E'...' with backslashes doubled too when s has one, so the
// result means s whatever standard_conforming_strings says.
func QuotePGLiteral(s string) string {
	if strings.Contains(s, `\`) {
		return `E'` + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + `'`
	}
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}

// QuoteMySQLIdent quotes s as a MySQL/MariaDB identifier: `...` with `
// doubled.
func QuoteMySQLIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// QuoteMySQLLiteral quotes s as a MySQL/MariaDB string literal for the
// default sql_mode: ' doubled, backslash doubled, and NUL, newline, carriage
// return and Ctrl-Z escaped. Under NO_BACKSLASH_ESCAPES a backslash means
// itself, so Plan.Apply refuses names with backslashes in that mode.
func QuoteMySQLLiteral(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`, "\x00", `\0`, "\n", `\n`, "\r", `\r`, "\x1a", `\Z`).Replace(s) + "'"
}

// mysqlAccount is 'user'@'host'.
func mysqlAccount(user, host string) string {
	return QuoteMySQLLiteral(user) + "@" + QuoteMySQLLiteral(host)
}

// mysqlDBPattern escapes the wildcards _ and % of a database-level GRANT, so
// that GRANT ... ON `my_db`.* does not also cover myXdb.
func mysqlDBPattern(db string) string {
	return strings.NewReplacer(`\`, `\\`, `_`, `\_`, `%`, `\%`).Replace(db)
}

// checkName refuses names no engine can hold safely.
func checkName(kind, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s name", kind)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("%s name %q contains a NUL byte, which no database accepts", kind, s)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		// Legal when quoted, but a newline or escape in a name breaks every
		// log line, plan comment and psql listing that shows it.
		return fmt.Errorf("%s name %q contains a control character (newline, tab, escape): choose a name without one", kind, s)
	case len(s) > max:
		return fmt.Errorf("%s name %q is %d bytes long; the engine keeps at most %d: choose a shorter one", kind, s, len(s), max)
	}
	return nil
}

// Command is the rdsgate command line that grants user IAM login on the
// target instance, for hints; each word is quoted for a POSIX shell, so a
// user name copied from a hint cannot run anything else.
func Command(instance, user string) string {
	return "rdsgate grant " + shellWord(instance) + " " + shellWord(user)
}

// shellWord is s as one POSIX shell word: as it is when it holds only
// characters no shell treats specially, else in single quotes.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
