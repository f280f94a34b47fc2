package grant

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/rdsgate/rdsgate/target"
)

// PostgreSQL: who owns what, and so who must set default privileges.
//
// ALTER DEFAULT PRIVILEGES applies only to objects created by the role it
// names (FOR ROLE; without it, the role running it), and a table belongs to
// the role that was current when it was created: the login role, unless
// the session did SET ROLE. So "readers can read the tables that owners
// create later" needs default privileges FOR ROLE every role that creates
// tables. rdsgate keeps that set to two roles:
//
//   - the owner group, rdsgate_<db>_owner: an --owner user is its member and
//     has it as its role in the database (ALTER ROLE u IN DATABASE d SET
//     role = 'rdsgate_<db>_owner'), so that what it creates belongs to the
//     group, not the person. Every owner may change every other owner's
//     tables, and revoking a person leaves no tables behind to hand over;
//   - the administrative user running the plan (FOR ROLE CURRENT_USER),
//     which created the schema's first tables on most databases.
//
// We chose this over FOR ROLE each owner member: that needs the
// administrative user to be a member of every owner person's role, and a
// new grant for every existing reader each time an owner joins. The cost:
// a table an owner creates after SET ROLE NONE (or a migration tool's own
// login role not made by rdsgate) belongs to that login role and is not
// covered; revoke then refuses and says how to hand it over.
//
// PostgreSQL lets only members of a role set default privileges for it, so
// the administrative user becomes a member of the owner group (GRANT ... TO
// CURRENT_USER). It is never given a profile, revoked or dropped.
//
// The groups' privileges are flat: each group holds every privilege of its
// level, rather than write being a member of read, so that each group reads
// on its own in \dp and a person is a member of exactly one.

// pgTablePrivileges are the table privileges the custom profile accepts.
var pgTablePrivileges = []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}

// pgPrivs is what a profile grants on each kind of object.
type pgPrivs struct {
	database, schema, tables, sequences []string
}

func pgProfile(s Spec) pgPrivs {
	switch s.Profile {
	case ReadWrite:
		return pgPrivs{[]string{"CONNECT"}, []string{"USAGE"}, []string{"SELECT", "INSERT", "UPDATE", "DELETE"}, []string{"USAGE", "SELECT"}}
	case Owner:
		return pgPrivs{[]string{"CONNECT", "TEMPORARY"}, []string{"USAGE", "CREATE"}, pgTablePrivileges, []string{"USAGE", "SELECT", "UPDATE"}}
	case Custom:
		var seq []string
		if slices.ContainsFunc(s.Privileges, func(p string) bool { return p == "INSERT" || p == "UPDATE" }) {
			seq = []string{"USAGE", "SELECT"} // serial columns need their sequences
		}
		return pgPrivs{[]string{"CONNECT"}, []string{"USAGE"}, s.Privileges, seq}
	}
	return pgPrivs{[]string{"CONNECT"}, []string{"USAGE"}, []string{"SELECT"}, nil}
}

// roleOID is a subquery for the oid of the role named by parameter n
// (NULL when there is none, which matches no grantee).
func roleOID(n int) string { return fmt.Sprintf("(SELECT oid FROM pg_roles WHERE rolname = $%d)", n) }

// creatorOID is the oid of the role named by parameter n, or of the current
// user when it is empty: the FOR ROLE of a default privilege.
func creatorOID(n int) string {
	return fmt.Sprintf("(SELECT oid FROM pg_roles WHERE rolname = COALESCE(NULLIF($%d, ''), current_user))", n)
}

// The checks compare explicit grants (aclexplode of the ACL) with the wanted
// privileges: PUBLIC's defaults and inherited roles do not count.
var (
	pgRoleState = `SELECT EXISTS(SELECT 1 FROM pg_roles WHERE rolname = $1), COALESCE((SELECT rolcanlogin FROM pg_roles WHERE rolname = $1), false)`
	// pgIsMember: role $2 is a direct member of role $1.
	pgIsMember = `SELECT EXISTS(SELECT 1 FROM pg_auth_members WHERE roleid = ` + roleOID(1) + ` AND member = ` + roleOID(2) + `)`
	// pgCanUse: the current user has the privileges of role $1 (a
	// superuser always has).
	pgCanUse = `SELECT COALESCE(pg_has_role(current_user, ` + roleOID(1) + `, 'USAGE'), false)`
	pgHasDB  = `SELECT COALESCE((SELECT array_agg(a.privilege_type::text) FROM pg_database d, aclexplode(d.datacl) a
		WHERE d.datname = $1 AND a.grantee = ` + roleOID(2) + `), '{}') @> string_to_array($3, ',')`
	pgHasSchema = `SELECT COALESCE((SELECT array_agg(a.privilege_type::text) FROM pg_namespace n, aclexplode(n.nspacl) a
		WHERE n.nspname = $1 AND a.grantee = ` + roleOID(2) + `), '{}') @> string_to_array($3, ',')`
	// pgHasAllRels: every relation of the kinds $4 in schema $1, but those
	// $2 owns, grants $2 the privileges $3.
	pgHasAllRels = `SELECT NOT EXISTS(SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind::text = ANY(string_to_array($4, ',')) AND c.relowner IS DISTINCT FROM ` + roleOID(2) + `
		AND NOT COALESCE((SELECT array_agg(a.privilege_type::text) FROM aclexplode(c.relacl) a WHERE a.grantee = ` + roleOID(2) + `), '{}') @> string_to_array($3, ','))`
	// pgHasDefault: objects of type $4 that role $5 ("": the current user)
	// creates in schema $1 grant $2 the privileges $3.
	pgHasDefault = `SELECT COALESCE((SELECT array_agg(a.privilege_type::text) FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace,
		aclexplode(d.defaclacl) a WHERE d.defaclrole = ` + creatorOID(5) + `
		AND n.nspname = $1 AND d.defaclobjtype::text = $4 AND a.grantee = ` + roleOID(2) + `), '{}') @> string_to_array($3, ',')`
	// pgHasSetting: role $2 has the setting $3 (name=value) in database $1.
	pgHasSetting = `SELECT EXISTS(SELECT 1 FROM pg_db_role_setting s WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = $1)
		AND s.setrole = ` + roleOID(2) + ` AND $3 = ANY(s.setconfig))`
	// The revoke checks: no explicit grant left.
	pgNoDB     = `SELECT NOT EXISTS(SELECT 1 FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1 AND a.grantee = ` + roleOID(2) + `)`
	pgNoSchema = `SELECT NOT EXISTS(SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = $1 AND a.grantee = ` + roleOID(2) + `)`
	pgNoRels   = `SELECT NOT EXISTS(SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
		WHERE n.nspname = $1 AND c.relkind::text = ANY(string_to_array($3, ',')) AND a.grantee = ` + roleOID(2) + `)`
	// pgNoDefault: objects of type $3 that role $4 ("": the current user)
	// creates in schema $1 grant $2 nothing.
	pgNoDefault = `SELECT NOT EXISTS(SELECT 1 FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a
		WHERE d.defaclrole = ` + creatorOID(4) + ` AND n.nspname = $1 AND d.defaclobjtype::text = $3 AND a.grantee = ` + roleOID(2) + `)`
	pgOwned       = `SELECT count(*) FROM pg_shdepend WHERE refclassid = 'pg_authid'::regclass AND deptype = 'o' AND refobjid = ` + roleOID(1)
	pgUserSchemas = `SELECT n.nspname FROM pg_namespace n, aclexplode(n.nspacl) a WHERE a.grantee = ` + roleOID(1) + `
		UNION SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a WHERE a.grantee = ` + roleOID(1) + `
		UNION SELECT n.nspname FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a WHERE a.grantee = ` + roleOID(1) + `
		ORDER BY 1`
	// pgUserGroups: the roles among $2 that role $1 is a direct member of.
	pgUserGroups = `SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
		WHERE m.member = ` + roleOID(1) + ` AND r.rolname = ANY($2::text[]) ORDER BY 1`
	// pgOtherDefaults: the default privileges granting role $1 something
	// on the objects another role than the current user creates in a
	// schema: role, schema, object type.
	pgOtherDefaults = `SELECT DISTINCT r.rolname, n.nspname, d.defaclobjtype::text FROM pg_default_acl d
		JOIN pg_roles r ON r.oid = d.defaclrole JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a
		WHERE a.grantee = ` + roleOID(1) + ` AND r.rolname <> current_user AND d.defaclobjtype IN ('r', 'S') ORDER BY 1, 2, 3`
)

const (
	relkindsTables    = "r,p,v,m,f"
	relkindsSequences = "S"
)

// pgObjectTypes names pg_default_acl's object types as ALTER DEFAULT
// PRIVILEGES spells them.
var pgObjectTypes = map[string]string{"r": "TABLES", "S": "SEQUENCES"}

func check(query string, args ...any) func(context.Context, querier) (bool, string, error) {
	return func(ctx context.Context, q querier) (bool, string, error) {
		ok, err := boolQuery(ctx, q, query, args...)
		return ok, "", err
	}
}

// pgSteps collects a plan's statements.
type pgSteps []Step

func (st *pgSteps) add(sql string, done func(context.Context, querier) (bool, string, error)) {
	*st = append(*st, Step{SQL: sql, done: done})
}

// forRole is the FOR ROLE clause of a default privilege for objects role
// creates; "" is the current user.
func forRole(role string) string {
	if role == "" {
		return "FOR ROLE CURRENT_USER"
	}
	return "FOR ROLE " + QuotePGIdent(role)
}

// pgGroup adds the statements that create group role g without login.
func (st *pgSteps) pgGroup(g string) {
	st.add("CREATE ROLE "+QuotePGIdent(g)+" NOLOGIN", func(ctx context.Context, q querier) (bool, string, error) {
		var exists, login bool
		err := q.QueryRowContext(ctx, pgRoleState, g).Scan(&exists, &login)
		return exists, "", err
	})
}

// pgPrivileges adds the statements that give grantee the privileges pr on
// database db and in schemas, now and on the tables and sequences that
// each of creators (role names; "" is the current user) creates later.
func (st *pgSteps) pgPrivileges(db string, schemas []string, grantee string, pr pgPrivs, creators []string) {
	g := QuotePGIdent(grantee)
	st.add("GRANT "+strings.Join(pr.database, ", ")+" ON DATABASE "+QuotePGIdent(db)+" TO "+g, check(pgHasDB, db, grantee, strings.Join(pr.database, ",")))
	for _, sc := range schemas {
		qs := QuotePGIdent(sc)
		st.add("GRANT "+strings.Join(pr.schema, ", ")+" ON SCHEMA "+qs+" TO "+g, check(pgHasSchema, sc, grantee, strings.Join(pr.schema, ",")))
		for _, kind := range []struct {
			privs          []string
			all, objs, typ string
		}{{pr.tables, "TABLES", "TABLES", "r"}, {pr.sequences, "SEQUENCES", "SEQUENCES", "S"}} {
			if len(kind.privs) == 0 {
				continue
			}
			list, csv := strings.Join(kind.privs, ", "), strings.Join(kind.privs, ",")
			relkinds := relkindsTables
			if kind.typ == "S" {
				relkinds = relkindsSequences
			}
			st.add("GRANT "+list+" ON ALL "+kind.all+" IN SCHEMA "+qs+" TO "+g, check(pgHasAllRels, sc, grantee, csv, relkinds))
			for _, c := range creators {
				st.add("ALTER DEFAULT PRIVILEGES "+forRole(c)+" IN SCHEMA "+qs+" GRANT "+list+" ON "+kind.objs+" TO "+g,
					check(pgHasDefault, sc, grantee, csv, kind.typ, c))
			}
		}
	}
}

// pgGrantSteps are the statements of a grant, before Apply's discovery.
func pgGrantSteps(s Spec) []Step {
	owner := GroupRole(target.FamilyPostgres, s.Database, Owner)
	group := GroupRole(target.FamilyPostgres, s.Database, s.Profile)
	u := QuotePGIdent(s.User)
	var st pgSteps
	// The owner group exists first, with the administrative user as a
	// member: every profile's default privileges are FOR ROLE it.
	st.pgGroup(owner)
	st.add("GRANT "+QuotePGIdent(owner)+" TO CURRENT_USER", check(pgCanUse, owner))
	grantee := s.User
	if group != "" {
		grantee = group
		if group != owner {
			st.pgGroup(group)
		}
	}
	creators := []string{owner, ""}
	if grantee == owner {
		creators = []string{""} // the group owns what it creates
	}
	var users pgSteps
	users.add("CREATE ROLE "+u+" LOGIN", func(ctx context.Context, q querier) (bool, string, error) {
		var exists, login bool
		if err := q.QueryRowContext(ctx, pgRoleState, s.User).Scan(&exists, &login); err != nil {
			return false, "", err
		}
		if exists && !login {
			return false, "ALTER ROLE " + u + " LOGIN", nil
		}
		return exists, "", nil
	})
	users.add("GRANT rds_iam TO "+u, check(pgIsMember, "rds_iam", s.User))
	if grantee == s.User {
		// Custom: the privileges are the user's own.
		users.pgPrivileges(s.Database, s.Schemas, s.User, pgProfile(s), creators)
	} else {
		st.pgPrivileges(s.Database, s.Schemas, group, pgProfile(s), creators)
		users.add("GRANT "+QuotePGIdent(group)+" TO "+u, check(pgIsMember, group, s.User))
	}
	if s.Profile == Owner {
		set := "role=" + owner
		users.add("ALTER ROLE "+u+" IN DATABASE "+QuotePGIdent(s.Database)+" SET role = "+QuotePGLiteral(owner),
			check(pgHasSetting, s.Database, s.User, set))
	}
	return append(st, users...)
}

func pgGrant(s Spec) *Plan {
	p := &Plan{Action: "grant", Spec: s, Steps: pgGrantSteps(s)}
	p.prepare = pgGrantPrepare
	return p
}

// pgGrantPrepare refuses group roles that are login roles, and moves a
// user who has another access level on the database: out of the other
// groups, out of the owner group's role setting, and out of the direct
// grants of a custom profile (or an rdsgate before group roles).
func pgGrantPrepare(ctx context.Context, q querier, p *Plan) error {
	s := p.Spec
	groups := groupRoles(target.FamilyPostgres, s.Database)
	for _, g := range groups {
		var exists, login bool
		if err := q.QueryRowContext(ctx, pgRoleState, g).Scan(&exists, &login); err != nil {
			return fmt.Errorf("look up role %s: %w", g, err)
		}
		if login {
			return fmt.Errorf("role %s can log in, but rdsgate keeps that name for a group role without login on database %s: rename the role (ALTER ROLE %s RENAME TO ...)", g, s.Database, QuotePGIdent(g))
		}
	}
	steps := pgGrantSteps(s)
	u := QuotePGIdent(s.User)
	member, err := queryStrings(ctx, q, pgUserGroups, s.User, groups)
	if err != nil {
		return fmt.Errorf("look up %s's group roles: %w", s.User, err)
	}
	want := GroupRole(target.FamilyPostgres, s.Database, s.Profile)
	for _, g := range member {
		if g != want {
			steps = append(steps, Step{SQL: "REVOKE " + QuotePGIdent(g) + " FROM " + u, done: func(ctx context.Context, q querier) (bool, string, error) {
				ok, err := boolQuery(ctx, q, pgIsMember, g, s.User)
				return !ok, "", err
			}})
		}
	}
	if s.Profile != Owner {
		owner := GroupRole(target.FamilyPostgres, s.Database, Owner)
		set, err := boolQuery(ctx, q, pgHasSetting, s.Database, s.User, "role="+owner)
		if err != nil {
			return fmt.Errorf("look up %s's settings: %w", s.User, err)
		}
		if set {
			steps = append(steps, Step{SQL: "ALTER ROLE " + u + " IN DATABASE " + QuotePGIdent(s.Database) + " RESET role",
				done: func(ctx context.Context, q querier) (bool, string, error) {
					ok, err := boolQuery(ctx, q, pgHasSetting, s.Database, s.User, "role="+owner)
					return !ok, "", err
				}})
		}
	}
	if want != "" {
		strip, err := pgDirectGrants(ctx, q, s)
		if err != nil {
			return err
		}
		steps = append(steps, strip...)
	}
	p.Steps = steps
	return nil
}

// pgDirectGrants returns the statements that take away the privileges
// s.User holds in its own name (not through a group) on s.Database,
// found in the catalogs.
func pgDirectGrants(ctx context.Context, q querier, s Spec) ([]Step, error) {
	schemas, err := queryStrings(ctx, q, pgUserSchemas, s.User)
	if err != nil {
		return nil, fmt.Errorf("look up %s's schemas: %w", s.User, err)
	}
	onDB, err := boolQuery(ctx, q, pgNoDB, s.Database, s.User)
	if err != nil {
		return nil, fmt.Errorf("look up %s's privileges on %s: %w", s.User, s.Database, err)
	}
	if len(schemas) == 0 && onDB {
		return nil, nil
	}
	other, err := pgOtherDefaultSteps(ctx, q, s.User)
	if err != nil {
		return nil, err
	}
	sp := s
	sp.Schemas = schemas
	return append(other, pgRevokePrivileges(sp)...), nil
}

// pgRevokePrivileges are the statements that take every privilege s.User
// holds in its own name in s.Schemas and on s.Database, including the
// default privileges of the tables the current user creates.
func pgRevokePrivileges(s Spec) []Step {
	u := QuotePGIdent(s.User)
	var st pgSteps
	for _, sc := range s.Schemas {
		qs := QuotePGIdent(sc)
		st.add("ALTER DEFAULT PRIVILEGES IN SCHEMA "+qs+" REVOKE ALL ON TABLES FROM "+u, check(pgNoDefault, sc, s.User, "r", ""))
		st.add("ALTER DEFAULT PRIVILEGES IN SCHEMA "+qs+" REVOKE ALL ON SEQUENCES FROM "+u, check(pgNoDefault, sc, s.User, "S", ""))
		st.add("REVOKE ALL ON ALL TABLES IN SCHEMA "+qs+" FROM "+u, check(pgNoRels, sc, s.User, relkindsTables))
		st.add("REVOKE ALL ON ALL SEQUENCES IN SCHEMA "+qs+" FROM "+u, check(pgNoRels, sc, s.User, relkindsSequences))
		st.add("REVOKE ALL ON SCHEMA "+qs+" FROM "+u, check(pgNoSchema, sc, s.User))
	}
	st.add("REVOKE ALL ON DATABASE "+QuotePGIdent(s.Database)+" FROM "+u, check(pgNoDB, s.Database, s.User))
	return st
}

// pgOtherDefaultSteps are the statements that take back the default
// privileges granting user something on objects another role creates
// (e.g. a custom profile's, FOR ROLE the owner group).
func pgOtherDefaultSteps(ctx context.Context, q querier, user string) ([]Step, error) {
	rows, err := q.QueryContext(ctx, pgOtherDefaults, user)
	if err != nil {
		return nil, fmt.Errorf("look up %s's default privileges: %w", user, err)
	}
	defer rows.Close()
	var st pgSteps
	for rows.Next() {
		var role, schema, typ string
		if err := rows.Scan(&role, &schema, &typ); err != nil {
			return nil, err
		}
		st.add("ALTER DEFAULT PRIVILEGES "+forRole(role)+" IN SCHEMA "+QuotePGIdent(schema)+" REVOKE ALL ON "+pgObjectTypes[typ]+" FROM "+QuotePGIdent(user),
			check(pgNoDefault, schema, user, typ, role))
	}
	return st, rows.Err()
}

func pgRevokeSteps(s Spec) []Step {
	st := pgSteps(pgRevokePrivileges(s))
	// DROP ROLE ends the memberships (rds_iam, the group) too.
	st.add("DROP ROLE "+QuotePGIdent(s.User), func(ctx context.Context, q querier) (bool, string, error) {
		var exists, login bool
		err := q.QueryRowContext(ctx, pgRoleState, s.User).Scan(&exists, &login)
		return !exists, "", err
	})
	return st
}

func pgRevoke(s Spec) *Plan {
	p := &Plan{Action: "revoke", Spec: s, Steps: pgRevokeSteps(s)}
	p.prepare = func(ctx context.Context, q querier, p *Plan) error {
		var owned int
		if err := q.QueryRowContext(ctx, pgOwned, s.User).Scan(&owned); err != nil {
			return fmt.Errorf("look up what %s owns: %w", s.User, err)
		}
		if owned > 0 {
			return fmt.Errorf("role %s owns %d object(s) (tables, schemas or databases); rdsgate will not drop or hand them over on its own. "+
				"Decide who keeps them (the owner group %s keeps what owners create through rdsgate), then as the master user in each database run REASSIGN OWNED BY %s TO <new owner>; and run rdsgate revoke again",
				s.User, owned, QuotePGIdent(GroupRole(target.FamilyPostgres, s.Database, Owner)), QuotePGIdent(s.User))
		}
		// The memberships first, so that the output says who lost what.
		var st pgSteps
		member, err := queryStrings(ctx, q, pgUserGroups, s.User, groupRoles(target.FamilyPostgres, s.Database))
		if err != nil {
			return fmt.Errorf("look up %s's group roles: %w", s.User, err)
		}
		for _, g := range member {
			st.add("REVOKE "+QuotePGIdent(g)+" FROM "+QuotePGIdent(s.User), func(ctx context.Context, q querier) (bool, string, error) {
				ok, err := boolQuery(ctx, q, pgIsMember, g, s.User)
				return !ok, "", err
			})
		}
		other, err := pgOtherDefaultSteps(ctx, q, s.User)
		if err != nil {
			return err
		}
		// Undo grants in schemas other than the requested ones too.
		schemas, err := queryStrings(ctx, q, pgUserSchemas, s.User)
		if err != nil {
			return fmt.Errorf("look up %s's schemas: %w", s.User, err)
		}
		sp := p.Spec
		sp.Schemas = slices.Clone(sp.Schemas)
		for _, n := range schemas {
			if !slices.Contains(sp.Schemas, n) {
				sp.Schemas = append(sp.Schemas, n)
			}
		}
		p.Spec, p.Steps = sp, append(append(st, other...), pgRevokeSteps(sp)...)
		return nil
	}
	return p
}
