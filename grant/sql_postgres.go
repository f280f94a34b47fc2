package grant

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// pgTablePrivileges are the table privileges --privileges accepts.
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

// The checks compare explicit grants (aclexplode of the ACL) with the wanted
// privileges: PUBLIC's defaults and inherited roles do not count.
var (
	pgRoleState = `SELECT EXISTS(SELECT 1 FROM pg_roles WHERE rolname = $1), COALESCE((SELECT rolcanlogin FROM pg_roles WHERE rolname = $1), false)`
	pgIsIAM     = `SELECT EXISTS(SELECT 1 FROM pg_auth_members WHERE roleid = (SELECT oid FROM pg_roles WHERE rolname = 'rds_iam') AND member = ` + roleOID(1) + `)`
	pgHasDB     = `SELECT COALESCE((SELECT array_agg(a.privilege_type::text) FROM pg_database d, aclexplode(d.datacl) a
		WHERE d.datname = $1 AND a.grantee = ` + roleOID(2) + `), '{}') @> string_to_array($3, ',')`
	pgHasSchema = `SELECT COALESCE((SELECT array_agg(a.privilege_type::text) FROM pg_namespace n, aclexplode(n.nspacl) a
		WHERE n.nspname = $1 AND a.grantee = ` + roleOID(2) + `), '{}') @> string_to_array($3, ',')`
	pgHasAllRels = `SELECT NOT EXISTS(SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind::text = ANY(string_to_array($4, ','))
		AND NOT COALESCE((SELECT array_agg(a.privilege_type::text) FROM aclexplode(c.relacl) a WHERE a.grantee = ` + roleOID(2) + `), '{}') @> string_to_array($3, ','))`
	pgHasDefault = `SELECT COALESCE((SELECT array_agg(a.privilege_type::text) FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace,
		aclexplode(d.defaclacl) a WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
		AND n.nspname = $1 AND d.defaclobjtype::text = $4 AND a.grantee = ` + roleOID(2) + `), '{}') @> string_to_array($3, ',')`
	// The revoke checks: no explicit grant left.
	pgNoDB     = `SELECT NOT EXISTS(SELECT 1 FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1 AND a.grantee = ` + roleOID(2) + `)`
	pgNoSchema = `SELECT NOT EXISTS(SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = $1 AND a.grantee = ` + roleOID(2) + `)`
	pgNoRels   = `SELECT NOT EXISTS(SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
		WHERE n.nspname = $1 AND c.relkind::text = ANY(string_to_array($3, ',')) AND a.grantee = ` + roleOID(2) + `)`
	pgNoDefault = `SELECT NOT EXISTS(SELECT 1 FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a
		WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user) AND n.nspname = $1 AND d.defaclobjtype::text = $3 AND a.grantee = ` + roleOID(2) + `)`
	pgOwned       = `SELECT count(*) FROM pg_shdepend WHERE refclassid = 'pg_authid'::regclass AND deptype = 'o' AND refobjid = ` + roleOID(1)
	pgUserSchemas = `SELECT n.nspname FROM pg_namespace n, aclexplode(n.nspacl) a WHERE a.grantee = ` + roleOID(1) + `
		UNION SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a WHERE a.grantee = ` + roleOID(1) + `
		UNION SELECT n.nspname FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a WHERE a.grantee = ` + roleOID(1) + `
		ORDER BY 1`
)

const (
	relkindsTables    = "r,p,v,m,f"
	relkindsSequences = "S"
)

func check(query string, args ...any) func(context.Context, querier) (bool, string, error) {
	return func(ctx context.Context, q querier) (bool, string, error) {
		ok, err := boolQuery(ctx, q, query, args...)
		return ok, "", err
	}
}

func pgGrant(s Spec) *Plan {
	u, db := QuotePGIdent(s.User), QuotePGIdent(s.Database)
	pr := pgProfile(s)
	p := &Plan{Action: "grant", Spec: s}
	add := func(sql string, done func(context.Context, querier) (bool, string, error)) {
		p.Steps = append(p.Steps, Step{SQL: sql, done: done})
	}
	add("CREATE ROLE "+u+" LOGIN", func(ctx context.Context, q querier) (bool, string, error) {
		var exists, login bool
		if err := q.QueryRowContext(ctx, pgRoleState, s.User).Scan(&exists, &login); err != nil {
			return false, "", err
		}
		if exists && !login {
			return false, "ALTER ROLE " + u + " LOGIN", nil
		}
		return exists, "", nil
	})
	add("GRANT rds_iam TO "+u, check(pgIsIAM, s.User))
	add("GRANT "+strings.Join(pr.database, ", ")+" ON DATABASE "+db+" TO "+u, check(pgHasDB, s.Database, s.User, strings.Join(pr.database, ",")))
	for _, sc := range s.Schemas {
		qs := QuotePGIdent(sc)
		add("GRANT "+strings.Join(pr.schema, ", ")+" ON SCHEMA "+qs+" TO "+u, check(pgHasSchema, sc, s.User, strings.Join(pr.schema, ",")))
		t := strings.Join(pr.tables, ", ")
		add("GRANT "+t+" ON ALL TABLES IN SCHEMA "+qs+" TO "+u, check(pgHasAllRels, sc, s.User, strings.Join(pr.tables, ","), relkindsTables))
		add("ALTER DEFAULT PRIVILEGES IN SCHEMA "+qs+" GRANT "+t+" ON TABLES TO "+u, check(pgHasDefault, sc, s.User, strings.Join(pr.tables, ","), "r"))
		if len(pr.sequences) > 0 {
			sq := strings.Join(pr.sequences, ", ")
			add("GRANT "+sq+" ON ALL SEQUENCES IN SCHEMA "+qs+" TO "+u, check(pgHasAllRels, sc, s.User, strings.Join(pr.sequences, ","), relkindsSequences))
			add("ALTER DEFAULT PRIVILEGES IN SCHEMA "+qs+" GRANT "+sq+" ON SEQUENCES TO "+u, check(pgHasDefault, sc, s.User, strings.Join(pr.sequences, ","), "S"))
		}
	}
	return p
}

func pgRevokeSteps(s Spec) []Step {
	u := QuotePGIdent(s.User)
	var steps []Step
	add := func(sql string, done func(context.Context, querier) (bool, string, error)) {
		steps = append(steps, Step{SQL: sql, done: done})
	}
	for _, sc := range s.Schemas {
		qs := QuotePGIdent(sc)
		add("ALTER DEFAULT PRIVILEGES IN SCHEMA "+qs+" REVOKE ALL ON TABLES FROM "+u, check(pgNoDefault, sc, s.User, "r"))
		add("ALTER DEFAULT PRIVILEGES IN SCHEMA "+qs+" REVOKE ALL ON SEQUENCES FROM "+u, check(pgNoDefault, sc, s.User, "S"))
		add("REVOKE ALL ON ALL TABLES IN SCHEMA "+qs+" FROM "+u, check(pgNoRels, sc, s.User, relkindsTables))
		add("REVOKE ALL ON ALL SEQUENCES IN SCHEMA "+qs+" FROM "+u, check(pgNoRels, sc, s.User, relkindsSequences))
		add("REVOKE ALL ON SCHEMA "+qs+" FROM "+u, check(pgNoSchema, sc, s.User))
	}
	add("REVOKE ALL ON DATABASE "+QuotePGIdent(s.Database)+" FROM "+u, check(pgNoDB, s.Database, s.User))
	// DROP ROLE ends the rds_iam membership too.
	add("DROP ROLE "+u, func(ctx context.Context, q querier) (bool, string, error) {
		var exists, login bool
		err := q.QueryRowContext(ctx, pgRoleState, s.User).Scan(&exists, &login)
		return !exists, "", err
	})
	return steps
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
				"Decide who keeps them, then as the master user in each database run REASSIGN OWNED BY %s TO <new owner>; and run rdsgate revoke again",
				s.User, owned, QuotePGIdent(s.User))
		}
		// Undo grants in schemas other than the requested ones too.
		rows, err := q.QueryContext(ctx, pgUserSchemas, s.User)
		if err != nil {
			return fmt.Errorf("look up %s's schemas: %w", s.User, err)
		}
		defer rows.Close()
		sp := p.Spec
		sp.Schemas = slices.Clone(sp.Schemas)
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			if !slices.Contains(sp.Schemas, n) {
				sp.Schemas = append(sp.Schemas, n)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		p.Spec, p.Steps = sp, pgRevokeSteps(sp)
		return nil
	}
	return p
}
