package posture

import (
	"fmt"
	"slices"
)

// An organization-wide snapshot (collected by posture/collect's
// CollectOrg) holds one snapshot per member account; [Audit] audits each
// and writes one report in which every database and gap carries its
// account. An account that could not be read at all (its role could not
// be assumed, it is not an active member) is listed with the reason and
// makes the report incomplete; so does a region that could not be read.

// AccountSnapshot is one account of an organization-wide snapshot.
type AccountSnapshot struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Role is the ARN of the role assumed to read the account; empty for
	// the caller's own account, read with the caller's credentials.
	Role string `json:"role,omitempty"`
	// Failure says why the account could not be read at all; Snapshot is
	// nil then.
	Failure  *AccountFailure `json:"failure,omitempty"`
	Snapshot *Snapshot       `json:"snapshot,omitempty"`
}

// AccountFailure is why an account of an organization was not read.
type AccountFailure struct {
	// AccessError is the call that failed (sts:AssumeRole on the role,
	// ec2:DescribeRegions, or organizations:ListAccounts for an account
	// that is not an active member).
	AccessError
	// Why says it for a person, with what to do next.
	Why string `json:"why"`
}

// AccountReport is one account in an organization-wide report.
type AccountReport struct {
	ID        string   `json:"id"`
	Name      string   `json:"name,omitempty"`
	Regions   []string `json:"regions"`
	Databases int      `json:"databases"`
	// Failed is set when the account could not be audited: why, and what
	// to do.
	Failed string `json:"failed,omitempty"`
}

// organization audits every account of an organization-wide snapshot.
// Snapshots shared with another account of the organization are shared
// with a known account.
func (a *auditor) organization(s *Snapshot) {
	a.rep.Organization = s.Organization
	a.rep.Accounts = make([]AccountReport, 0, len(s.Accounts))
	trusted := slices.Clone(a.opts.TrustedAccounts)
	for _, acct := range s.Accounts {
		trusted = append(trusted, acct.ID)
	}
	a.opts.TrustedAccounts = trusted
	for _, acct := range s.Accounts {
		ar := AccountReport{ID: acct.ID, Name: acct.Name, Regions: []string{}}
		switch {
		case acct.Failure != nil:
			ar.Failed = acct.Failure.Why
			a.rep.Gaps = append(a.rep.Gaps, RegionError{Account: acct.ID, Region: "global", AccessError: acct.Failure.AccessError, Kind: acct.Failure.Kind()})
			a.rep.Incomplete = append(a.rep.Incomplete, fmt.Sprintf("account %s%s was not audited: %s", acct.ID, nameSuffix(acct.Name), acct.Failure.Why))
		case acct.Snapshot == nil:
			ar.Failed = "no snapshot was collected"
			a.rep.Incomplete = append(a.rep.Incomplete, fmt.Sprintf("account %s%s was not audited: no snapshot was collected", acct.ID, nameSuffix(acct.Name)))
		default:
			before := len(a.rep.Databases)
			a.account(acct.Snapshot, acct.ID)
			ar.Databases = len(a.rep.Databases) - before
			for _, r := range acct.Snapshot.Regions {
				ar.Regions = append(ar.Regions, r.Name)
			}
		}
		a.rep.Accounts = append(a.rep.Accounts, ar)
	}
	slices.Sort(a.rep.Regions)
}

func nameSuffix(name string) string {
	if name == "" {
		return ""
	}
	return " (" + name + ")"
}
