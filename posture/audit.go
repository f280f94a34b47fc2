package posture

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// An audit is three steps, each usable on its own:
//
//   - a [Snapshot] is everything the checks read, per region, collected
//     read-only from the AWS APIs by package posture/collect (or loaded from
//     a file saved earlier: it is plain JSON, see [Snapshot] and
//     [SchemaVersion]). A read the caller was not allowed to make is recorded
//     in the snapshot as an [AccessError] naming the API action;
//   - [Checks] are small pure functions over a snapshot and one database
//     ([DB]); a check whose input could not be collected says
//     [StatusUnknown] and names the missing actions, it never passes;
//   - [Audit] runs the checks over every database and returns a [Report],
//     which package posture/report renders as text, JSON, SARIF or Markdown.
//
// [AlarmKit] prints (never applies) the CloudWatch Logs metric filter and
// alarm that close the no-outside-vpc-connection-alarm check.

// ReportSchema identifies the JSON report format (docs/audit-json.md).
const ReportSchema = "rdsgate.audit/v1"

// Report is the outcome of an audit: every check on every database, plus
// the reads that failed. It is the JSON output's schema.
type Report struct {
	Schema string `json:"schema"`
	// CollectedAt is the snapshot's time (not the audit's), so that an
	// audit of a saved snapshot is reproducible.
	CollectedAt time.Time `json:"collected_at"`
	Account     string    `json:"account,omitempty"`
	// Organization and Accounts are set in an organization-wide report:
	// every account asked for, audited or not.
	Organization string          `json:"organization,omitempty"`
	Accounts     []AccountReport `json:"accounts,omitempty"`
	Regions      []string        `json:"regions"`
	Summary      Summary         `json:"summary"`
	Checks       []CheckInfo     `json:"checks"`
	Databases    []DBReport      `json:"databases"`
	Gaps         []RegionError   `json:"collection_errors"`
	// Incomplete says, one sentence each, why the audit cannot vouch for
	// the account: an inventory that could not be read, a target that
	// matched no database, a database of which every check is unknown.
	// Empty when the audit saw what it was asked to see.
	Incomplete []string `json:"incomplete"`
}

// Summary counts results.
type Summary struct {
	Databases int `json:"databases"`
	Pass      int `json:"pass"`
	Fail      int `json:"fail"`
	Unknown   int `json:"unknown"`
	Skip      int `json:"skip"`
	// FailBySeverity counts failures per severity (all four keys present).
	FailBySeverity map[Severity]int `json:"fail_by_severity"`
}

// CheckInfo describes a check in a report (no placeholders filled).
type CheckInfo struct {
	ID          string      `json:"id"`
	Title       string      `json:"title"`
	Severity    Severity    `json:"severity"`
	Catalog     string      `json:"catalog"`
	Rationale   string      `json:"rationale"`
	Remediation Remediation `json:"remediation"`
}

// DBReport is the results for one database.
type DBReport struct {
	// Account is the database's account id in an organization-wide
	// report (empty in an account's own, which names it once).
	Account string `json:"account,omitempty"`
	Region  string `json:"region"`
	Kind    Kind   `json:"kind"`
	ID      string `json:"id"`
	ARN     string `json:"arn"`
	Engine  string `json:"engine"`
	// Address, File and Line are set for a database of a Terraform plan:
	// its resource address and where it is defined (see
	// [PlanSource]).
	Address string    `json:"address,omitempty"`
	File    string    `json:"file,omitempty"`
	Line    int       `json:"line,omitempty"`
	Results []Finding `json:"results"`
}

// Finding is one check's result on one database. Remediation is set for
// failures only, with the database's names filled in.
type Finding struct {
	CheckID        string   `json:"check"`
	Title          string   `json:"title"`
	Severity       Severity `json:"severity"`
	Status         Status   `json:"status"`
	Detail         string   `json:"detail"`
	MissingActions []string `json:"missing_actions,omitempty"`
	// Reason says why an unknown result is unknown.
	Reason      GapKind      `json:"unknown_reason,omitempty"`
	Remediation *Remediation `json:"remediation,omitempty"`
}

// RegionError is an [AccessError] with its region ("global" for IAM).
type RegionError struct {
	// Account is set in an organization-wide report.
	Account string `json:"account,omitempty"`
	Region  string `json:"region"`
	AccessError
	// Kind says why the read failed (denied, not served, throttled, ...).
	Kind GapKind `json:"kind"`
}

// AuditOptions narrows an audit.
type AuditOptions struct {
	// Checks are the check ids to run; empty runs all.
	Checks []string
	// Targets are instance or cluster identifiers (or ARNs) to audit;
	// empty audits every database in the snapshot. A target that matches
	// no database makes the report [Report.Incomplete].
	Targets []string
	// Production says which tags mark a production database (for
	// production-multi-az-off); the zero value is [DefaultProduction].
	Production TagMatch
	// TrustedAccounts are the AWS account ids snapshots may be shared with
	// besides the audited account's own (snapshot-shared-unknown-account).
	TrustedAccounts []string
}

// inventoryActions are the reads that list the databases: when one fails,
// an audit that finds nothing has not shown there is nothing.
var inventoryActions = []string{"rds:DescribeDBInstances", "rds:DescribeDBClusters"}

// Audit runs the checks over every database of s, or of every account of
// an organization-wide s (see [Snapshot.Accounts]). It only reads s (after
// building lookup tables in it, see [Snapshot.Databases]).
func Audit(s *Snapshot, opts AuditOptions) *Report {
	checks := Checks()
	if len(opts.Checks) > 0 {
		checks = slices.DeleteFunc(checks, func(c *Check) bool { return !slices.Contains(opts.Checks, c.ID) })
	}
	rep := &Report{
		Schema:      ReportSchema,
		CollectedAt: s.CollectedAt,
		Account:     s.Account,
		Regions:     []string{},
		Checks:      make([]CheckInfo, 0, len(checks)),
		Databases:   []DBReport{},
		Gaps:        []RegionError{},
		Incomplete:  []string{},
		Summary: Summary{FailBySeverity: map[Severity]int{
			SeverityCritical: 0, SeverityHigh: 0, SeverityMedium: 0, SeverityLow: 0,
		}},
	}
	for _, c := range checks {
		rep.Checks = append(rep.Checks, CheckInfo{ID: c.ID, Title: c.Title, Severity: c.Severity, Catalog: c.Catalog, Rationale: c.Rationale, Remediation: c.Remediation})
	}
	a := &auditor{rep: rep, checks: checks, opts: opts, matched: map[string]bool{}}
	if len(s.Accounts) > 0 {
		a.organization(s)
	} else {
		a.account(s, "")
	}
	for _, t := range opts.Targets {
		if !a.matched[t] {
			rep.Incomplete = append(rep.Incomplete, fmt.Sprintf("target %s matches no database in %s", t, strings.Join(rep.Regions, ", ")))
		}
	}
	rep.Summary.Databases = len(rep.Databases)
	return rep
}

// auditor fills one report from one snapshot or from the snapshots of an
// organization's accounts.
type auditor struct {
	rep     *Report
	checks  []*Check
	opts    AuditOptions
	matched map[string]bool // targets that matched, by id and ARN
}

// account audits one account's snapshot; id is its account id in an
// organization-wide audit ("" otherwise), carried by every database and
// gap and prefixed to every reason the audit is incomplete.
func (a *auditor) account(s *Snapshot, id string) {
	rep := a.rep
	incomplete := func(format string, args ...any) {
		why := fmt.Sprintf(format, args...)
		if id != "" {
			why = "account " + id + ": " + why
		}
		rep.Incomplete = append(rep.Incomplete, why)
	}
	for _, r := range s.Regions {
		if !slices.Contains(rep.Regions, r.Name) {
			rep.Regions = append(rep.Regions, r.Name)
		}
		if r.Unavailable != "" {
			incomplete("region %s was not read: %s", r.Name, r.Unavailable)
		}
		for _, e := range r.Errors {
			rep.Gaps = append(rep.Gaps, RegionError{Account: id, Region: r.Name, AccessError: e, Kind: e.Kind()})
			if e.Resource == "" && slices.Contains(inventoryActions, e.Action) {
				incomplete("the databases of %s could not be listed: %s", r.Name, e.Explain())
			}
		}
	}
	for _, e := range s.IAM.Errors {
		rep.Gaps = append(rep.Gaps, RegionError{Account: id, Region: "global", AccessError: e, Kind: e.Kind()})
	}
	opts := a.opts
	for _, db := range s.Databases() {
		if len(opts.Targets) > 0 && !slices.Contains(opts.Targets, db.ID()) && !slices.Contains(opts.Targets, db.ARN()) {
			continue
		}
		a.matched[db.ID()], a.matched[db.ARN()] = true, true
		db.opts = &opts
		dr := DBReport{Account: id, Region: db.Region.Name, Kind: db.Kind, ID: db.ID(), ARN: db.ARN(), Engine: db.Engine(), Results: make([]Finding, 0, len(a.checks))}
		if p := db.planned(); p != nil {
			dr.Address, dr.File, dr.Line = p.Address, p.File, p.Line
		}
		for _, c := range a.checks {
			res := c.Evaluate(s, db)
			f := Finding{CheckID: c.ID, Title: c.Title, Severity: c.Severity, Status: res.Status, Detail: res.Detail, MissingActions: res.MissingActions, Reason: res.Reason}
			switch res.Status {
			case StatusPass:
				rep.Summary.Pass++
			case StatusFail:
				rep.Summary.Fail++
				rep.Summary.FailBySeverity[c.Severity]++
				rem := c.RemediationFor(db)
				f.Remediation = &rem
			case StatusUnknown:
				rep.Summary.Unknown++
			case StatusSkip:
				rep.Summary.Skip++
			}
			dr.Results = append(dr.Results, f)
		}
		if allUnknown(dr.Results) {
			incomplete("every check of %s (%s) is unknown", dr.ID, dr.Region)
		}
		rep.Databases = append(rep.Databases, dr)
	}
}

// allUnknown: at least one check ran and none of those that apply came to
// a verdict.
func allUnknown(results []Finding) bool {
	n := 0
	for _, f := range results {
		switch f.Status {
		case StatusPass, StatusFail:
			return false
		case StatusUnknown:
			n++
		}
	}
	return n > 0
}

// Failing returns the failed findings at or above min, with their
// databases, in report order.
func (r *Report) Failing(min Severity) []DBFinding {
	var out []DBFinding
	for i := range r.Databases {
		for _, f := range r.Databases[i].Results {
			if f.Status == StatusFail && f.Severity.Rank() >= min.Rank() {
				out = append(out, DBFinding{DB: &r.Databases[i], Finding: f})
			}
		}
	}
	return out
}

// DBFinding is a finding with its database.
type DBFinding struct {
	DB *DBReport
	Finding
}
