// Package iampolicy evaluates IAM policy documents the way AWS does for the
// cases the sandbox needs: identity policies with Allow and Deny statements,
// Action/NotAction and Resource/NotResource with * and ? wildcards, and the
// String*, Arn*, Bool and Date* condition operators. An explicit Deny wins
// over any Allow; nothing allowed is an implicit deny.
package iampolicy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version,omitempty"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a policy.
type Statement struct {
	Sid         string                           `json:"Sid,omitempty"`
	Effect      string                           `json:"Effect"`
	Action      StringList                       `json:"Action,omitempty"`
	NotAction   StringList                       `json:"NotAction,omitempty"`
	Resource    StringList                       `json:"Resource,omitempty"`
	NotResource StringList                       `json:"NotResource,omitempty"`
	Condition   map[string]map[string]StringList `json:"Condition,omitempty"`
}

// StringList is a JSON string or array of strings, as IAM allows.
type StringList []string

// UnmarshalJSON accepts "x" or ["x", "y"].
func (l *StringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = StringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("iampolicy: want a string or a list of strings, got %s", b)
	}
	*l = many
	return nil
}

// Parse reads a policy document and checks its statements.
func Parse(text []byte) (Document, error) {
	var d Document
	if err := json.Unmarshal(text, &d); err != nil {
		return Document{}, fmt.Errorf("iampolicy: %w", err)
	}
	for i, s := range d.Statement {
		if s.Effect != "Allow" && s.Effect != "Deny" {
			return Document{}, fmt.Errorf("iampolicy: statement %d: Effect must be Allow or Deny, not %q", i, s.Effect)
		}
		if (len(s.Action) == 0) == (len(s.NotAction) == 0) {
			return Document{}, fmt.Errorf("iampolicy: statement %d: give exactly one of Action and NotAction", i)
		}
		if (len(s.Resource) == 0) == (len(s.NotResource) == 0) {
			return Document{}, fmt.Errorf("iampolicy: statement %d: give exactly one of Resource and NotResource", i)
		}
	}
	return d, nil
}

// Decision is the outcome of an evaluation.
type Decision string

// Decisions, named as IAM's policy simulator names them.
const (
	Allowed      Decision = "allowed"
	ExplicitDeny Decision = "explicitDeny"
	ImplicitDeny Decision = "implicitDeny"
)

// Request is one authorization question.
type Request struct {
	Action   string            // e.g. rds-db:connect
	Resource string            // e.g. arn:aws:rds-db:us-east-1:111122223333:dbuser:db-ABC/jane
	Context  map[string]string // condition keys, e.g. aws:userid, aws:SecureTransport
}

// Result says what was decided and which statement decided it.
type Result struct {
	Decision Decision
	// Statement is the deciding statement (the first matching Deny, else the
	// first matching Allow); nil for an implicit deny.
	Statement *Statement
}

// Evaluate decides req against every statement of docs.
func Evaluate(docs []Document, req Request) Result {
	var allow *Statement
	for di := range docs {
		for si := range docs[di].Statement {
			s := &docs[di].Statement[si]
			if !s.matches(req) {
				continue
			}
			if s.Effect == "Deny" {
				return Result{Decision: ExplicitDeny, Statement: s}
			}
			if allow == nil {
				allow = s
			}
		}
	}
	if allow != nil {
		return Result{Decision: Allowed, Statement: allow}
	}
	return Result{Decision: ImplicitDeny}
}

func (s *Statement) matches(req Request) bool {
	if len(s.Action) > 0 && !anyMatch(s.Action, req.Action, true) {
		return false
	}
	if len(s.NotAction) > 0 && anyMatch(s.NotAction, req.Action, true) {
		return false
	}
	if len(s.Resource) > 0 && !anyMatch(substitute(s.Resource, req.Context), req.Resource, false) {
		return false
	}
	if len(s.NotResource) > 0 && anyMatch(substitute(s.NotResource, req.Context), req.Resource, false) {
		return false
	}
	for op, keys := range s.Condition {
		for key, values := range keys {
			if !condition(op, req.Context, key, substitute(values, req.Context)) {
				return false
			}
		}
	}
	return true
}

// substitute replaces policy variables such as ${aws:userid} with their
// values from ctx; a variable with no value is left as is, so it matches
// nothing but itself.
func substitute(values []string, ctx map[string]string) []string {
	out := values
	for i, v := range values {
		if !strings.Contains(v, "${") {
			continue
		}
		if &out[0] == &values[0] {
			out = append([]string(nil), values...)
		}
		for k, val := range ctx {
			out[i] = strings.ReplaceAll(out[i], "${"+k+"}", val)
		}
	}
	return out
}

func anyMatch(patterns []string, value string, foldCase bool) bool {
	for _, p := range patterns {
		if foldCase {
			if Match(strings.ToLower(p), strings.ToLower(value)) {
				return true
			}
		} else if Match(p, value) {
			return true
		}
	}
	return false
}

// condition evaluates one operator on one key. Keys are case-insensitive, as
// in IAM. An operator the sandbox does not know never matches, so an Allow
// that depends on it fails closed.
func condition(op string, ctx map[string]string, key string, values []string) bool {
	var v string
	var ok bool
	for k, val := range ctx {
		if strings.EqualFold(k, key) {
			v, ok = val, true
			break
		}
	}
	ifExists := strings.HasSuffix(op, "IfExists")
	op = strings.TrimSuffix(op, "IfExists")
	if !ok {
		return ifExists || op == "Null" && anyEqual(values, "true", true)
	}
	switch op {
	case "StringEquals":
		return anyEqual(values, v, false)
	case "StringNotEquals":
		return !anyEqual(values, v, false)
	case "StringEqualsIgnoreCase":
		return anyEqual(values, v, true)
	case "StringLike":
		return anyMatch(values, v, false)
	case "StringNotLike":
		return !anyMatch(values, v, false)
	case "Bool":
		return anyEqual(values, v, true)
	case "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals":
		return anyDate(op, values, v)
	case "ArnEquals", "ArnLike":
		return anyMatch(values, v, false)
	case "ArnNotEquals", "ArnNotLike":
		return !anyMatch(values, v, false)
	case "Null":
		return anyEqual(values, "false", true)
	}
	return false
}

// anyDate compares the context's time v with values (RFC 3339 or epoch
// seconds, as IAM takes them); an unparsable time never matches.
func anyDate(op string, values []string, v string) bool {
	t, ok := parseTime(v)
	if !ok {
		return false
	}
	for _, x := range values {
		w, ok := parseTime(x)
		if !ok {
			continue
		}
		switch op {
		case "DateLessThan":
			ok = t.Before(w)
		case "DateLessThanEquals":
			ok = !t.After(w)
		case "DateGreaterThan":
			ok = t.After(w)
		case "DateGreaterThanEquals":
			ok = !t.Before(w)
		}
		if ok {
			return true
		}
	}
	return false
}

func parseTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

func anyEqual(values []string, v string, fold bool) bool {
	for _, x := range values {
		if x == v || fold && strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// Match reports whether value matches pattern, where * matches any run of
// characters (including none) and ? exactly one.
func Match(pattern, value string) bool {
	// Iterative glob with backtracking to the last star: linear in practice
	// and never recursive, so hostile patterns cannot blow the stack.
	p, v := 0, 0
	star, mark := -1, 0
	for v < len(value) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == value[v]):
			p++
			v++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, v
			p++
		case star >= 0:
			p = star + 1
			mark++
			v = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
