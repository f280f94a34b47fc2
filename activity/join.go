package activity

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/proxy"
)

// clockSlack is how far the database's clock and Session Manager's may
// disagree when a connection's start is compared with sessions' starts.
const clockSlack = 5 * time.Second

// join ties each connection to the Session Manager sessions that can have
// carried it, and adds a row for each session no connection is tied to.
func join(tunnels []tunnelSession, conns []connection, bastionAddrs, own []string) []Session {
	var rows []Session
	tied := map[string]bool{}
	for _, c := range conns {
		row := Session{ID: strconv.FormatInt(c.PID, 10), PID: c.PID, DBUser: c.User, Database: c.Database,
			Client: c.Client, Since: c.Since, State: c.State, StateSince: c.StateSince,
			Statement: c.Statement, StatementHidden: c.StatementHidden, Self: c.Self}
		app, claimed, tagged := proxy.SplitAppTag(c.Application)
		row.Application = app
		viaBastion := len(bastionAddrs) == 0 || c.Client == "" || slices.Contains(bastionAddrs, c.Client)
		switch {
		case c.Self:
			tie(&row, filter(tunnels, func(t tunnelSession) bool { return slices.Contains(own, t.ID) }), "")
		case tagged:
			cands := filter(tunnels, func(t tunnelSession) bool {
				return !slices.Contains(own, t.ID) && ownerIs(t.Owner, claimed) && startedBy(t, c.Since)
			})
			if len(cands) == 0 {
				row.AWSIdentity, row.Match = claimed, MatchUnconfirmed
				break
			}
			tie(&row, cands, MatchTag)
		case viaBastion:
			cands := filter(tunnels, func(t tunnelSession) bool { return !slices.Contains(own, t.ID) && startedBy(t, c.Since) })
			tie(&row, cands, "")
		}
		if row.SSMSession != "" {
			tied[row.SSMSession] = true
		}
		rows = append(rows, row)
	}
	for _, t := range tunnels {
		if tied[t.ID] {
			continue
		}
		rows = append(rows, Session{ID: t.ID, AWSIdentity: t.Owner, SSMSession: t.ID, SSMStarted: t.Started, Since: t.Started,
			Self: slices.Contains(own, t.ID)})
	}
	slices.SortStableFunc(rows, func(a, b Session) int {
		if a.Since.IsZero() != b.Since.IsZero() {
			return cmp.Compare(btoi(a.Since.IsZero()), btoi(b.Since.IsZero()))
		}
		return a.Since.Compare(b.Since)
	})
	return rows
}

// tie fills row's identity and session from the sessions that can have
// carried it: the session itself when there is one, the identity when
// they all have one owner. match is how the candidates were found (""
// means by time alone).
func tie(row *Session, cands []tunnelSession, match Match) {
	if len(cands) == 0 {
		return
	}
	owner := cands[0].Owner
	for _, t := range cands[1:] {
		if t.Owner != owner {
			return
		}
	}
	row.AWSIdentity, row.Match = owner, cmp.Or(match, MatchOneOwner)
	if len(cands) == 1 {
		row.SSMSession, row.SSMStarted = cands[0].ID, cands[0].Started
		if match == "" {
			row.Match = MatchOnlySession
		}
	}
}

// startedBy reports whether t was open when a connection began at since
// (any t when the start is not known).
func startedBy(t tunnelSession, since time.Time) bool {
	return since.IsZero() || !t.Started.After(since.Add(clockSlack))
}

func filter(ts []tunnelSession, keep func(tunnelSession) bool) []tunnelSession {
	var out []tunnelSession
	for _, t := range ts {
		if keep(t) {
			out = append(out, t)
		}
	}
	return out
}

// ownerIs reports whether the ARN owner is the identity a tag names:
// the ARN's resource (user/NAME, assumed-role/ROLE/SESSION), or its start
// when the tag was cut short.
func ownerIs(owner, claimed string) bool {
	res := arnResource(owner)
	if claimed == "" || res == "" {
		return false
	}
	if strings.HasSuffix(claimed, proxy.AppTagCut) {
		return strings.HasPrefix(res, strings.TrimSuffix(claimed, proxy.AppTagCut))
	}
	return res == claimed
}

// arnResource is the part of an ARN after its account.
func arnResource(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ""
	}
	return parts[5]
}
