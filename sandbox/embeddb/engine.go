// Package embeddb is the sandbox's embedded database server, for machines
// with neither PostgreSQL nor MariaDB installed: SQLite (modernc.org/sqlite,
// pure Go) behind a PostgreSQL and a MySQL wire face, with an account catalog
// that knows which users are IAM-enabled.
package embeddb

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // the engine
)

// Version is what version() and the server_version parameter say.
const (
	PostgresVersion = "15.0 (rdsgate embedded, SQLite " + sqliteVersion + ")"
	MySQLVersion    = "8.0.36-rdsgate-embedded"
	sqliteVersion   = "3"
)

// Account is a database user.
type Account struct {
	Name string
	// IAM marks a user that logs in with IAM tokens checked by the front
	// (member of rds_iam on PostgreSQL; AWSAuthenticationPlugin on MySQL).
	IAM bool
	// Password is the password for password logins; for IAM users on the
	// MySQL face it is the front's derived password.
	Password string
}

type account struct {
	iam    bool
	pwHash [32]byte // sha256 of the password, for the PostgreSQL face
	// password is kept for the MySQL face's native-password check; this
	// is a throwaway sandbox server.
	password string
	hasPW    bool
}

// DB is an embedded server's data and accounts. Its databases are SQLite
// files in a private temporary directory removed by Close.
type DB struct {
	dir string

	mu       sync.Mutex
	accounts map[string]account
	pools    map[string]*sql.DB
	closed   bool
}

// Open creates an empty server with the databases names.
func Open(databases ...string) (*DB, error) {
	dir, err := os.MkdirTemp("", "rdsgate-embeddb-")
	if err != nil {
		return nil, fmt.Errorf("embeddb: %w", err)
	}
	d := &DB{dir: dir, accounts: map[string]account{}, pools: map[string]*sql.DB{}}
	for _, name := range databases {
		if err := d.CreateDatabase(name); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

var dbName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$-]{0,62}$`)

// CreateDatabase adds an empty database.
func (d *DB) CreateDatabase(name string) error {
	if !dbName.MatchString(name) {
		return fmt.Errorf("embeddb: invalid database name %q", name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("embeddb: closed")
	}
	if _, ok := d.pools[name]; ok {
		return fmt.Errorf("embeddb: database %q already exists", name)
	}
	dsn := "file:" + filepath.Join(d.dir, name+".db") +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_txlock=immediate"
	p, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("embeddb: create database %s: %w", name, err)
	}
	// A session's connection is closed, not pooled, when the session ends,
	// so that no transaction it left open reaches the next session.
	p.SetMaxIdleConns(0)
	if err := p.Ping(); err != nil {
		p.Close()
		return fmt.Errorf("embeddb: create database %s: %w", name, err)
	}
	d.pools[name] = p
	return nil
}

// Databases returns the database names, sorted.
func (d *DB) Databases() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.pools))
	for n := range d.pools {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// AddAccount creates or replaces a user.
func (d *DB) AddAccount(a Account) {
	acc := account{iam: a.IAM, hasPW: a.Password != ""}
	if acc.hasPW {
		acc.pwHash = sha256.Sum256([]byte(a.Password))
		acc.password = a.Password
	}
	d.mu.Lock()
	d.accounts[a.Name] = acc
	d.mu.Unlock()
}

// IsIAMUser reports whether user exists and is IAM-enabled.
func (d *DB) IsIAMUser(user string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.accounts[user].iam
}

func (d *DB) account(user string) (account, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.accounts[user]
	return a, ok
}

// checkPassword reports whether password is user's.
func (d *DB) checkPassword(user, password string) bool {
	a, ok := d.account(user)
	if !ok || !a.hasPW {
		return false
	}
	h := sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(h[:], a.pwHash[:]) == 1
}

// Exec runs statements in database db as the server itself (for seeding).
func (d *DB) Exec(ctx context.Context, db, query string, args ...any) error {
	p, err := d.pool(db)
	if err != nil {
		return err
	}
	if _, err := p.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("embeddb: %s: %w", db, err)
	}
	return nil
}

func (d *DB) pool(db string) (*sql.DB, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("embeddb: closed")
	}
	p, ok := d.pools[db]
	if !ok {
		return nil, &noDatabaseError{db}
	}
	return p, nil
}

type noDatabaseError struct{ name string }

func (e *noDatabaseError) Error() string { return fmt.Sprintf("database %q does not exist", e.name) }

// Close closes every database and removes their files.
func (d *DB) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	pools := d.pools
	d.pools = nil
	d.mu.Unlock()
	var errs []error
	for _, p := range pools {
		errs = append(errs, p.Close())
	}
	errs = append(errs, os.RemoveAll(d.dir))
	return errors.Join(errs...)
}

// session is one logged-in connection's engine state.
type session struct {
	d       *DB
	dialect dialect
	user    string
	host    string // MySQL's account host part, for CURRENT_USER()
	db      string
	connID  uint32 // MySQL's thread id, PostgreSQL's process id
	conn    *sql.Conn
	inTx    bool
	failed  bool // PostgreSQL: an error inside a transaction block
}

// newSession opens a dedicated connection on database db.
func (d *DB) newSession(ctx context.Context, dia dialect, user, db string) (*session, error) {
	s := &session{d: d, dialect: dia, user: user, host: "%"}
	if db != "" {
		if err := s.use(ctx, db); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// use switches the session to database db.
func (s *session) use(ctx context.Context, db string) error {
	p, err := s.d.pool(db)
	if err != nil {
		return err
	}
	c, err := p.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open database %s: %w", db, err)
	}
	if s.conn != nil {
		s.conn.Close()
	}
	s.conn, s.db, s.inTx, s.failed = c, db, false, false
	return nil
}

func (s *session) close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// column is a result column with the engine's declared type, if any.
type column struct {
	name     string
	declType string // SQLite's declared type of a table column; "" for expressions
}

// result is one statement's outcome.
type result struct {
	cols     []column
	rows     [][]any // int64, float64, string, []byte, nil
	affected int64
	verb     string // first keyword, upper case: SELECT, INSERT, ...
	hasRows  bool
}

// errNoDatabase is returned for a statement before a database is chosen.
var errNoDatabase = errors.New("no database selected")

// run executes one statement (already translated) with args.
func (s *session) run(ctx context.Context, stmt string, args []any) (*result, error) {
	verb := firstWord(stmt)
	res := &result{verb: verb}
	if s.conn == nil {
		return nil, errNoDatabase
	}
	switch verb {
	case "START": // START TRANSACTION [READ ONLY ...]
		stmt = "BEGIN"
		s.inTx = true
	case "BEGIN":
		s.inTx = true
	case "COMMIT", "END", "ROLLBACK":
		if !strings.Contains(strings.ToUpper(stmt), " TO ") {
			defer func() { s.inTx, s.failed = false, false }()
		}
	}
	if !returnsRows(verb, stmt) {
		r, err := s.conn.ExecContext(ctx, stmt, args...)
		if err != nil {
			return nil, err
		}
		res.affected, _ = r.RowsAffected()
		return res, nil
	}
	rows, err := s.conn.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	res.hasRows = true
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	for _, ct := range cts {
		res.cols = append(res.cols, column{name: ct.Name(), declType: strings.ToUpper(ct.DatabaseTypeName())})
	}
	for rows.Next() {
		vals := make([]any, len(cts))
		ptrs := make([]any, len(cts))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		res.rows = append(res.rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	res.affected = int64(len(res.rows))
	return res, nil
}

// returnsRows tells whether a statement is run as a query.
func returnsRows(verb, stmt string) bool {
	switch verb {
	case "SELECT", "WITH", "VALUES", "PRAGMA", "EXPLAIN", "TABLE":
		return true
	case "INSERT", "UPDATE", "DELETE", "REPLACE":
		return strings.Contains(strings.ToUpper(stmt), "RETURNING")
	}
	return false
}

// firstWord returns the statement's first keyword in upper case.
func firstWord(stmt string) string {
	for _, t := range lex(stmt) {
		switch t.kind {
		case tokSpace, tokComment:
			continue
		case tokWord:
			return strings.ToUpper(t.text)
		}
		return ""
	}
	return ""
}
