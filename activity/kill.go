package activity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rdsgate/rdsgate/target"
)

// KillOptions say how far a kill reaches.
type KillOptions struct {
	// Tunnel also terminates the Session Manager session a connection is
	// tied to (ending every connection it carries). Killing a session by
	// its Session Manager id always terminates it.
	Tunnel bool
}

// Plan is what a kill will do, to be shown before it is applied.
type Plan struct {
	Target string
	// Session is the row the kill was asked for.
	Session Session
	// EndConnections are the database process ids to end; Statements the
	// SQL that ends each, in the same order.
	EndConnections []int64
	Statements     []string
	// TerminateTunnel is the Session Manager session to terminate ("":
	// none).
	TerminateTunnel string
	src             Sources
}

// ErrSelf is a kill of the listing's own connection or session.
var ErrSelf = errors.New("that is this listing's own connection: it ends when the command does")

// PlanKill lists the sessions and plans ending the one with id: a database
// process id ends that connection (and, with opts.Tunnel, its Session
// Manager session); a Session Manager session id terminates that session
// and ends the connections tied to it.
func PlanKill(ctx context.Context, src Sources, id string, opts KillOptions) (*Plan, error) {
	rep, err := List(ctx, src)
	if err != nil {
		return nil, err
	}
	return rep.PlanKill(src, id, opts)
}

// PlanKill plans ending the session with id as listed in r (see the
// function PlanKill).
func (r *Report) PlanKill(src Sources, id string, opts KillOptions) (*Plan, error) {
	row, ok := r.Find(id)
	if !ok {
		// A Session Manager id whose connections are listed under their
		// own ids.
		for _, s := range r.Sessions {
			if s.SSMSession == id && s.SSMSession != "" {
				row, ok = Session{ID: id, AWSIdentity: s.AWSIdentity, SSMSession: id, SSMStarted: s.SSMStarted, Self: s.Self}, true
				break
			}
		}
	}
	if !ok {
		return nil, &NotFoundError{ID: id, Target: r.Target}
	}
	if row.Self {
		return nil, ErrSelf
	}
	p := &Plan{Target: r.Target, Session: row, src: src}
	switch {
	case row.PID != 0:
		p.end(src.Target, row.PID)
		if opts.Tunnel {
			if row.SSMSession == "" {
				return nil, fmt.Errorf("connection %s is tied to no Session Manager session (match: %s); end the connection alone, or the session by its id", id, cmp.Or(string(row.Match), "none"))
			}
			p.TerminateTunnel = row.SSMSession
		}
	default:
		p.TerminateTunnel = row.SSMSession
		for _, s := range r.Sessions {
			if s.PID != 0 && s.SSMSession == row.SSMSession && !s.Self {
				p.end(src.Target, s.PID)
			}
		}
	}
	if p.TerminateTunnel != "" && (src.SSM == nil || src.Bastion == "") {
		return nil, errors.New("activity: terminating a Session Manager session needs the SSM API and the bastion")
	}
	if len(p.EndConnections) > 0 && src.DB == nil {
		return nil, errors.New("activity: ending a database connection needs the administrative database handle")
	}
	return p, nil
}

func (p *Plan) end(t target.Target, pid int64) {
	p.EndConnections = append(p.EndConnections, pid)
	p.Statements = append(p.Statements, endStatement(t, pid))
}

// endStatement is the SQL that ends connection pid.
func endStatement(t target.Target, pid int64) string {
	if t.Family() == target.FamilyPostgres {
		return "SELECT pg_terminate_backend(" + strconv.FormatInt(pid, 10) + ")"
	}
	return "KILL CONNECTION " + strconv.FormatInt(pid, 10)
}

// String is the plan for people, one step a line.
func (p *Plan) String() string {
	var b strings.Builder
	s := p.Session
	who := cmp.Or(s.AWSIdentity, "an unknown AWS identity")
	if s.PID != 0 {
		fmt.Fprintf(&b, "Session %s on %s: database user %s", s.ID, p.Target, cmp.Or(s.DBUser, "?"))
		if s.Application != "" {
			fmt.Fprintf(&b, " (%s)", s.Application)
		}
		fmt.Fprintf(&b, ", %s.\n", who)
	} else {
		fmt.Fprintf(&b, "Session Manager session %s on %s, started by %s.\n", s.SSMSession, p.Target, who)
	}
	for _, st := range p.Statements {
		fmt.Fprintf(&b, "  end the database connection: %s\n", st)
	}
	if p.TerminateTunnel != "" {
		fmt.Fprintf(&b, "  terminate the Session Manager session %s (every connection it carries ends)\n", p.TerminateTunnel)
	}
	return b.String()
}

// Apply ends the connections, then terminates the Session Manager
// session. A connection that ended meanwhile is not an error.
func (p *Plan) Apply(ctx context.Context) error {
	var errs []error
	for _, pid := range p.EndConnections {
		if err := endConnection(ctx, p.src, pid); err != nil {
			errs = append(errs, err)
		}
	}
	if p.TerminateTunnel != "" {
		arn := "arn:aws:ssm:" + cmp.Or(p.src.Target.Region, "REGION") + ":" + cmp.Or(p.src.Account, "ACCOUNT") + ":session/" + p.TerminateTunnel
		if _, err := p.src.SSM.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: aws.String(p.TerminateTunnel)}); err != nil {
			errs = append(errs, ssmError("terminate the Session Manager session "+p.TerminateTunnel, "ssm:TerminateSession", arn+
				" (rdsgate's own policy allows ending only your own sessions)", err))
		}
	}
	return errors.Join(errs...)
}

// MySQL error numbers.
const (
	erNoSuchThread    = 1094
	erKillDenied      = 1095
	erNoSuchProcedure = 1305
)

// endConnection ends pid. On MySQL a KILL the user may not run is tried
// again as RDS's mysql.rds_kill, which RDS's master user may call.
func endConnection(ctx context.Context, src Sources, pid int64) error {
	stmt := endStatement(src.Target, pid)
	if src.Target.Family() == target.FamilyPostgres {
		var ended bool
		err := src.DB.QueryRowContext(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ended)
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == "42501":
			return fmt.Errorf("%s: %w; the administrative user needs pg_signal_backend (GRANT pg_signal_backend TO it; RDS's rds_superuser has it)", stmt, err)
		case err != nil:
			return fmt.Errorf("%s: %w", stmt, err)
		}
		return nil // false: it ended meanwhile
	}
	_, err := src.DB.ExecContext(ctx, stmt)
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) && myErr.Number == erKillDenied {
		_, rerr := src.DB.ExecContext(ctx, "CALL mysql.rds_kill(?)", pid)
		if errors.As(rerr, &myErr) && myErr.Number == erNoSuchProcedure {
			return fmt.Errorf("%s: %w; the administrative user needs CONNECTION_ADMIN (MySQL 8) or SUPER, or RDS's CALL mysql.rds_kill(%d)", stmt, err, pid)
		}
		err = rerr
		stmt = fmt.Sprintf("CALL mysql.rds_kill(%d)", pid)
	}
	switch {
	case errors.As(err, &myErr) && myErr.Number == erNoSuchThread:
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}
