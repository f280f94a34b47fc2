package grant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/target"
)

// Profile is a named set of privileges.
type Profile string

// Privilege profiles.
const (
	// ReadOnly reads tables and views, those created later included;
	// through the group role rdsgate_<database>_read.
	ReadOnly Profile = "read-only"
	// ReadWrite adds INSERT, UPDATE and DELETE (and sequence use); through
	// the group role rdsgate_<database>_write.
	ReadWrite Profile = "read-write"
	// Owner may also create and change objects in the schema/database;
	// through the group role rdsgate_<database>_owner, which owns what its
	// members create on PostgreSQL.
	Owner Profile = "owner"
	// Custom is the explicit list in Spec.Privileges, held by the user
	// itself rather than through a group role.
	Custom Profile = "custom"
)

// Spec says who gets what where.
type Spec struct {
	// Family is the engine's protocol family.
	Family target.Family
	// User is the database user to create (or revoke).
	User string
	// Database is the database the privileges are on.
	Database string
	// Schemas are PostgreSQL schemas; default public.
	Schemas []string
	// Profile is the privilege profile; default ReadOnly.
	Profile Profile
	// Privileges are the table privileges of Custom, e.g. SELECT, INSERT.
	Privileges []string
	// MasterUser is the instance's master user, which is refused as User.
	MasterUser string
	// Engine and EngineVersion are the RDS engine (mysql, mariadb,
	// aurora-mysql, ...) and its version, which pick the SQL a MySQL-family
	// plan prints: MariaDB's spelling of roles or MySQL's, and no roles
	// before MySQL 8. Optional: Apply asks the server itself.
	Engine, EngineVersion string
}

// reservedUsers are accounts RDS or the engine own.
var reservedUsers = []string{"rdsadmin", "rds_superuser", "rds_iam", "rds_replication", "rds_password", "rdsrepladmin",
	"postgres", "root", "mysql.sys", "mysql.session", "mysql.infoschema", "mariadb.sys"}

// ErrMasterUser is returned for plans that would hand out the master user.
var ErrMasterUser = errors.New("the master user is for administration only")

func (s *Spec) normalize() error {
	max := maxPGName
	if s.Family == target.FamilyMySQL {
		max = maxMySQLName
	}
	if s.Family != target.FamilyPostgres && s.Family != target.FamilyMySQL {
		return fmt.Errorf("engine family %q: rdsgate grants on PostgreSQL and MySQL/MariaDB only", s.Family)
	}
	if err := checkName("user", s.User, max); err != nil {
		return err
	}
	if s.MasterUser != "" && strings.EqualFold(s.User, s.MasterUser) {
		return setting.Errorf("%q is the master user: %w; rdsgate never grants or revokes it. Pick a name per person or program, e.g. rdsgate grant TARGET jane %s", s.User, ErrMasterUser, setting.ReadOnly)
	}
	if slices.Contains(reservedUsers, strings.ToLower(s.User)) || strings.HasPrefix(strings.ToLower(s.User), "pg_") {
		return fmt.Errorf("%q is a built-in role of RDS or the engine; pick another name", s.User)
	}
	if s.Database == "" {
		return setting.Errorf("no database: pass %s (the privileges are per database)", setting.Database)
	}
	if err := checkName("database", s.Database, max); err != nil {
		return err
	}
	for _, g := range groupRoles(s.Family, s.Database) {
		if strings.EqualFold(s.User, g) {
			return fmt.Errorf("%q is the name of one of rdsgate's group roles on database %s: pick a name per person or program", s.User, s.Database)
		}
	}
	if s.Family == target.FamilyPostgres {
		if len(s.Schemas) == 0 {
			s.Schemas = []string{"public"}
		}
		for _, sc := range s.Schemas {
			if err := checkName("schema", sc, max); err != nil {
				return err
			}
		}
	}
	if s.Profile == "" {
		s.Profile = ReadOnly
	}
	switch s.Profile {
	case ReadOnly, ReadWrite, Owner:
		if len(s.Privileges) > 0 {
			return fmt.Errorf("explicit privileges go with the custom profile, not %s", s.Profile)
		}
	case Custom:
		if len(s.Privileges) == 0 {
			return setting.Errorf("the custom profile needs privileges, e.g. %s", setting.Privileges.Is("SELECT,INSERT"))
		}
		allowed := pgTablePrivileges
		if s.Family == target.FamilyMySQL {
			allowed = mysqlPrivilegeNames()
		}
		var ps []string
		for _, p := range s.Privileges {
			p = strings.ToUpper(strings.Join(strings.Fields(p), " "))
			if !slices.Contains(allowed, p) {
				return fmt.Errorf("privilege %q is not one rdsgate grants on %s; use one of %s", p, s.Family, strings.Join(allowed, ", "))
			}
			if !slices.Contains(ps, p) {
				ps = append(ps, p)
			}
		}
		s.Privileges = ps
	default:
		return fmt.Errorf("unknown profile %q: use read-only, read-write, owner or custom", s.Profile)
	}
	return nil
}

// querier is what checks need: *sql.Conn.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Step is one statement and how to tell that it is already in place.
type Step struct {
	// SQL is the statement.
	SQL string
	// done reports whether the statement's effect is already in place; it
	// may return another statement to run instead (e.g. ALTER for CREATE).
	done func(ctx context.Context, q querier) (bool, string, error)
}

// Plan is the statements of one grant or revoke.
type Plan struct {
	// Action is "grant" or "revoke".
	Action string
	Spec   Spec
	Steps  []Step
	// prepare runs before the steps on Apply: checks that refuse, and
	// discovery that adds steps.
	prepare func(ctx context.Context, q querier, p *Plan) error
}

// SQL returns the plan's statements, one per line, each ending in ";".
func (p *Plan) SQL() string {
	var b strings.Builder
	for _, s := range p.Steps {
		b.WriteString(s.SQL)
		b.WriteString(";\n")
	}
	return b.String()
}

// Summary says in one line what the plan does to which user on which
// database instance, for a "-- " comment above its SQL. Names are shown
// quoted and escaped when they are not plain, so that a newline in one
// cannot end the comment and smuggle a statement into the printed plan.
func (p *Plan) Summary(instance, engine string) string {
	s := p.Spec
	on := fmt.Sprintf("on %s (%s), database %s", commentName(instance), commentName(engine), commentName(s.Database))
	if p.Action == "grant" {
		return fmt.Sprintf("grant %s to %s %s", s.Profile, commentName(s.User), on)
	}
	return fmt.Sprintf("%s %s %s", commentName(p.Action), commentName(s.User), on)
}

// commentName is s as is when it is plain, else Go-quoted: one line, every
// control character escaped.
func commentName(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.@", r)) {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}

// Result is what Apply did.
type Result struct {
	// Executed are the statements run, in order.
	Executed []string
	// Skipped are the statements whose effect was already in place.
	Skipped []string
}

// Changed reports whether Apply changed anything.
func (r Result) Changed() bool { return len(r.Executed) > 0 }

// GrantPlan returns the statements that create s.User with s.Profile.
func GrantPlan(s Spec) (*Plan, error) {
	if err := s.normalize(); err != nil {
		return nil, err
	}
	if s.Family == target.FamilyPostgres {
		return pgGrant(s), nil
	}
	return mysqlGrant(s), nil
}

// RevokePlan returns the statements that undo GrantPlan (any profile) and
// drop the user.
func RevokePlan(s Spec) (*Plan, error) {
	if s.Profile == "" {
		s.Profile = ReadOnly // the profile does not matter to revoke
	}
	if err := s.normalize(); err != nil {
		return nil, err
	}
	if s.Family == target.FamilyPostgres {
		return pgRevoke(s), nil
	}
	return mysqlRevoke(s), nil
}

// Apply runs the plan over db, an administrative connection to
// Spec.Database, skipping steps already in place. It stops at the first
// failing statement; what ran before stays (each statement is idempotent,
// so running Apply again finishes the job).
func (p *Plan) Apply(ctx context.Context, db *sql.DB) (Result, error) {
	var r Result
	conn, err := db.Conn(ctx)
	if err != nil {
		return r, fmt.Errorf("connect as the administrative user: %w", err)
	}
	defer conn.Close()
	if p.prepare != nil {
		if err := p.prepare(ctx, conn, p); err != nil {
			return r, err
		}
	}
	for _, s := range p.Steps {
		stmt := s.SQL
		if s.done != nil {
			done, alt, err := s.done(ctx, conn)
			if err != nil {
				return r, fmt.Errorf("check before %s: %w", firstWords(s.SQL), err)
			}
			if done {
				r.Skipped = append(r.Skipped, s.SQL)
				continue
			}
			if alt != "" {
				stmt = alt
			}
		}
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return r, setting.Errorf("%s: %w%s", stmt, err, hint(p, err))
		}
		r.Executed = append(r.Executed, stmt)
	}
	return r, nil
}

// hint adds the next step to well-known failures.
func hint(p *Plan, err error) setting.Text {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "permission denied") || strings.Contains(msg, "Access denied") || strings.Contains(msg, "command denied"):
		return setting.Textf(" (the administrative user lacks a privilege: apply as the instance's master user, or have a DBA run the SQL that `rdsgate %s` prints without %s)", p.Action, setting.Apply)
	case strings.Contains(msg, "does not exist") && strings.Contains(msg, "schema"):
		return setting.Textf(" (pass %s with a schema that exists in database %s)", setting.Schema, p.Spec.Database)
	case strings.Contains(msg, "cannot be dropped because some objects depend on it"):
		user := QuotePGIdent(p.Spec.User)
		return setting.Textf(" (the role still has privileges elsewhere, e.g. in another database: run rdsgate revoke with %s for each, or as the admin in each database: REASSIGN OWNED BY %s TO CURRENT_USER; DROP OWNED BY %s)", setting.Database, user, user)
	}
	return setting.Text{}
}

func firstWords(s string) string {
	f := strings.Fields(s)
	if len(f) > 3 {
		f = f[:3]
	}
	return strings.Join(f, " ")
}

func boolQuery(ctx context.Context, q querier, query string, args ...any) (bool, error) {
	var b bool
	err := q.QueryRowContext(ctx, query, args...).Scan(&b)
	return b, err
}
