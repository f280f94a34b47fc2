package mysqlfront

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/rdsgate/rdsgate/mysqlwire"
)

// The IAM emulation. MariaDB has no AWSAuthenticationPlugin, so an IAM user
// exists in the backend as
//
//	CREATE USER 'u'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('<derived>')
//
// where derived = base64url(HMAC-SHA256(Config.Secret, user)) (no padding).
// The front recognises IAM users by comparing the account's
// authentication_string (mysql.user, read over the admin connection) with
// the native-password hash of the derived password, and logs them in to
// the backend itself with it. Nobody but the front knows the derived
// password.
//
// So that one SQL works on RDS and in the sandbox, the front rewrites
// COM_QUERY statements CREATE [OR REPLACE] USER / ALTER USER ...
// IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' to the derived-password
// form before relaying them (see RewriteQuery). A REQUIRE SSL clause of
// such a statement is dropped in the backend: the front itself refuses
// every IAM login without TLS (as RDS does: IAM authentication needs SSL),
// while its backend leg is plain, where the backend would refuse an account
// that requires SSL. Password accounts created with REQUIRE SSL therefore
// cannot log in through the front; create sandbox password users without it.
//
// EmulateIAMCatalog makes mysql.user show such users as RDS does (plugin
// AWSAuthenticationPlugin, authentication_string 'RDS'); see catalog.go.
//
// Limits of the emulation: COM_CHANGE_USER to an IAM user is relayed and
// refused by the backend (RDS would switch to mysql_clear_password); the
// IAM check does not consider which account host pattern the client's
// address matches (any account with the user name and the derived hash
// makes the user IAM-enabled).

// DerivedPassword returns the backend password of IAM user user:
// base64url(HMAC-SHA256(secret, user)) without padding. It is a credential:
// never log it.
func DerivedPassword(secret []byte, user string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(user))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func nativeHashOfDerived(secret []byte, user string) string {
	return mysqlwire.NativePasswordHash(DerivedPassword(secret, user))
}

// IAMUserSQL returns the statement that creates user@host as an IAM user of
// the sandbox's emulation:
//
//	CREATE USER 'user'@'host' IDENTIFIED VIA mysql_native_password USING PASSWORD('<derived>')
//
// with both names quoted for MariaDB. It contains the derived password: do
// not log it.
func IAMUserSQL(secret []byte, user, host string) string {
	return "CREATE USER " + quoteString(user) + "@" + quoteString(host) + " " + iamAuthClause(secret, user)
}

func iamAuthClause(secret []byte, user string) string {
	// The derived password is base64url: no quote or backslash to escape.
	return "IDENTIFIED VIA mysql_native_password USING PASSWORD('" + DerivedPassword(secret, user) + "')"
}

// quoteString quotes s as a MariaDB string literal for the default sql_mode:
// quotes and backslashes doubled, NUL written as \0.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`, "\x00", `\0`).Replace(s) + "'"
}

// mayRewrite is the relay's cheap test of a COM_QUERY text: does it start
// (after blanks and comments) with CREATE or ALTER and mention
// AWSAuthenticationPlugin? It does not allocate.
func mayRewrite(q []byte) bool {
	i := skipBlank(q, 0)
	w := i
	for w < len(q) && isWordByte(q[w]) {
		w++
	}
	kw := q[i:w]
	if !asciiEqualFold(kw, "create") && !asciiEqualFold(kw, "alter") {
		return false
	}
	return containsFold(q[w:], "awsauthenticationplugin")
}

// RewriteQuery rewrites a CREATE [OR REPLACE] USER or ALTER USER statement
// whose users are IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' (the
// RDS syntax; keywords, the plugin name and 'RDS' case-insensitive, the
// plugin name bare or quoted, user names quoted with ', " or ` or bare) to
// the sandbox's emulation: each such clause becomes IDENTIFIED VIA
// mysql_native_password USING PASSWORD('<derived for that user>'), and a
// trailing REQUIRE SSL is dropped (the front requires TLS of every IAM
// login itself). It returns the new statement and true, or the input and
// false when there is nothing to rewrite or the statement does not parse.
// The result contains derived passwords: do not log it.
func RewriteQuery(secret []byte, q string) (string, bool) {
	r, _, ok := rewriteQuery(secret, q)
	return r, ok
}

// rewriteQuery is RewriteQuery that also returns the users it made IAM
// users.
func rewriteQuery(secret []byte, q string) (string, []string, bool) {
	toks, ok := lex(q)
	if !ok || len(toks) < 3 {
		return q, nil, false
	}
	i := 0
	switch {
	case toks[0].is("CREATE"):
		i = 1
		if toks[i].is("OR") && i+1 < len(toks) && toks[i+1].is("REPLACE") {
			i += 2
		}
	case toks[0].is("ALTER"):
		i = 1
	default:
		return q, nil, false
	}
	if i >= len(toks) || !toks[i].is("USER") {
		return q, nil, false
	}
	i++
	if i+1 < len(toks) && toks[i].is("IF") {
		if toks[i+1].is("EXISTS") {
			i += 2
		} else if i+2 < len(toks) && toks[i+1].is("NOT") && toks[i+2].is("EXISTS") {
			i += 3
		}
	}
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	var users []string
	// The user list: name [@ host] [IDENTIFIED ...] {, ...}.
	for i < len(toks) {
		if !toks[i].isName() {
			return q, nil, false
		}
		user := toks[i].val
		i++
		if i+1 < len(toks) && toks[i].punct('@') && toks[i+1].isName() {
			i += 2
		}
		if i+4 < len(toks) && toks[i].is("IDENTIFIED") && toks[i+1].is("WITH") &&
			toks[i+2].isName() && strings.EqualFold(toks[i+2].val, "AWSAuthenticationPlugin") &&
			toks[i+3].is("AS") && toks[i+4].kind == tokString && strings.EqualFold(toks[i+4].val, "RDS") {
			edits = append(edits, edit{toks[i].start, toks[i+4].end, iamAuthClause(secret, user)})
			users = append(users, user)
			i += 5
		} else if i < len(toks) && toks[i].is("IDENTIFIED") {
			// Another auth clause: skip it up to the next user or the options.
			depth := 0
			for i++; i < len(toks); i++ {
				t := toks[i]
				if t.punct('(') {
					depth++
				} else if t.punct(')') {
					depth--
				}
				if depth == 0 && (t.punct(',') || t.punct(';') || t.is("REQUIRE") || t.is("ACCOUNT") ||
					(t.is("WITH") && !toks[i-1].is("IDENTIFIED")) ||
					(t.is("PASSWORD") && i+1 < len(toks) && toks[i+1].is("EXPIRE"))) {
					break
				}
			}
		}
		if i < len(toks) && toks[i].punct(',') {
			i++
			continue
		}
		break
	}
	if len(edits) == 0 {
		return q, nil, false
	}
	// Options: drop "REQUIRE SSL" (not "REQUIRE SSL AND ...").
	for j := i; j+1 < len(toks); j++ {
		if toks[j].is("REQUIRE") && toks[j+1].is("SSL") && !(j+2 < len(toks) && toks[j+2].is("AND")) {
			edits = append(edits, edit{toks[j].start, toks[j+1].end, ""})
			break
		}
	}
	var b strings.Builder
	b.Grow(len(q) + 64*len(edits))
	last := 0
	for _, e := range edits {
		b.WriteString(q[last:e.start])
		b.WriteString(e.text)
		last = e.end
	}
	b.WriteString(q[last:])
	return b.String(), users, true
}

type tokKind int

const (
	tokWord   tokKind = iota // keyword or bare identifier
	tokString                // '...' or "..."
	tokIdent                 // `...`
	tokPunct
)

type token struct {
	kind       tokKind
	start, end int    // byte offsets in the statement
	val        string // word text, or the unquoted string/identifier
}

func (t token) is(kw string) bool { return t.kind == tokWord && strings.EqualFold(t.val, kw) }
func (t token) punct(c byte) bool { return t.kind == tokPunct && t.val[0] == c }
func (t token) isName() bool      { return t.kind == tokWord || t.kind == tokString || t.kind == tokIdent }
func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || c >= '0' && c <= '9' || (c|0x20) >= 'a' && (c|0x20) <= 'z'
}
func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
func asciiLower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

// skipBlank skips blanks and comments (/* */, -- , #) from i.
func skipBlank(q []byte, i int) int {
	for i < len(q) {
		switch c := q[i]; {
		case isBlank(c):
			i++
		case c == '#' || (c == '-' && i+2 < len(q) && q[i+1] == '-' && isBlank(q[i+2])):
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := indexAt(q, i+2, "*/")
			if end < 0 {
				return len(q)
			}
			i = end + 2
		default:
			return i
		}
	}
	return i
}

func indexAt(q []byte, from int, s string) int {
	for j := from; j+len(s) <= len(q); j++ {
		if string(q[j:j+len(s)]) == s {
			return j
		}
	}
	return -1
}

// asciiEqualFold compares b with the lower-case ASCII word w.
func asciiEqualFold(b []byte, w string) bool {
	if len(b) != len(w) {
		return false
	}
	for i := range b {
		if asciiLower(b[i]) != w[i] {
			return false
		}
	}
	return true
}

// containsFold reports whether q contains the lower-case ASCII word w,
// ignoring ASCII case, without allocating.
func containsFold(q []byte, w string) bool {
	for i := 0; i+len(w) <= len(q); i++ {
		if asciiLower(q[i]) == w[0] && asciiEqualFold(q[i:i+len(w)], w) {
			return true
		}
	}
	return false
}

// lex splits a statement into tokens, skipping blanks and comments. It
// fails on an unterminated string, identifier or comment.
func lex(s string) ([]token, bool) {
	q := []byte(s)
	var toks []token
	for i := skipBlank(q, 0); i < len(q); i = skipBlank(q, i) {
		if q[i] == '/' && i+1 < len(q) && q[i+1] == '*' {
			return nil, false // unterminated comment (skipBlank stopped)
		}
		switch c := q[i]; {
		case c == '\'' || c == '"' || c == '`':
			val, end, ok := unquote(q, i)
			if !ok {
				return nil, false
			}
			k := tokString
			if c == '`' {
				k = tokIdent
			}
			toks = append(toks, token{k, i, end, val})
			i = end
		case isWordByte(c):
			j := i
			for j < len(q) && isWordByte(q[j]) {
				j++
			}
			toks = append(toks, token{tokWord, i, j, s[i:j]})
			i = j
		default:
			toks = append(toks, token{tokPunct, i, i + 1, s[i : i+1]})
			i++
		}
	}
	return toks, true
}

// unquote reads the quoted string or identifier starting at q[i] and
// returns its value and the offset after it. A doubled quote stands for
// one; in strings, backslash escapes as in MariaDB's default sql_mode.
func unquote(q []byte, i int) (string, int, bool) {
	quote := q[i]
	var b strings.Builder
	for j := i + 1; j < len(q); j++ {
		c := q[j]
		switch {
		case c == quote:
			if j+1 < len(q) && q[j+1] == quote {
				b.WriteByte(quote)
				j++
				continue
			}
			return b.String(), j + 1, true
		case c == '\\' && quote != '`' && j+1 < len(q):
			j++
			switch e := q[j]; e {
			case '0':
				b.WriteByte(0)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			case 'Z':
				b.WriteByte(0x1A)
			case '%', '_':
				b.WriteByte('\\')
				b.WriteByte(e)
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}
