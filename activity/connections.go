package activity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rdsgate/rdsgate/target"
)

// connection is one client connection as the database sees it.
type connection struct {
	PID             int64
	User, Database  string
	Application     string // as the client set it, rdsgate's tag included
	Client          string // address, no port
	Since           time.Time
	State           string
	StateSince      time.Time
	Statement       string
	StatementHidden bool
	Self            bool
}

// internalUsers are RDS's and the server's own sessions, left out.
var internalUsers = []string{"rdsadmin", "rdsrepladmin", "system user", "event_scheduler"}

// readConnections lists the client connections of t through db, with
// warnings for what the administrative user may not see.
func readConnections(ctx context.Context, db *sql.DB, t target.Target, now time.Time) ([]connection, []string, error) {
	switch t.Family() {
	case target.FamilyPostgres:
		return postgresConnections(ctx, db)
	case target.FamilyMySQL:
		return mysqlConnections(ctx, db, now)
	}
	return nil, nil, fmt.Errorf("%s runs %s, which rdsgate does not speak (PostgreSQL, MySQL and MariaDB engines only)", t.Identifier, t.Engine)
}

// pgActivity lists client connections. Of another user's connection a
// role without pg_read_all_stats sees only the pid, user, database and
// application: no backend_type, so a row with a database counts as a
// client (background workers have none).
//
// pgHidden is what pg_stat_activity shows for another user's statement
// to a role without pg_read_all_stats.
const pgHidden = "<insufficient privilege>"

const pgActivity = `SELECT pid, COALESCE(usename, ''), COALESCE(datname, ''), COALESCE(application_name, ''),
	COALESCE(host(client_addr), ''), backend_start, COALESCE(state, ''), state_change, COALESCE(query, ''), pid = pg_backend_pid()
FROM pg_stat_activity
WHERE (backend_type = 'client backend' OR backend_type IS NULL AND datname IS NOT NULL) AND NOT COALESCE(usename, '') = ANY($1)
ORDER BY backend_start NULLS LAST, pid`

func postgresConnections(ctx context.Context, db *sql.DB) ([]connection, []string, error) {
	rows, err := db.QueryContext(ctx, pgActivity, internalUsers)
	if err != nil {
		return nil, nil, dbError("read pg_stat_activity", err)
	}
	defer rows.Close()
	var out []connection
	hidden := 0
	for rows.Next() {
		var c connection
		var since, stateSince sql.NullTime
		if err := rows.Scan(&c.PID, &c.User, &c.Database, &c.Application, &c.Client, &since, &c.State, &stateSince, &c.Statement, &c.Self); err != nil {
			return nil, nil, fmt.Errorf("read pg_stat_activity: %w", err)
		}
		c.Since, c.StateSince = since.Time, stateSince.Time
		if c.Statement == pgHidden {
			c.Statement, c.StatementHidden = "", true
			hidden++
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, dbError("read pg_stat_activity", err)
	}
	var warn []string
	if hidden > 0 {
		warn = append(warn, fmt.Sprintf("%d connections of other users show no client address, state or statement: the administrative user needs pg_read_all_stats (GRANT pg_read_all_stats TO it; RDS's rds_superuser has it through pg_monitor)", hidden))
	}
	return out, warn, nil
}

const mysqlProcesses = `SELECT ID, COALESCE(USER, ''), COALESCE(HOST, ''), COALESCE(DB, ''), COALESCE(COMMAND, ''), COALESCE(TIME, 0),
	COALESCE(STATE, ''), COALESCE(INFO, ''), ID = CONNECTION_ID()
FROM information_schema.PROCESSLIST ORDER BY ID`

// mysqlAttrs are the connection attributes the listing reads, where
// performance_schema keeps them (MySQL 8 by default; MariaDB and small RDS
// instances often not).
const mysqlAttrs = `SELECT PROCESSLIST_ID, ATTR_VALUE FROM performance_schema.session_connect_attrs WHERE ATTR_NAME = 'program_name'`

func mysqlConnections(ctx context.Context, db *sql.DB, now time.Time) ([]connection, []string, error) {
	rows, err := db.QueryContext(ctx, mysqlProcesses)
	if err != nil {
		return nil, nil, dbError("read information_schema.PROCESSLIST", err)
	}
	defer rows.Close()
	var out []connection
	for rows.Next() {
		var c connection
		var host, command, state string
		var secs int64
		if err := rows.Scan(&c.PID, &c.User, &host, &c.Database, &command, &secs, &state, &c.Statement, &c.Self); err != nil {
			return nil, nil, fmt.Errorf("read information_schema.PROCESSLIST: %w", err)
		}
		if slices.Contains(internalUsers, c.User) || command == "Daemon" || command == "Binlog Dump" || command == "Binlog Dump GTID" {
			continue
		}
		c.Client = hostOnly(host)
		c.State = mysqlState(command, state)
		c.StateSince = now.Add(-time.Duration(secs) * time.Second).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, dbError("read information_schema.PROCESSLIST", err)
	}
	rows.Close()
	var warn []string
	if len(out) <= 1 {
		warn = append(warn, "the process list shows only the administrative user's own connection: it may need the PROCESS privilege to see others (RDS's master user has it)")
	}
	apps, err := mysqlPrograms(ctx, db)
	if err != nil {
		warn = append(warn, "client applications are not shown: "+err.Error())
	}
	for i := range out {
		out[i].Application = apps[out[i].PID]
	}
	return out, warn, nil
}

// mysqlPrograms maps thread ids to their program_name attribute; empty
// where performance_schema keeps none.
func mysqlPrograms(ctx context.Context, db *sql.DB) (map[int64]string, error) {
	apps := map[int64]string{}
	rows, err := db.QueryContext(ctx, mysqlAttrs)
	if err != nil {
		return apps, fmt.Errorf("read performance_schema.session_connect_attrs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			return apps, err
		}
		apps[id] = v
	}
	return apps, rows.Err()
}

// mysqlState names what a thread does as PostgreSQL's state does.
func mysqlState(command, state string) string {
	switch command {
	case "Sleep":
		return "idle"
	case "Query", "Execute":
		if state != "" {
			return "active (" + strings.ToLower(state) + ")"
		}
		return "active"
	}
	return strings.ToLower(command)
}

// hostOnly drops the port from a process list HOST (host:port, or
// "localhost" for a socket, which becomes "").
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	if h == "localhost" {
		return ""
	}
	return h
}

// dbError names the privilege a refusal lacks.
func dbError(what string, err error) error {
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42501":
		return fmt.Errorf("%s: %w; log in as the master user or a member of pg_monitor", what, err)
	case errors.As(err, &myErr) && (myErr.Number == 1227 || myErr.Number == 1142):
		return fmt.Errorf("%s: %w; log in as the master user or a user with the PROCESS privilege", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
