package embeddb

import (
	"fmt"
	"strconv"
	"strings"
)

// The engine runs the SQL the demo and a curious user type (SELECT, DML,
// DDL, transactions) with this thin dialect layer: current_user, version(),
// database(), $n and @@variables are translated; catalog queries such as
// psql's \d are not (SQLite answers them with an error). It does not check
// privileges beyond the login, and it does not run account statements
// (CREATE ROLE, GRANT): for those, the sandbox uses a real server. SQLite
// (pure Go) costs about 5 MB of binary.

// dialect is the SQL flavour of a wire face.
type dialect int

const (
	postgres dialect = iota
	mysqlDialect
)

type tokKind int

const (
	tokSpace tokKind = iota
	tokComment
	tokString // '...'
	tokIdent  // "..." or `...`
	tokWord   // keyword or bare name
	tokParam  // $n or ?
	tokSysvar // @@name, @@session.name
	tokPunct  // one byte
	tokNumber
)

type token struct {
	kind tokKind
	text string
}

// lex splits SQL into tokens; it never fails: an unterminated quote or
// comment runs to the end, and SQLite reports it.
func lex(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		start := i
		kind := tokPunct
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			for i < len(s) && strings.IndexByte(" \t\n\r\f", s[i]) >= 0 {
				i++
			}
			kind = tokSpace
		case c == '-' && i+1 < len(s) && s[i+1] == '-', c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
			kind = tokComment
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			if j := strings.Index(s[i+2:], "*/"); j >= 0 {
				i += j + 4
			} else {
				i = len(s)
			}
			kind = tokComment
		case c == '\'' || c == '"' || c == '`':
			i++
			for i < len(s) {
				if s[i] == '\\' && c == '\'' && i+1 < len(s) {
					i += 2
					continue
				}
				if s[i] == c {
					if i+1 < len(s) && s[i+1] == c { // doubled quote
						i += 2
						continue
					}
					i++
					break
				}
				i++
			}
			kind = tokIdent
			if c == '\'' {
				kind = tokString
			}
		case c == '$' && i+1 < len(s) && isDigit(s[i+1]):
			i++
			for i < len(s) && isDigit(s[i]) {
				i++
			}
			kind = tokParam
		case c == '?':
			i++
			kind = tokParam
		case c == '@' && i+1 < len(s) && s[i+1] == '@':
			i += 2
			for i < len(s) && (isWordByte(s[i]) || s[i] == '.') {
				i++
			}
			kind = tokSysvar
		case isDigit(c):
			for i < len(s) && (isWordByte(s[i]) || s[i] == '.') {
				i++
			}
			kind = tokNumber
		case isWordByte(c):
			for i < len(s) && (isWordByte(s[i]) || s[i] == '$') {
				i++
			}
			kind = tokWord
		default:
			i++
		}
		out = append(out, token{kind: kind, text: s[start:i]})
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// splitStatements splits a simple query on top-level semicolons, dropping
// empty statements.
func splitStatements(q string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if st := strings.TrimSpace(b.String()); st != "" && !onlyComments(st) {
			out = append(out, st)
		}
		b.Reset()
	}
	for _, t := range lex(q) {
		if t.kind == tokPunct && t.text == ";" {
			flush()
			continue
		}
		b.WriteString(t.text)
	}
	flush()
	return out
}

func onlyComments(s string) bool {
	for _, t := range lex(s) {
		if t.kind != tokSpace && t.kind != tokComment {
			return false
		}
	}
	return true
}

// quoteLiteral returns s as an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// translator rewrites one statement of a face's dialect into SQLite's.
type translator struct {
	s    *session
	vars func(name string) (string, bool) // @@name and SHOW name
}

// translate returns the SQLite statement for stmt, and the number of
// parameters it takes.
func (tr translator) translate(stmt string) (string, int, error) {
	toks := lex(stmt)
	sig := make([]int, 0, len(toks)) // indexes of significant tokens
	for i, t := range toks {
		if t.kind != tokSpace && t.kind != tokComment {
			sig = append(sig, i)
		}
	}
	at := func(k int) token {
		if k < 0 || k >= len(sig) {
			return token{}
		}
		return toks[sig[k]]
	}
	isWord := func(t token, w string) bool { return t.kind == tokWord && strings.EqualFold(t.text, w) }
	// selectItem tells whether significant token k stands alone as an item
	// of a select list, so that it may take an alias.
	selectItem := func(k, end int) bool {
		prev, next := at(k-1), at(end+1)
		afterStart := isWord(prev, "SELECT") || isWord(prev, "DISTINCT") || prev.kind == tokPunct && prev.text == ","
		beforeEnd := next.kind == tokPunct && (next.text == "," || next.text == ";") || isWord(next, "FROM") ||
			next.text == "" || isWord(next, "LIMIT") || isWord(next, "WHERE") || isWord(next, "ORDER")
		return afterStart && beforeEnd
	}

	var out strings.Builder
	params := 0
	sigOf := make(map[int]int, len(sig)) // token index -> significant index
	for k, i := range sig {
		sigOf[i] = k
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		cur, significant := sigOf[i]
		if !significant {
			out.WriteString(t.text)
			continue
		}
		switch t.kind {
		case tokParam:
			if t.text == "?" {
				params++
				out.WriteString("?")
				continue
			}
			var n int
			fmt.Sscan(t.text[1:], &n)
			params = max(params, n)
			out.WriteString("?" + t.text[1:])
			continue
		case tokSysvar:
			if tr.vars == nil {
				return "", 0, fmt.Errorf("syntax error at or near %q", t.text)
			}
			name := strings.ToLower(strings.TrimPrefix(t.text, "@@"))
			for _, p := range []string{"session.", "global.", "local."} {
				name = strings.TrimPrefix(name, p)
			}
			v, ok := tr.vars(name)
			if !ok {
				return "", 0, &unknownVariableError{name}
			}
			out.WriteString(quoteLiteral(v))
			if selectItem(cur, cur) {
				out.WriteString(" AS " + quoteIdent(t.text))
			}
			continue
		case tokWord:
			if name, ok := catalogName(at(cur-1), t, at(cur+1), at(cur+2)); ok {
				return "", 0, &catalogError{name}
			}
			if prev := at(cur - 1); prev.kind == tokPunct && prev.text == "." {
				break // part of a qualified name
			}
			if next := at(cur + 1); next.kind == tokPunct && next.text == "." {
				break
			}
			call := at(cur+1).kind == tokPunct && at(cur+1).text == "(" && at(cur+2).kind == tokPunct && at(cur+2).text == ")"
			val, bare, ok := tr.function(strings.ToLower(t.text), call)
			if !ok || (!call && !bare) {
				break
			}
			end := cur
			if call {
				end = cur + 2
				i = sig[end] // the call's parentheses are consumed
			}
			out.WriteString(val)
			if selectItem(cur, end) {
				alias := strings.ToLower(t.text)
				if call && tr.s.dialect == mysqlDialect {
					alias = t.text + "()"
				}
				out.WriteString(" AS " + quoteIdent(alias))
			}
			continue
		}
		out.WriteString(t.text)
	}
	return out.String(), params, nil
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// function returns the literal for a session function: name() when call,
// or the bare keyword (bare reports whether the bare form means the
// function in this dialect).
func (tr translator) function(name string, call bool) (val string, bare, ok bool) {
	s := tr.s
	if s.dialect == postgres {
		switch name {
		case "current_user", "session_user", "current_role", "user":
			return quoteLiteral(s.user), true, !call
		case "current_database", "current_catalog":
			return quoteLiteral(s.db), name == "current_catalog", true
		case "current_schema":
			return quoteLiteral("public"), true, true
		case "version":
			return quoteLiteral("PostgreSQL " + PostgresVersion), false, call
		case "now":
			return "CURRENT_TIMESTAMP", false, call
		case "pg_backend_pid":
			return strconv.FormatUint(uint64(s.connID), 10), false, call
		}
		return "", false, false
	}
	switch name {
	case "current_user":
		return quoteLiteral(s.user + "@" + s.host), true, true
	case "user", "session_user", "system_user":
		return quoteLiteral(s.user + "@" + s.host), false, call
	case "database", "schema":
		if s.db == "" {
			return "NULL", false, call
		}
		return quoteLiteral(s.db), false, call
	case "version":
		return quoteLiteral(MySQLVersion), false, call
	case "now":
		return "CURRENT_TIMESTAMP", false, call
	case "connection_id":
		return strconv.FormatUint(uint64(s.connID), 10), false, call
	}
	return "", false, false
}

// catalogSchemas are the system schemas of PostgreSQL and MySQL/MariaDB,
// which the engine does not have.
var catalogSchemas = map[string]bool{"pg_catalog": true, "information_schema": true, "mysql": true, "performance_schema": true, "sys": true}

// catalogName tells whether word t, between prev and next (and after),
// names a system catalog: a table of a system schema (mysql.user,
// pg_catalog.pg_roles), or a pg_* relation right after FROM or JOIN
// (pg_roles; not a column, an alias or pg_sleep(...)).
func catalogName(prev, t, next, after token) (string, bool) {
	lower := strings.ToLower(t.text)
	if prev.kind == tokPunct && prev.text == "." {
		return "", false // a column or table of some qualifier
	}
	if next.kind == tokPunct && next.text == "." && catalogSchemas[lower] {
		if after.kind == tokWord {
			return lower + "." + strings.ToLower(after.text), true
		}
		return lower, true
	}
	relation := prev.kind == tokWord && (strings.EqualFold(prev.text, "FROM") || strings.EqualFold(prev.text, "JOIN"))
	if relation && strings.HasPrefix(lower, "pg_") && !(next.kind == tokPunct && next.text == "(") {
		return lower, true
	}
	return "", false
}

// catalogError refuses a query of a system catalog with what to do
// instead: a client sees this rather than SQLite's "no such table".
type catalogError struct{ name string }

func (e *catalogError) Error() string {
	return fmt.Sprintf("the rdsgate sandbox's embedded engine has no system catalogs (%s): run the sandbox on installed servers (rdsgate sandbox --backend installed, with PostgreSQL and MariaDB installed) for catalog queries", e.name)
}

type unknownVariableError struct{ name string }

func (e *unknownVariableError) Error() string {
	return fmt.Sprintf("Unknown system variable '%s'", e.name)
}
