package posture

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/rdsgate/rdsgate/setting"
)

// TagMatch picks resources by tag: a tag whose key is one of Keys and
// whose value is one of Values, both compared case-insensitively (teams
// spell "Environment=Prod" and "env=production" alike).
type TagMatch struct {
	Keys   []string
	Values []string
}

// DefaultProduction is how a production database is recognised when
// [AuditOptions.Production] is not set.
var DefaultProduction = TagMatch{
	Keys:   []string{"environment", "env", "stage"},
	Values: []string{"production", "prod", "prd"},
}

// ParseTagMatch parses KEY=VALUE[,VALUE...] (a command-line form), e.g.
// "tier=prod,critical".
func ParseTagMatch(s string) (TagMatch, error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" || strings.TrimSpace(v) == "" {
		return TagMatch{}, fmt.Errorf("posture: tag match %q: want KEY=VALUE[,VALUE...]", s)
	}
	m := TagMatch{Keys: []string{k}}
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			m.Values = append(m.Values, x)
		}
	}
	return m, nil
}

// Match returns the first tag of tags the match selects, as "key=value",
// or "".
func (m TagMatch) Match(tags map[string]string) string {
	if len(m.Keys) == 0 {
		m = DefaultProduction
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys) // one answer for one set of tags
	for _, k := range keys {
		if !slices.ContainsFunc(m.Keys, func(want string) bool { return strings.EqualFold(want, k) }) {
			continue
		}
		if slices.ContainsFunc(m.Values, func(want string) bool { return strings.EqualFold(want, tags[k]) }) {
			return k + "=" + tags[k]
		}
	}
	return ""
}

// String is the match in ParseTagMatch's form (keys joined by "|").
func (m TagMatch) String() string {
	if len(m.Keys) == 0 {
		m = DefaultProduction
	}
	return strings.Join(m.Keys, "|") + "=" + strings.Join(m.Values, ",")
}

// ParseOptions reads an audit's settings as a command line gives them:
// the severity to fail on ("" none), the production tags ("" the default),
// and check ids, each of which must name a check.
func ParseOptions(failOn, production string, checks []string) (Severity, TagMatch, error) {
	var sev Severity
	var tags TagMatch
	var err error
	if failOn != "" {
		if sev, err = ParseSeverity(failOn); err != nil {
			return "", tags, setting.Invalidf("%s: %w", setting.FailOn, err)
		}
	}
	if production != "" {
		if tags, err = ParseTagMatch(production); err != nil {
			return "", tags, setting.Invalidf("%s: %w", setting.ProductionTag, err)
		}
	}
	for _, id := range checks {
		if CheckByID(id) == nil {
			return "", tags, setting.Invalidf("%s: no such check (docs/audit-checks.md lists them)", setting.Check.Is(strconv.Quote(id)))
		}
	}
	return sev, tags, nil
}
