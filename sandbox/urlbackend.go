package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/sandbox/mysqlfront"
	"github.com/rdsgate/rdsgate/sandbox/pgfront"
)

// BackendURL is what an existing server given by URL is called in
// Instance.Backend.
const BackendURL = "url"

// sandboxMark is the comment (PostgreSQL) or marker row (MySQL) on what the
// sandbox created in an existing server: it changes nothing else there.
const sandboxMark = "created by the rdsgate sandbox"

// markerDB is the MySQL database that records the sandbox's accounts.
const markerDB = "rdsgate_sandbox"

// backendURLEngine tells the engine family of a backend URL: postgres:// or
// postgresql://, mysql:// or mariadb://.
func backendURLEngine(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("sandbox: backend URL %q: want postgres://USER:PASSWORD@HOST:PORT or mysql://USER:PASSWORD@HOST:PORT", redactURL(raw))
	}
	switch u.Scheme {
	case "postgres", "postgresql":
		return "postgres", nil
	case "mysql", "mariadb":
		return "mysql", nil
	}
	return "", fmt.Errorf("sandbox: backend URL scheme %q: use postgres:// or mysql://", u.Scheme)
}

// redactURL hides a URL's password, for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// refuseForeign is the error for an object the sandbox would have to take
// over.
func refuseForeign(kind, name, where string) error {
	return fmt.Errorf("sandbox: %s %q already exists on %s and was not created by the sandbox; the sandbox changes only what it created: give it a server of its own", kind, name, where)
}

// postgresURLConfig parses a postgres:// backend URL; the connection is
// plain or TLS as the URL's sslmode says.
func postgresURLConfig(raw string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("sandbox: backend URL %s: %w", redactURL(raw), err)
	}
	return cfg, nil
}

// postgresURLBackend seeds an existing PostgreSQL server like the
// throwaway one and returns the front's backend for it. IAM users get a
// password derived from the sandbox secret, which only the front uses.
func postgresURLBackend(ctx context.Context, raw, master, masterPW string, notIAM bool, extra []string, secret []byte) (pgfront.Backend, error) {
	cfg, err := postgresURLConfig(raw)
	if err != nil {
		return nil, err
	}
	if cfg.TLSConfig != nil {
		return nil, fmt.Errorf("sandbox: backend URL %s: add sslmode=disable; the front speaks plain TCP to the server (use a server on loopback or a private network)", redactURL(raw))
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	if err := seedPostgresURL(ctx, admin, "the server at "+redactURL(raw), master, masterPW, notIAM, extra, secret); err != nil {
		return nil, err
	}
	return pgfront.NewPasswordBackend(pgfront.PasswordBackendConfig{
		Addr:     net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)),
		Admin:    admin,
		Password: func(user string) string { return mysqlfront.DerivedPassword(secret, user) },
	})
}

func seedPostgresURL(ctx context.Context, admin *pgx.ConnConfig, where, master, masterPW string, notIAM bool, extra []string, secret []byte) error {
	c, err := pgx.ConnectConfig(ctx, admin.Copy())
	if err != nil {
		return fmt.Errorf("sandbox: connect to %s: %w", where, err)
	}
	defer c.Close(ctx)
	// role creates or takes back a role the sandbox made before.
	role := func(name, attrs, password string) error {
		var comment *string
		err := c.QueryRow(ctx, "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1", name).Scan(&comment)
		q := pgx.Identifier{name}.Sanitize()
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if _, err := c.Exec(ctx, "CREATE ROLE "+q+" "+attrs); err != nil {
				return fmt.Errorf("sandbox: create role %s on %s: %w", name, where, err)
			}
			if _, err := c.Exec(ctx, "COMMENT ON ROLE "+q+" IS '"+sandboxMark+"'"); err != nil {
				return fmt.Errorf("sandbox: mark role %s: %w", name, err)
			}
		case err != nil:
			return fmt.Errorf("sandbox: look up role %s on %s: %w", name, where, err)
		case comment == nil || *comment != sandboxMark:
			return refuseForeign("role", name, where)
		}
		// The password is new each run (and none for IAM-less roles).
		pw := "NULL"
		if password != "" {
			pw = "'" + strings.ReplaceAll(password, "'", "''") + "'"
		}
		if _, err := c.Exec(ctx, "ALTER ROLE "+q+" "+attrs+" PASSWORD "+pw); err != nil {
			return fmt.Errorf("sandbox: set the password of role %s: %w", name, err)
		}
		return nil
	}
	if _, err := c.Exec(ctx, `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN CREATE ROLE rds_iam; END IF; END $$`); err != nil {
		return fmt.Errorf("sandbox: create role rds_iam on %s: %w", where, err)
	}
	if err := role(master, "LOGIN CREATEDB CREATEROLE", masterPW); err != nil {
		return err
	}
	iamUsers := append([]string{IAMUser}, extra...)
	for i, u := range iamUsers {
		if i == 0 && notIAM {
			if err := role(u, "LOGIN", randLower(24)); err != nil {
				return err
			}
			if _, err := c.Exec(ctx, "REVOKE rds_iam FROM "+pgx.Identifier{u}.Sanitize()); err != nil {
				return fmt.Errorf("sandbox: %w", err)
			}
			continue
		}
		if err := role(u, "LOGIN", mysqlfront.DerivedPassword(secret, u)); err != nil {
			return err
		}
		if _, err := c.Exec(ctx, "GRANT rds_iam TO "+pgx.Identifier{u}.Sanitize()); err != nil {
			return fmt.Errorf("sandbox: grant rds_iam to %s: %w", u, err)
		}
	}
	var comment *string
	err = c.QueryRow(ctx, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", DemoDatabase).Scan(&comment)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := c.Exec(ctx, "CREATE DATABASE "+DemoDatabase+" OWNER "+pgx.Identifier{master}.Sanitize()); err != nil {
			return fmt.Errorf("sandbox: create database %s on %s: %w", DemoDatabase, where, err)
		}
		if _, err := c.Exec(ctx, "COMMENT ON DATABASE "+DemoDatabase+" IS '"+sandboxMark+"'"); err != nil {
			return fmt.Errorf("sandbox: mark database %s: %w", DemoDatabase, err)
		}
	case err != nil:
		return fmt.Errorf("sandbox: look up database %s on %s: %w", DemoDatabase, where, err)
	case comment == nil || *comment != sandboxMark:
		return refuseForeign("database", DemoDatabase, where)
	}
	dcfg := admin.Copy()
	dcfg.Database = DemoDatabase
	d, err := pgx.ConnectConfig(ctx, dcfg)
	if err != nil {
		return fmt.Errorf("sandbox: connect to %s on %s: %w", DemoDatabase, where, err)
	}
	defer d.Close(ctx)
	if _, err := d.Exec(ctx, `SET ROLE `+pgx.Identifier{master}.Sanitize()+`;
CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY, customer text NOT NULL, total numeric(10,2) NOT NULL);
INSERT INTO orders VALUES (1, 'Ada', 42.00), (2, 'Grace', 17.50), (3, 'Linus', 99.90) ON CONFLICT DO NOTHING;
RESET ROLE`); err != nil {
		return fmt.Errorf("sandbox: seed %s on %s: %w", DemoDatabase, where, err)
	}
	for i, u := range iamUsers {
		q := pgx.Identifier{u}.Sanitize()
		privs := "SELECT"
		if i == 0 {
			privs = "SELECT, INSERT, UPDATE, DELETE"
		}
		if _, err := d.Exec(ctx, "GRANT CONNECT ON DATABASE "+DemoDatabase+" TO "+q+"; GRANT USAGE ON SCHEMA public TO "+q+"; GRANT "+privs+" ON orders TO "+q); err != nil {
			return fmt.Errorf("sandbox: grant %s: %w", u, err)
		}
	}
	return nil
}

// mysqlURLConfig turns a mysql:// backend URL into a driver config.
func mysqlURLConfig(raw string) (*mysql.Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("sandbox: backend URL: %w", err)
	}
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr = "tcp", u.Host
	if u.Port() == "" {
		cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.MultiStatements = true
	return cfg, nil
}

// mysqlURLBackend seeds an existing MySQL/MariaDB server like the
// throwaway one and returns the backend part of the front's configuration.
func mysqlURLBackend(ctx context.Context, raw, master, masterPW string, notIAM bool, extra []string, secret []byte) (*mysqlfront.Config, error) {
	cfg, err := mysqlURLConfig(raw)
	if err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	if err := seedMySQLURL(ctx, db, "the server at "+redactURL(raw), secret, master, masterPW, notIAM, extra); err != nil {
		return nil, err
	}
	return &mysqlfront.Config{BackendAddr: cfg.Addr, AdminDSN: cfg.FormatDSN()}, nil
}

func seedMySQLURL(ctx context.Context, db *sql.DB, where string, secret []byte, master, masterPW string, notIAM bool, extra []string) error {
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+markerDB); err != nil {
		return fmt.Errorf("sandbox: connect to %s: %w", where, err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+markerDB+".created (kind varchar(16) NOT NULL, name varchar(255) NOT NULL, PRIMARY KEY (kind, name))"); err != nil {
		return fmt.Errorf("sandbox: %s: %w", where, err)
	}
	exists := func(q string, args ...any) (bool, error) {
		var n int
		err := db.QueryRowContext(ctx, q, args...).Scan(&n)
		return n > 0, err
	}
	mine := func(kind, name string) (bool, error) {
		return exists("SELECT count(*) FROM "+markerDB+".created WHERE kind = ? AND name = ?", kind, name)
	}
	claim := func(kind, name string, there bool) error {
		if there {
			ok, err := mine(kind, name)
			if err != nil {
				return err
			}
			if !ok {
				return refuseForeign(kind, name, where)
			}
			return nil
		}
		_, err := db.ExecContext(ctx, "INSERT IGNORE INTO "+markerDB+".created VALUES (?, ?)", kind, name)
		return err
	}
	user := func(name, createSQL string) error {
		there, err := exists("SELECT count(*) FROM mysql.user WHERE User = ?", name)
		if err != nil {
			return fmt.Errorf("sandbox: look up user %s on %s: %w", name, where, err)
		}
		if err := claim("user", name, there); err != nil {
			return err
		}
		if there { // the password is new each run
			if _, err := db.ExecContext(ctx, "DROP USER "+quoteMy(name)+"@'%'"); err != nil {
				return fmt.Errorf("sandbox: recreate user %s: %w", name, err)
			}
		}
		if _, err := db.ExecContext(ctx, createSQL); err != nil {
			return fmt.Errorf("sandbox: create user %s on %s: %s: %w", name, where, strings.SplitN(createSQL, " IDENTIFIED", 2)[0], err)
		}
		return nil
	}
	if err := user(master, "CREATE USER "+quoteMy(master)+"@'%' IDENTIFIED BY "+quoteMy(masterPW)); err != nil {
		return err
	}
	appUser := mysqlfront.IAMUserSQL(secret, IAMUser, "%")
	if notIAM {
		appUser = "CREATE USER " + quoteMy(IAMUser) + "@'%' IDENTIFIED BY '" + randLower(24) + "'"
	}
	if err := user(IAMUser, appUser); err != nil {
		return err
	}
	for _, u := range extra {
		if err := user(u, mysqlfront.IAMUserSQL(secret, u, "%")); err != nil {
			return err
		}
	}
	there, err := exists("SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?", DemoDatabase)
	if err != nil {
		return err
	}
	if err := claim("database", DemoDatabase, there); err != nil {
		return err
	}
	for _, q := range []string{
		"GRANT ALL PRIVILEGES ON *.* TO " + quoteMy(master) + "@'%' WITH GRANT OPTION",
		"CREATE DATABASE IF NOT EXISTS " + DemoDatabase,
		"CREATE TABLE IF NOT EXISTS " + DemoDatabase + ".orders (id int PRIMARY KEY, customer varchar(100) NOT NULL, total decimal(10,2) NOT NULL)",
		"INSERT IGNORE INTO " + DemoDatabase + ".orders VALUES (1, 'Ada', 42.00), (2, 'Grace', 17.50), (3, 'Linus', 99.90)",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON " + DemoDatabase + ".* TO " + quoteMy(IAMUser) + "@'%'",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sandbox: seed %s: %s: %w", where, strings.SplitN(q, " IDENTIFIED", 2)[0], err)
		}
	}
	for _, u := range extra {
		if _, err := db.ExecContext(ctx, "GRANT SELECT ON "+DemoDatabase+".* TO "+quoteMy(u)+"@'%'"); err != nil {
			return fmt.Errorf("sandbox: grant %s: %w", u, err)
		}
	}
	return nil
}

// quoteMy quotes a MySQL string literal (user names are literals in
// account names).
func quoteMy(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}
