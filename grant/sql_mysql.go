package grant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rdsgate/rdsgate/target"
)

// MySQL and MariaDB: privileges on `db`.* hold for every table of the
// database, those created later included, whoever creates them (tables
// have no owner there), so a group role needs no default privileges: the
// role holds the profile's privileges on `db`.*, the user is granted the
// role and has it as its default role, active from login. Where the server
// has no roles (MySQL 5.7) and for the custom profile, the user holds the
// privileges itself, as before group roles.
//
// MySQL 8 and MariaDB spell roles differently: a MySQL role is an account
// 'r'@'%' (locked, in mysql.user; memberships in mysql.role_edges, default
// roles in mysql.default_roles, SET DEFAULT ROLE r TO u); a MariaDB role has
// the host '' and is_role 'Y' in mysql.user (memberships in
// mysql.roles_mapping, the default role in mysql.user's default_role
// column, SET DEFAULT ROLE r FOR u). MariaDB also makes the creator of a
// role its member WITH ADMIN OPTION, which is what lets the administrative
// user grant it.

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

// mysqlServer is what the SQL depends on: MariaDB or MySQL, with roles or
// without.
type mysqlServer struct {
	mariaDB, roles bool
}

// mysqlServerOf guesses the server from the RDS engine name and version,
// for the SQL a plan prints; Apply asks the server itself.
func mysqlServerOf(engine, version string) mysqlServer {
	if strings.Contains(strings.ToLower(engine), "mariadb") {
		return mysqlServer{mariaDB: true, roles: true} // RDS runs MariaDB 10.4 and later
	}
	major, _, _ := strings.Cut(version, ".")
	n, err := strconv.Atoi(major)
	return mysqlServer{roles: err != nil || n >= 8}
}

// mysqlServerFromVersion reads SELECT VERSION(): "10.11.9-MariaDB-...",
// "8.0.36", "5.7.44-log".
func mysqlServerFromVersion(v string) mysqlServer {
	if strings.Contains(strings.ToLower(v), "mariadb") {
		parts := strings.SplitN(v, ".", 3)
		major, _ := strconv.Atoi(parts[0])
		minor := 0
		if len(parts) > 1 {
			minor, _ = strconv.Atoi(parts[1])
		}
		return mysqlServer{mariaDB: true, roles: major > 10 || major == 10 && minor >= 1}
	}
	return mysqlServerOf("mysql", v)
}

// roleHost is the host of a role's rows in mysql.user and mysql.db.
func (m mysqlServer) roleHost() string {
	if m.mariaDB {
		return ""
	}
	return "%"
}

// role quotes a role name: 'r' (MySQL reads it as 'r'@'%').
func (m mysqlServer) role(r string) string { return QuoteMySQLLiteral(r) }

// setDefaultRole is SET DEFAULT ROLE in the server's spelling; role "" is
// NONE.
func (m mysqlServer) setDefaultRole(role, acct string) string {
	r := "NONE"
	if role != "" {
		r = m.role(role)
	}
	if m.mariaDB {
		return "SET DEFAULT ROLE " + r + " FOR " + acct
	}
	return "SET DEFAULT ROLE " + r + " TO " + acct
}

// The catalog queries; ? are the user (and role) names.
const (
	myUserState = "SELECT plugin FROM mysql.user WHERE User = ? AND Host = '%'"
	myDBRow     = "SELECT * FROM mysql.db WHERE User = ? AND Host = ? AND Db = ?"
)

func (m mysqlServer) roleExistsQuery() string {
	if m.mariaDB {
		return "SELECT COUNT(*) > 0 FROM mysql.user WHERE User = ? AND is_role = 'Y'"
	}
	return "SELECT COUNT(*) > 0 FROM mysql.user WHERE User = ? AND Host = '%'"
}

// userRolesQuery lists the roles granted to user@'%'.
func (m mysqlServer) userRolesQuery() string {
	if m.mariaDB {
		return "SELECT Role FROM mysql.roles_mapping WHERE User = ? AND Host = '%' ORDER BY 1"
	}
	return "SELECT FROM_USER FROM mysql.role_edges WHERE TO_USER = ? AND TO_HOST = '%' AND FROM_HOST = '%' ORDER BY 1"
}

// defaultRolesQuery lists the default roles of user@'%'.
func (m mysqlServer) defaultRolesQuery() string {
	if m.mariaDB {
		return "SELECT default_role FROM mysql.user WHERE User = ? AND Host = '%' AND default_role <> ''"
	}
	return "SELECT DEFAULT_ROLE_USER FROM mysql.default_roles WHERE USER = ? AND HOST = '%' ORDER BY 1"
}

// mysqlHost is the account host: IAM users sign in from anywhere their
// route lets them; the network, not the account, limits where from.
const mysqlHost = "%"

// mysqlGrantSteps are the statements of a grant on server m, before
// Apply's discovery.
func mysqlGrantSteps(s Spec, m mysqlServer) []Step {
	acct := mysqlAccount(s.User, mysqlHost)
	on := " ON " + QuoteMySQLIdent(mysqlDBPattern(s.Database)) + ".* TO "
	privs := mysqlProfile(s)
	list := strings.Join(privs, ", ")
	if s.Profile == Owner {
		list = "ALL PRIVILEGES"
	}
	hasPrivs := func(user, host string) func(context.Context, querier) (bool, string, error) {
		return func(ctx context.Context, q querier) (bool, string, error) {
			have, err := mysqlDBPrivileges(ctx, q, user, host, mysqlDBPattern(s.Database))
			if err != nil {
				return false, "", err
			}
			for _, pr := range privs {
				if !have[pr] {
					return false, "", nil
				}
			}
			return true, "", nil
		}
	}
	var steps []Step
	role := ""
	if m.roles {
		role = GroupRole(target.FamilyMySQL, s.Database, s.Profile)
	}
	if role != "" {
		steps = append(steps,
			Step{SQL: "CREATE ROLE IF NOT EXISTS " + m.role(role), done: check(m.roleExistsQuery(), role)},
			Step{SQL: "GRANT " + list + on + m.role(role), done: hasPrivs(role, m.roleHost())})
	}
	steps = append(steps, Step{SQL: "CREATE USER IF NOT EXISTS " + acct + " IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL",
		done: func(ctx context.Context, q querier) (bool, string, error) {
			var plugin string
			err := q.QueryRowContext(ctx, myUserState, s.User).Scan(&plugin)
			if errors.Is(err, sql.ErrNoRows) {
				return false, "", nil
			}
			return err == nil, "", err
		}})
	if role == "" {
		return append(steps, Step{SQL: "GRANT " + list + on + acct, done: hasPrivs(s.User, mysqlHost)})
	}
	return append(steps,
		Step{SQL: "GRANT " + m.role(role) + " TO " + acct, done: hasString(m.userRolesQuery(), s.User, role)},
		Step{SQL: m.setDefaultRole(role, acct), done: func(ctx context.Context, q querier) (bool, string, error) {
			have, err := queryStrings(ctx, q, m.defaultRolesQuery(), s.User)
			return len(have) == 1 && have[0] == role, "", err
		}})
}

// hasString is a check that query, run with user, returns want.
func hasString(query, user, want string) func(context.Context, querier) (bool, string, error) {
	return func(ctx context.Context, q querier) (bool, string, error) {
		have, err := queryStrings(ctx, q, query, user)
		for _, h := range have {
			if h == want {
				return true, "", err
			}
		}
		return false, "", err
	}
}

func mysqlGrant(s Spec) *Plan {
	return &Plan{Action: "grant", Spec: s, Steps: mysqlGrantSteps(s, mysqlServerOf(s.Engine, s.EngineVersion)), prepare: mysqlGrantPrepare}
}

// mysqlGrantPrepare rebuilds the plan for the server Apply runs on, and
// moves a user who has another access level on the database: out of the
// other group roles, and out of the privileges it holds itself on the
// database (a custom profile's, or an rdsgate's before group roles).
func mysqlGrantPrepare(ctx context.Context, q querier, p *Plan) error {
	m, err := mysqlPrepare(ctx, q, p)
	if err != nil {
		return err
	}
	s := p.Spec
	steps := mysqlGrantSteps(s, m)
	if m.roles {
		want := GroupRole(target.FamilyMySQL, s.Database, s.Profile)
		leave, err := mysqlOtherRoles(ctx, q, m, s, want, true)
		if err != nil {
			return err
		}
		steps = append(steps, leave...)
		if want != "" {
			own, err := mysqlDBPrivileges(ctx, q, s.User, mysqlHost, mysqlDBPattern(s.Database))
			if err != nil {
				return fmt.Errorf("look up %s's privileges: %w", s.User, err)
			}
			if own != nil {
				steps = append(steps, mysqlRevokeOwn(s))
			}
		}
	}
	p.Steps = steps
	return nil
}

// mysqlOtherRoles returns the statements that take s.User out of the group
// roles of s.Database other than keep, and, when keep is "" and the user
// stays, out of their default role.
func mysqlOtherRoles(ctx context.Context, q querier, m mysqlServer, s Spec, keep string, stays bool) ([]Step, error) {
	have, err := queryStrings(ctx, q, m.userRolesQuery(), s.User)
	if err != nil {
		return nil, fmt.Errorf("look up %s's roles: %w", s.User, err)
	}
	acct := mysqlAccount(s.User, mysqlHost)
	var steps []Step
	for _, r := range have {
		if r == keep || groupProfile(target.FamilyMySQL, s.Database, r) == "" {
			continue
		}
		if keep == "" && stays && len(steps) == 0 {
			steps = append(steps, Step{SQL: m.setDefaultRole("", acct), done: func(ctx context.Context, q querier) (bool, string, error) {
				have, err := queryStrings(ctx, q, m.defaultRolesQuery(), s.User)
				return len(have) == 0, "", err
			}})
		}
		steps = append(steps, Step{SQL: "REVOKE " + m.role(r) + " FROM " + acct, done: func(ctx context.Context, q querier) (bool, string, error) {
			ok, _, err := hasString(m.userRolesQuery(), s.User, r)(ctx, q)
			return !ok, "", err
		}})
	}
	return steps, nil
}

// mysqlRevokeOwn is the statement that takes the privileges s.User holds
// itself on s.Database.
func mysqlRevokeOwn(s Spec) Step {
	return Step{SQL: "REVOKE ALL PRIVILEGES ON " + QuoteMySQLIdent(mysqlDBPattern(s.Database)) + ".* FROM " + mysqlAccount(s.User, mysqlHost),
		done: func(ctx context.Context, q querier) (bool, string, error) {
			have, err := mysqlDBPrivileges(ctx, q, s.User, mysqlHost, mysqlDBPattern(s.Database))
			return have == nil, "", err
		}}
}

func mysqlRevokeSteps(s Spec) []Step {
	return []Step{mysqlRevokeOwn(s),
		// DROP USER ends the user's role memberships too.
		{SQL: "DROP USER IF EXISTS " + mysqlAccount(s.User, mysqlHost),
			done: func(ctx context.Context, q querier) (bool, string, error) {
				var plugin string
				err := q.QueryRowContext(ctx, myUserState, s.User).Scan(&plugin)
				if errors.Is(err, sql.ErrNoRows) {
					return true, "", nil
				}
				return false, "", err
			}},
	}
}

func mysqlRevoke(s Spec) *Plan {
	p := &Plan{Action: "revoke", Spec: s, Steps: mysqlRevokeSteps(s)}
	p.prepare = func(ctx context.Context, q querier, p *Plan) error {
		m, err := mysqlPrepare(ctx, q, p)
		if err != nil {
			return err
		}
		var leave []Step
		if m.roles {
			// The memberships first, so that the output says who lost what.
			if leave, err = mysqlOtherRoles(ctx, q, m, p.Spec, "", false); err != nil {
				return err
			}
		}
		p.Steps = append(leave, mysqlRevokeSteps(p.Spec)...)
		return nil
	}
	return p
}

// mysqlPrepare asks the server what it is, and refuses names whose quoting
// depends on the session's sql_mode.
func mysqlPrepare(ctx context.Context, q querier, p *Plan) (mysqlServer, error) {
	var version, mode string
	if err := q.QueryRowContext(ctx, "SELECT VERSION(), @@SESSION.sql_mode").Scan(&version, &mode); err != nil {
		return mysqlServer{}, fmt.Errorf("ask the server its version: %w", err)
	}
	if strings.Contains(p.Spec.User+p.Spec.Database, `\`) && strings.Contains(strings.ToUpper(mode), "NO_BACKSLASH_ESCAPES") {
		return mysqlServer{}, fmt.Errorf("the server's sql_mode has NO_BACKSLASH_ESCAPES, where backslashes in %q/%q would be quoted differently: choose names without a backslash", p.Spec.User, p.Spec.Database)
	}
	return mysqlServerFromVersion(version), nil
}

// queryStrings runs a query of one text column.
func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// mysqlDBPrivileges returns the privileges user@host holds on the database
// pattern db (nil when there is no grant at all).
func mysqlDBPrivileges(ctx context.Context, q querier, user, host, db string) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, myDBRow, user, host, db)
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
