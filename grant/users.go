package grant

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rdsgate/rdsgate/target"
)

// User is one database account as ListUsers sees it.
type User struct {
	Name string `json:"name"`
	// Host is the MySQL account host ("" on PostgreSQL).
	Host string `json:"host,omitempty"`
	// Auth is how the user signs in: "iam", "password", or the MySQL
	// plugin name when it is neither.
	Auth string `json:"auth"`
	// IAM is true for IAM-authenticated users (PostgreSQL: member of
	// rds_iam; MySQL: AWSAuthenticationPlugin).
	IAM bool `json:"iam"`
	// RequiresTLS: "yes", "no", or "yes (rds.force_ssl)" and the like.
	RequiresTLS string `json:"requires_tls"`
	// Profile is the access level on the database listed: admin, owner,
	// read-write, read-only or none. It comes from membership in rdsgate's
	// group roles when the user has one (Roles), else it is a best-effort
	// reading of the privileges the user holds itself.
	Profile string `json:"profile"`
	// Roles are the rdsgate group roles the user is a member of, e.g.
	// rdsgate_orders_read (on MySQL without a database: of every database).
	Roles []string `json:"roles,omitempty"`
	// Master marks the master user.
	Master bool `json:"master"`
	// Flags are what a reviewer should look at.
	Flags []string `json:"flags,omitempty"`
}

// ListUsers lists the login users of the database db is connected to
// (group roles are not users). master is the instance's master user.
//
// No engine records a user's last login by default (PostgreSQL logs
// connections only with log_connections, MySQL and MariaDB only with an
// audit plugin, both to the server log), so there is no last-login field
// rather than a guess.
func ListUsers(ctx context.Context, db *sql.DB, fam target.Family, master string) ([]User, error) {
	var us []User
	var err error
	switch fam {
	case target.FamilyPostgres:
		us, err = pgUsers(ctx, db)
	case target.FamilyMySQL:
		us, err = mysqlUsers(ctx, db)
	default:
		return nil, fmt.Errorf("engine family %q is not supported", fam)
	}
	if err != nil {
		return nil, fmt.Errorf("list users: %w%s", err, catalogHint(err))
	}
	for i := range us {
		u := &us[i]
		if master != "" && u.Name == master {
			u.Master = true
			u.Flags = append(u.Flags, "master user: keep it for administration, sign in as your own IAM user")
		} else if !u.IAM {
			u.Flags = append(u.Flags, "password user: move it to IAM with rdsgate grant, or drop it")
		}
		if u.RequiresTLS == "no" {
			u.Flags = append(u.Flags, "TLS not required")
		}
	}
	return us, nil
}

const pgUsersQuery = `SELECT r.rolname, r.rolsuper OR r.rolcreaterole OR r.rolcreatedb,
  EXISTS(SELECT 1 FROM pg_auth_members m JOIN pg_roles i ON i.oid = m.roleid WHERE i.rolname = 'rds_iam' AND m.member = r.oid),
  EXISTS(SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a WHERE a.grantee = r.oid AND a.privilege_type = 'CREATE')
    OR EXISTS(SELECT 1 FROM pg_namespace n WHERE n.nspowner = r.oid AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'),
  EXISTS(SELECT 1 FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = r.oid AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE')),
  EXISTS(SELECT 1 FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = r.oid AND a.privilege_type = 'SELECT')
    OR EXISTS(SELECT 1 FROM pg_class c WHERE c.relowner = r.oid AND c.relnamespace NOT IN (SELECT oid FROM pg_namespace WHERE nspname LIKE 'pg\_%' OR nspname = 'information_schema')),
  COALESCE(current_setting('rds.force_ssl', true), ''),
  (SELECT COALESCE(json_agg(g.rolname ORDER BY g.rolname), '[]')::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
    WHERE m.member = r.oid AND g.rolname = ANY($1::text[]))
FROM pg_roles r
WHERE r.rolcanlogin AND r.rolname !~ '^(pg_|rds_|rdsadmin$|rdsrepladmin$|rdstopmgr$|rdswriteforward)'
ORDER BY r.rolname`

func pgUsers(ctx context.Context, db *sql.DB) ([]User, error) {
	var name string
	if err := db.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, pgUsersQuery, groupRoles(target.FamilyPostgres, name))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var us []User
	for rows.Next() {
		var u User
		var admin, iam, create, write, read bool
		var forceSSL string
		var roles string
		if err := rows.Scan(&u.Name, &admin, &iam, &create, &write, &read, &forceSSL, &roles); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(roles), &u.Roles); err != nil {
			return nil, fmt.Errorf("%s's roles %q: %w", u.Name, roles, err)
		}
		u.IAM = iam
		u.Auth = "password"
		if iam {
			u.Auth = "iam"
		}
		switch {
		case iam:
			u.RequiresTLS = "yes (IAM)"
		case forceSSL == "1" || strings.EqualFold(forceSSL, "on"):
			u.RequiresTLS = "yes (rds.force_ssl)"
		case forceSSL == "":
			u.RequiresTLS = "unknown (no rds.force_ssl)"
		default:
			u.RequiresTLS = "no"
		}
		u.Profile = profileOf(admin, create, write, read)
		if p := strongest(u.Roles, func(r string) Profile { return groupProfile(target.FamilyPostgres, name, r) }); p != "" && !admin {
			u.Profile = string(p)
		}
		us = append(us, u)
	}
	return us, rows.Err()
}

// strongest returns the strongest profile of roles, as level reads each
// ("" when none is a group role).
func strongest(roles []string, level func(string) Profile) Profile {
	for _, l := range groupLevels {
		for _, r := range roles {
			if level(r) == l.profile {
				return l.profile
			}
		}
	}
	return ""
}

func profileOf(admin, create, write, read bool) string {
	switch {
	case admin:
		return "admin"
	case create:
		return string(Owner)
	case write:
		return string(ReadWrite)
	case read:
		return string(ReadOnly)
	}
	return "none"
}

// mysqlUsersQuery reads the accounts with their global and database
// privileges (on every database; the profile is the strongest); %s leaves
// out the roles.
const mysqlUsersQuery = `SELECT u.User, u.Host, u.plugin, u.ssl_type,
  (u.Super_priv = 'Y' OR u.Grant_priv = 'Y' OR u.Create_user_priv = 'Y'),
  (u.Create_priv = 'Y' OR EXISTS(SELECT 1 FROM mysql.db d WHERE d.User = u.User AND d.Host = u.Host AND d.Create_priv = 'Y')),
  (u.Insert_priv = 'Y' OR EXISTS(SELECT 1 FROM mysql.db d WHERE d.User = u.User AND d.Host = u.Host AND (d.Insert_priv = 'Y' OR d.Update_priv = 'Y' OR d.Delete_priv = 'Y'))),
  (u.Select_priv = 'Y' OR EXISTS(SELECT 1 FROM mysql.db d WHERE d.User = u.User AND d.Host = u.Host AND d.Select_priv = 'Y'))
FROM mysql.user u
WHERE u.User <> '' AND u.User NOT IN ('rdsadmin', 'mysql.sys', 'mysql.session', 'mysql.infoschema', 'mariadb.sys') AND %s
ORDER BY u.User, u.Host`

// notRole is the condition of mysqlUsersQuery that leaves out roles:
// MariaDB marks them; a MySQL 8 role is a locked account that is granted
// to others or is one of rdsgate's.
func (m mysqlServer) notRole() string {
	switch {
	case m.mariaDB:
		return "u.is_role <> 'Y'"
	case m.roles:
		return `NOT (u.account_locked = 'Y' AND (u.User LIKE 'rdsgate\_%' OR EXISTS(SELECT 1 FROM mysql.role_edges e WHERE e.FROM_USER = u.User AND e.FROM_HOST = u.Host)))`
	}
	return "TRUE"
}

// membershipsQuery lists every account's roles: user, host, role.
func (m mysqlServer) membershipsQuery() string {
	if m.mariaDB {
		return "SELECT User, Host, Role FROM mysql.roles_mapping ORDER BY 3"
	}
	return "SELECT TO_USER, TO_HOST, FROM_USER FROM mysql.role_edges ORDER BY 3"
}

func mysqlUsers(ctx context.Context, db *sql.DB) ([]User, error) {
	var version string
	var database sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT VERSION(), DATABASE()").Scan(&version, &database); err != nil {
		return nil, err
	}
	m := mysqlServerFromVersion(version)
	// The group roles of the database connected to, else of any database.
	level := func(r string) Profile {
		if database.String != "" {
			return groupProfile(target.FamilyMySQL, database.String, r)
		}
		if strings.HasPrefix(r, groupPrefix) {
			for _, l := range groupLevels {
				if strings.HasSuffix(r, "_"+l.suffix) {
					return l.profile
				}
			}
		}
		return ""
	}
	roles := map[string][]string{} // by user@host
	if m.roles {
		rows, err := db.QueryContext(ctx, m.membershipsQuery())
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var user, host, role string
			if err := rows.Scan(&user, &host, &role); err != nil {
				rows.Close()
				return nil, err
			}
			if level(role) != "" {
				roles[user+"@"+host] = append(roles[user+"@"+host], role)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(mysqlUsersQuery, m.notRole()))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var us []User
	for rows.Next() {
		var u User
		var plugin, sslType string
		var admin, create, write, read bool
		if err := rows.Scan(&u.Name, &u.Host, &plugin, &sslType, &admin, &create, &write, &read); err != nil {
			return nil, err
		}
		switch {
		case strings.EqualFold(plugin, "AWSAuthenticationPlugin"):
			u.IAM, u.Auth = true, "iam"
		case plugin == "mysql_native_password" || plugin == "caching_sha2_password" || plugin == "sha256_password" || plugin == "":
			u.Auth = "password"
		default:
			u.Auth = plugin
		}
		switch {
		case sslType != "" && sslType != "NONE":
			u.RequiresTLS = "yes (" + sslType + ")"
		case u.IAM:
			u.RequiresTLS = "yes (IAM)"
		default:
			u.RequiresTLS = "no"
		}
		u.Profile = profileOf(admin, create, write, read)
		u.Roles = roles[u.Name+"@"+u.Host]
		if p := strongest(u.Roles, level); p != "" && !admin {
			u.Profile = string(p)
		}
		us = append(us, u)
	}
	return us, rows.Err()
}

// catalogHint is the next step after an error reading the catalogs, when
// there is one: a refusal for want of privilege means the administrative
// login is not the master user.
func catalogHint(err error) string {
	var pe *pgconn.PgError
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &pe) && pe.Code == "42501", // insufficient_privilege
		errors.As(err, &me) && (me.Number == 1044 || me.Number == 1142 || me.Number == 1143 || me.Number == 1227): // access denied to a database, table, column; missing privilege
		return " (the administrative user needs to read the catalogs: use the master user's secret)"
	}
	return ""
}
