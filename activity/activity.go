// Package activity answers "who is connected now" for one database: the
// Session Manager sessions on its bastion joined to the database's own view
// of its connections (pg_stat_activity, the MySQL process list), and a Plan
// that ends one of them.
package activity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/rdsgate/rdsgate/target"
)

// SSMAPI is the part of the Systems Manager API the listing and the kill
// call; *ssm.Client has it.
type SSMAPI interface {
	DescribeSessions(ctx context.Context, in *ssm.DescribeSessionsInput, optFns ...func(*ssm.Options)) (*ssm.DescribeSessionsOutput, error)
	TerminateSession(ctx context.Context, in *ssm.TerminateSessionInput, optFns ...func(*ssm.Options)) (*ssm.TerminateSessionOutput, error)
}

// Sources are where the two views come from. Either side may be missing;
// List then shows the other alone.
type Sources struct {
	// Target is the database (its identifier and engine). Required.
	Target target.Target
	// DB is a handle logged in as the database's administrative user
	// (grant.OpenAdmin, dbpath's Path.Admin): it sees every connection and
	// may end them. nil: no database side.
	DB *sql.DB
	// SSM and Bastion are the Session Manager API and the bastion's
	// instance id; either empty: no Session Manager side.
	SSM     SSMAPI
	Bastion string
	// BastionAddrs are the bastion's private addresses, as the database
	// sees its clients. When set, only connections from them are tied to
	// Session Manager sessions (others came another way, e.g. an
	// application in the VPC); when empty, every connection may be.
	BastionAddrs []string
	// Account is the AWS account id, for the resource ARNs in hints
	// (optional).
	Account string
	// Own are the Session Manager session ids the caller itself holds (its
	// route to DB); they are marked Self.
	Own []string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Match says how a connection's AWS identity was found.
type Match string

// Matches, from the surest.
const (
	// MatchTag: rdsgate's proxy named the identity in the connection's
	// application name, and that identity holds a Session Manager session
	// on the bastion. (A client can write any application name; the
	// session's owner is what confirms it.)
	MatchTag Match = "tag"
	// MatchUnconfirmed: the application name names an identity that holds
	// no Session Manager session on the bastion (another route, or a
	// client that wrote the name itself).
	MatchUnconfirmed Match = "tag-unconfirmed"
	// MatchOnlySession: exactly one Session Manager session on the bastion
	// was open when the connection began.
	MatchOnlySession Match = "only-session"
	// MatchOneOwner: every session open when the connection began belongs
	// to the same identity.
	MatchOneOwner Match = "one-owner"
)

// Session is one row: a database connection, with the Session Manager
// session and AWS identity behind it as far as they are known, or a
// Session Manager session with no connection tied to it.
type Session struct {
	// ID is what Kill takes: the database's process id (PostgreSQL pid,
	// MySQL thread id) for a connection, the Session Manager session id
	// for a session with no connection.
	ID string `json:"id"`
	// AWSIdentity is the ARN of the principal behind the connection ("":
	// not known), and Match how it was found.
	AWSIdentity string `json:"aws_identity,omitempty"`
	Match       Match  `json:"match,omitempty"`
	// SSMSession is the Session Manager session that carries it, and
	// SSMStarted when that session began.
	SSMSession string    `json:"ssm_session,omitempty"`
	SSMStarted time.Time `json:"ssm_started,omitzero"`
	// PID is the database's process id (0: no connection).
	PID int64 `json:"pid,omitempty"`
	// DBUser and Database are who the connection logged in as, where; an
	// IAM user is the database user the token was signed for.
	DBUser   string `json:"db_user,omitempty"`
	Database string `json:"database,omitempty"`
	// Application is the client's application name (PostgreSQL
	// application_name; MySQL program_name where performance_schema
	// keeps connection attributes), without rdsgate's tag.
	Application string `json:"application,omitempty"`
	// Client is the client address the database sees (on AWS, the
	// bastion's for a Session Manager route); "" for a local socket.
	Client string `json:"client,omitempty"`
	// Since is when the connection (PostgreSQL) or, without one, the
	// Session Manager session began; zero when not known (MySQL keeps no
	// connection start).
	Since time.Time `json:"since,omitzero"`
	// State is what the connection does (active, idle, idle in
	// transaction ...) and StateSince since when.
	State      string    `json:"state,omitempty"`
	StateSince time.Time `json:"state_since,omitzero"`
	// Statement is the current or last statement, when the administrative
	// user may see it; StatementHidden says it may not.
	Statement       string `json:"statement,omitempty"`
	StatementHidden bool   `json:"statement_hidden,omitempty"`
	// Self marks the listing's own connection and Session Manager session.
	Self bool `json:"self,omitempty"`
}

// Report is what List found.
type Report struct {
	Target   string    `json:"target"`
	Engine   string    `json:"engine"`
	Bastion  string    `json:"bastion,omitempty"`
	Time     time.Time `json:"time"`
	Sessions []Session `json:"sessions"`
	// Warnings say what could not be read or seen, and what to do.
	Warnings []string `json:"warnings,omitempty"`
}

// ErrNoSources is a List with neither a database handle nor a bastion.
var ErrNoSources = errors.New("activity: nothing to list: give the administrative database handle, the bastion, or both")

// List reads both sides and joins them. A side that cannot be read is a
// warning when the other was read, and an error when neither was.
func List(ctx context.Context, src Sources) (*Report, error) {
	now := time.Now()
	if src.Now != nil {
		now = src.Now()
	}
	rep := &Report{Target: src.Target.Identifier, Engine: src.Target.Engine, Bastion: src.Bastion, Time: now.UTC()}
	ssmOn, dbOn := src.SSM != nil && src.Bastion != "", src.DB != nil
	if !ssmOn && !dbOn {
		return nil, ErrNoSources
	}
	var (
		tunnels []tunnelSession
		conns   []connection
		errs    []error
	)
	if ssmOn {
		var err error
		if tunnels, err = describeSessions(ctx, src.SSM, src.Bastion); err != nil {
			errs = append(errs, err)
		}
	}
	if dbOn {
		var warn []string
		var err error
		if conns, warn, err = readConnections(ctx, src.DB, src.Target, now); err != nil {
			errs = append(errs, err)
		}
		rep.Warnings = append(rep.Warnings, warn...)
	}
	if len(errs) == (btoi(ssmOn) + btoi(dbOn)) {
		return nil, errors.Join(errs...)
	}
	for _, err := range errs {
		rep.Warnings = append(rep.Warnings, err.Error())
	}
	rep.Sessions = join(tunnels, conns, src.BastionAddrs, src.Own)
	return rep, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Find returns the row with id.
func (r *Report) Find(id string) (Session, bool) {
	i := slices.IndexFunc(r.Sessions, func(s Session) bool { return s.ID == id })
	if i < 0 {
		return Session{}, false
	}
	return r.Sessions[i], true
}

// NotFoundError is a Kill of an id the listing does not show.
type NotFoundError struct {
	ID     string
	Target string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no session %s on %s: it ended, or it is not one the listing shows (list them again)", e.ID, e.Target)
}
