package session

import (
	"strings"
)

// Statements that set a password carry it as a string literal: PostgreSQL's
// CREATE/ALTER ROLE ... PASSWORD '...', MySQL's IDENTIFIED BY '...', SET
// PASSWORD = '...', PASSWORD('...'), CHANGE MASTER TO MASTER_PASSWORD='...',
// server OPTIONS (password '...'), and dblink-style connection strings with
// password=... inside a literal. Redact replaces those literals with '***'
// and keeps the rest, so the record still shows what was done to whom.

// redacted replaces a secret literal.
const redacted = "'***'"

// secretKeywords are the words after which the next literal is a secret.
var secretKeywords = map[string]bool{
	"PASSWORD": true, "MASTER_PASSWORD": true, "SOURCE_PASSWORD": true, "OLD_PASSWORD": true,
	"ENCRYPTED": true, "UNENCRYPTED": true,
}

// Redact returns stmt with secret literals replaced, and whether it replaced
// any. It understands SQL quoting well enough never to take a secret for
// code: '...' (with ” and backslash escapes), E'...', "...", `...`,
// $tag$...$tag$, -- and /* */ comments. A literal left open at the end (a
// statement cut short) is treated as running to the end.
func Redact(stmt string) (string, bool) {
	var out strings.Builder
	changed := false
	armed := false      // the next literal is a secret
	identified := false // after IDENTIFIED: BY, AS and USING arm
	pwSeen := false     // a password word came earlier in the statement: '=' arms
	last := 0           // stmt[last:i] not yet copied
	for i := 0; i < len(stmt); {
		c := stmt[i]
		switch {
		case c == '-' && strings.HasPrefix(stmt[i:], "--"), c == '#':
			i = lineEnd(stmt, i)
		case c == '/' && strings.HasPrefix(stmt[i:], "/*"):
			if end := strings.Index(stmt[i+2:], "*/"); end >= 0 {
				i += end + 4
			} else {
				i = len(stmt)
			}
		case c == '\'' || c == '"' || c == '`' || c == '$' && dollarTag(stmt[i:]) != "" ||
			strings.IndexByte("EeNn", c) >= 0 && i+1 < len(stmt) && stmt[i+1] == '\'' && !wordByte(prev(stmt, i)):
			start := i
			if c != '\'' && c != '"' && c != '`' && c != '$' {
				i++ // the E or N prefix
			}
			end := literalEnd(stmt, i)
			// MySQL takes "..." as a string too; where it is an identifier,
			// redacting it after PASSWORD hides nothing of use.
			isString := stmt[i] == '\'' || stmt[i] == '$' || stmt[i] == '"' && armed
			if isString && (armed || hasPasswordOption(stmt[start:end])) {
				out.WriteString(stmt[last:start])
				out.WriteString(redacted)
				last, changed = end, true
			}
			armed = false
			i = end
		case wordByte(c):
			j := i
			for j < len(stmt) && wordByte(stmt[j]) {
				j++
			}
			switch w := strings.ToUpper(stmt[i:j]); {
			case secretKeywords[w]:
				armed, pwSeen = true, true
			case w == "IDENTIFIED":
				identified = true
			case w == "AWSAUTHENTICATIONPLUGIN":
				identified = false // AS 'RDS' names IAM authentication: no secret
			case identified && (w == "BY" || w == "AS" || w == "USING" || w == "REPLACE"):
				armed = true
			case identified || armed && w[0] == '_':
				// IDENTIFIED WITH|VIA plugin ...; a charset introducer
				// (_utf8mb4'...') before the literal
			default:
				armed = false
			}
			i = j
		case c == '=':
			armed = armed || pwSeen // SET PASSWORD FOR u = '...', password = '...'
			i++
		case c == '(' || c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++ // PASSWORD('...'), and the spaces between words
		case c == ';':
			armed, identified, pwSeen = false, false, false
			i++
		default:
			armed, identified = false, false
			i++
		}
	}
	if !changed {
		return stmt, false
	}
	out.WriteString(stmt[last:])
	return out.String(), true
}

// hasPasswordOption spots a connection string in a literal: dblink's
// 'host=... password=...', or a URL with user:password@.
func hasPasswordOption(lit string) bool {
	l := strings.ToLower(lit)
	return strings.Contains(l, "password=") || strings.Contains(l, "password =") ||
		strings.Contains(l, "://") && strings.Contains(l, ":") && strings.Contains(l, "@")
}

func wordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func prev(s string, i int) byte {
	if i == 0 {
		return ' '
	}
	return s[i-1]
}

func lineEnd(s string, i int) int {
	if n := strings.IndexByte(s[i:], '\n'); n >= 0 {
		return i + n + 1
	}
	return len(s)
}

// dollarTag returns "$tag$" when s starts a PostgreSQL dollar-quoted string.
func dollarTag(s string) string {
	for j := 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '$':
			return s[:j+1]
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 1 && c >= '0' && c <= '9':
		default:
			return ""
		}
	}
	return ""
}

// literalEnd returns the index just past the quoted token starting at i.
func literalEnd(s string, i int) int {
	if s[i] == '$' {
		tag := dollarTag(s[i:])
		if n := strings.Index(s[i+len(tag):], tag); n >= 0 {
			return i + len(tag) + n + len(tag)
		}
		return len(s)
	}
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if q == '\'' {
				j++ // MySQL and E'' strings; harmless in standard strings: a lone \ before ' is rare and errs towards redacting more
			}
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++ // doubled quote
				continue
			}
			return j + 1
		}
	}
	return len(s)
}
