package grant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// mysqlPrivileges maps the database-level privileges rdsgate grants to
// their mysql.db columns.
var mysqlPrivileges = []struct{ name, column string }{
	{"SELECT", "Select_priv"}, {"INSERT", "Insert_priv"}, {"UPDATE", "Update_priv"}, {"DELETE", "Delete_priv"},
	{"CREATE", "Create_priv"}, {"DROP", "Drop_priv"}, {"INDEX", "Index_priv"}, {"ALTER", "Alter_priv"},
	{"REFERENCES", "References_priv"}, {"CREATE TEMPORARY TABLES", "Create_tmp_table_priv"}, {"LOCK TABLES", "Lock_tables_priv"},
	{"CREATE VIEW", "Create_view_priv"}, {"SHOW VIEW", "Show_view_priv"}, {"CREATE ROUTINE", "Create_routine_priv"},
	{"ALTER ROUTINE", "Alter_routine_priv"}, {"EXECUTE", "Execute_priv"}, {"EVENT", "Event_priv"}, {"TRIGGER", "Trigger_priv"},
}

func mysqlPrivilegeNames() []string {
	out := make([]string, len(mysqlPrivileges))
	for i, p := range mysqlPrivileges {
		out[i] = p.name
	}
	return out
}

// mysqlProfile lists the privileges of s's profile on `db`.*; Owner is
// every database-level privilege (what ALL PRIVILEGES means there).
func mysqlProfile(s Spec) []string {
	switch s.Profile {
	case ReadWrite:
		return []string{"SELECT", "INSERT", "UPDATE", "DELETE", "SHOW VIEW"}
	case Owner:
		return mysqlPrivilegeNames()
	case Custom:
		return s.Privileges
	}
	return []string{"SELECT", "SHOW VIEW"}
}

const (
	myUserState = "SELECT plugin FROM mysql.user WHERE User = ? AND Host = '%'"
	myDBRow     = "SELECT * FROM mysql.db WHERE User = ? AND Host = '%' AND Db = ?"
)

// mysqlHost is the account host: IAM users sign in from anywhere their
// route lets them; the network, not the account, limits where from.
const mysqlHost = "%"

func mysqlGrant(s Spec) *Plan {
	acct := mysqlAccount(s.User, mysqlHost)
	privs := mysqlProfile(s)
	list := strings.Join(privs, ", ")
	if s.Profile == Owner {
		list = "ALL PRIVILEGES"
	}
	p := &Plan{Action: "grant", Spec: s, prepare: mysqlPrepare}
	p.Steps = []Step{
		{SQL: "CREATE USER IF NOT EXISTS " + acct + " IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL",
			done: func(ctx context.Context, q querier) (bool, string, error) {
				var plugin string
				err := q.QueryRowContext(ctx, myUserState, s.User).Scan(&plugin)
				if errors.Is(err, sql.ErrNoRows) {
					return false, "", nil
				}
				return err == nil, "", err
			}},
		{SQL: "GRANT " + list + " ON " + QuoteMySQLIdent(mysqlDBPattern(s.Database)) + ".* TO " + acct,
			done: func(ctx context.Context, q querier) (bool, string, error) {
				have, err := mysqlDBPrivileges(ctx, q, s.User, mysqlDBPattern(s.Database))
				if err != nil {
					return false, "", err
				}
				for _, pr := range privs {
					if !have[pr] {
						return false, "", nil
					}
				}
				return true, "", nil
			}},
	}
	return p
}

func mysqlRevoke(s Spec) *Plan {
	acct := mysqlAccount(s.User, mysqlHost)
	p := &Plan{Action: "revoke", Spec: s, prepare: mysqlPrepare}
	p.Steps = []Step{
		{SQL: "REVOKE ALL PRIVILEGES ON " + QuoteMySQLIdent(mysqlDBPattern(s.Database)) + ".* FROM " + acct,
			done: func(ctx context.Context, q querier) (bool, string, error) {
				have, err := mysqlDBPrivileges(ctx, q, s.User, mysqlDBPattern(s.Database))
				return have == nil, "", err
			}},
		{SQL: "DROP USER IF EXISTS " + acct,
			done: func(ctx context.Context, q querier) (bool, string, error) {
				var plugin string
				err := q.QueryRowContext(ctx, myUserState, s.User).Scan(&plugin)
				if errors.Is(err, sql.ErrNoRows) {
					return true, "", nil
				}
				return false, "", err
			}},
	}
	return p
}

// mysqlPrepare refuses names whose quoting depends on the session's
// sql_mode.
func mysqlPrepare(ctx context.Context, q querier, p *Plan) error {
	if !strings.Contains(p.Spec.User+p.Spec.Database, `\`) {
		return nil
	}
	var mode string
	if err := q.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
		return err
	}
	if strings.Contains(strings.ToUpper(mode), "NO_BACKSLASH_ESCAPES") {
		return fmt.Errorf("the server's sql_mode has NO_BACKSLASH_ESCAPES, where backslashes in %q/%q would be quoted differently: choose names without a backslash", p.Spec.User, p.Spec.Database)
	}
	return nil
}

// mysqlDBPrivileges returns the privileges user@'%' holds on the database
// pattern db (nil when there is no grant at all).
func mysqlDBPrivileges(ctx context.Context, q querier, user, db string) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, myDBRow, user, db)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	byCol := map[string]bool{}
	for i, c := range cols {
		byCol[strings.ToLower(c)] = string(vals[i]) == "Y"
	}
	have := map[string]bool{}
	for _, p := range mysqlPrivileges {
		have[p.name] = byCol[strings.ToLower(p.column)]
	}
	return have, rows.Err()
}
