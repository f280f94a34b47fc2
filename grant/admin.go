package grant

import (
	"cmp"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/target"
)

// AdminConnectTimeout bounds one login as the administrative user: the
// route's dial, the TLS handshake and authentication.
const AdminConnectTimeout = 30 * time.Second

// Errors OpenAdmin returns when it has no password to log in with; the
// caller says how to give it one.
var (
	// ErrNoMasterSecret: the database has no managed master secret and its
	// master user is unknown, so there is no secret to read and nobody to
	// ask a password for.
	ErrNoMasterSecret = setting.Errorf("no managed master secret and its master user is unknown: pass %s of a secret with username and password", setting.AdminSecret.Is("ARN"))
	// ErrNoPrompt: there is no secret and no Prompt to ask a person.
	ErrNoPrompt = errors.New("no password source")
)

// SecretReader reads a secret's value: Secrets Manager's GetSecretValue,
// as *secretsmanager.Client has it.
type SecretReader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// AdminConfig says how to log in as a database's administrative user.
type AdminConfig struct {
	// Target is the database: its endpoint, region, engine, master user and
	// managed master secret are used.
	Target target.Target
	// Database is the database to log in to ("" on MySQL: none).
	Database string
	// Dial reaches Target.Address() over the route, e.g. a tunnel.Dialer's
	// DialContext. Required.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// TLS verifies the server (verify-full: its ServerName is Target.Host).
	// Required: the password never travels in the clear.
	TLS *tls.Config
	// AWS signs IAM tokens with its Credentials and, unless Secrets is set,
	// reads the secret.
	AWS aws.Config
	// Profile is the AWS profile's name, for the hints in AWS errors.
	Profile string
	// Secret is the Secrets Manager secret (ARN or name) with the
	// administrative user's username and password, as RDS stores them.
	// Default: Target.MasterSecretARN; with neither, Prompt is asked.
	Secret string
	// Secrets reads Secret. Default: a Secrets Manager client of AWS.
	Secrets SecretReader
	// Prompt asks a person for user's password when there is no secret.
	// Default: none, and OpenAdmin returns ErrNoPrompt.
	Prompt func(ctx context.Context, user string) (string, error)
}

// AdminLogin is who OpenAdmin logged in as and with what, for people.
type AdminLogin struct {
	// User is the administrative user.
	User string
	// From is where the password came from: "secret ARN", "the prompt" or
	// "an IAM token (USER is a member of rds_iam)".
	From string
}

// LoginError is a failed login as the administrative user.
type LoginError struct {
	Target string // the database's identifier
	Login  AdminLogin
	Err    error
}

func (e *LoginError) text() setting.Text {
	return setting.Textf("log in to %s as the administrative user %s (password from %s): %v; check the secret (%s) and the route (rdsgate doctor %s)",
		e.Target, e.Login.User, e.Login.From, e.Err, setting.AdminSecret, e.Target)
}

func (e *LoginError) Error() string { return e.text().String() }

// Render spells the secret's setting in s.
func (e *LoginError) Render(s setting.Style) string { return e.text().Render(s) }

func (e *LoginError) Unwrap() error { return e.Err }

// OpenAdmin opens a database/sql handle as c.Target's administrative user,
// over c.Dial with verify-full TLS, for Plan.Apply and ListUsers. It holds
// at most one connection. The password comes from the secret (c.Secret,
// else the managed master secret) or c.Prompt and is never logged.
//
// On PostgreSQL, when RDS refuses the password through PAM (PAMRefused:
// the administrative user is a member of rds_iam, so RDS takes only IAM
// tokens for it), OpenAdmin logs in again with IAM tokens signed with
// c.AWS's credentials.
func OpenAdmin(ctx context.Context, c AdminConfig) (*sql.DB, AdminLogin, error) {
	fam := c.Target.Family()
	if fam != target.FamilyPostgres && fam != target.FamilyMySQL {
		return nil, AdminLogin{}, fmt.Errorf("engine %s is not supported", c.Target.Engine)
	}
	if c.Dial == nil || c.TLS == nil {
		return nil, AdminLogin{}, errors.New("grant: OpenAdmin needs a Dial and a TLS configuration")
	}
	login, pw, err := c.credentials(ctx)
	if err != nil {
		return nil, AdminLogin{}, err
	}
	src := &passwordSource{get: func(context.Context) (string, error) { return pw, nil }}
	db, err := c.open(login.User, src)
	if err != nil {
		return nil, AdminLogin{}, err
	}
	err = db.PingContext(ctx)
	if PAMRefused(err) {
		tokens := iamauth.NewCache(c.AWS.Credentials, iamauth.CacheOptions{}).Source(
			iamauth.Endpoint{Host: c.Target.Host, Port: c.Target.Port, Region: c.Target.Region, User: login.User})
		if _, terr := tokens.Token(ctx); terr != nil {
			db.Close()
			return nil, AdminLogin{}, fmt.Errorf("sign an IAM token for the administrative user %s: %w", login.User, terr)
		}
		src.set(tokens.Token)
		login.From = "an IAM token (" + login.User + " is a member of rds_iam)"
		err = db.PingContext(ctx)
	}
	if err != nil {
		db.Close()
		return nil, AdminLogin{}, &LoginError{Target: c.Target.Identifier, Login: login, Err: err}
	}
	return db, login, nil
}

// PAMRefused reports whether err is RDS for PostgreSQL refusing a login
// through PAM, which is how it refuses anything but a valid IAM token for a
// member of rds_iam: FATAL with SQLSTATE 28000
// (invalid_authorization_specification), `PAM authentication failed for
// user "…"`. A wrong password for a password user is 28P01
// (invalid_password) instead. Other refusals with 28000 (no pg_hba.conf
// entry, a role that may not log in) cannot be told apart by code; a token
// is refused for them as well.
func PAMRefused(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Severity == "FATAL" && pe.Code == "28000"
}

// passwordSource gives each new connection its password: the secret's or
// the prompt's, until OpenAdmin switches to IAM tokens.
type passwordSource struct {
	mu  sync.Mutex
	get func(context.Context) (string, error)
}

func (s *passwordSource) password(ctx context.Context) (string, error) {
	s.mu.Lock()
	get := s.get
	s.mu.Unlock()
	return get(ctx)
}

func (s *passwordSource) set(get func(context.Context) (string, error)) {
	s.mu.Lock()
	s.get = get
	s.mu.Unlock()
}

// open builds the driver's configuration once and returns a handle whose
// connections take their password from src, so that a new connection after
// a switch to IAM tokens, or after a token expired, logs in afresh. It does
// not connect.
func (c *AdminConfig) open(user string, src *passwordSource) (*sql.DB, error) {
	addr := c.Target.Address()
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) { return c.Dial(ctx, "tcp", addr) }
	var db *sql.DB
	switch c.Target.Family() {
	case target.FamilyPostgres:
		cfg, err := pgx.ParseConfig("sslmode=verify-full")
		if err != nil {
			return nil, err
		}
		cfg.Host, cfg.Port, cfg.ConnectTimeout = c.Target.Host, uint16(c.Target.Port), AdminConnectTimeout
		cfg.User, cfg.Database = user, c.Database
		cfg.TLSConfig, cfg.Fallbacks = c.TLS, nil
		cfg.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
		cfg.DialFunc = dial
		db = stdlib.OpenDB(*cfg, stdlib.OptionBeforeConnect(func(ctx context.Context, cc *pgx.ConnConfig) error {
			var err error
			cc.Password, err = src.password(ctx)
			return err
		}))
	case target.FamilyMySQL:
		mc := mysql.NewConfig()
		mc.User, mc.DBName = user, c.Database
		mc.Net, mc.Addr, mc.TLS, mc.DialFunc, mc.Timeout = "tcp", addr, c.TLS, dial, AdminConnectTimeout
		if err := mc.Apply(mysql.BeforeConnect(func(ctx context.Context, mc *mysql.Config) error {
			var err error
			mc.Passwd, err = src.password(ctx)
			return err
		})); err != nil {
			return nil, err
		}
		conn, err := mysql.NewConnector(mc)
		if err != nil {
			return nil, err
		}
		db = sql.OpenDB(conn)
	default:
		return nil, fmt.Errorf("engine %s is not supported", c.Target.Engine)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// credentials returns the administrative user and password: from c.Secret,
// else the managed master secret, else c.Prompt.
func (c *AdminConfig) credentials(ctx context.Context) (AdminLogin, string, error) {
	t := c.Target
	if id := cmp.Or(c.Secret, t.MasterSecretARN); id != "" {
		sr := c.Secrets
		if sr == nil {
			sr = secretsmanager.NewFromConfig(c.AWS)
		}
		out, err := sr.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			return AdminLogin{}, "", fmt.Errorf("read the administrative secret %s: %w", id, awsconf.Explain(err, c.Profile))
		}
		var s struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}
		if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &s); err != nil || s.Password == "" {
			return AdminLogin{}, "", fmt.Errorf("secret %s is not an RDS credentials secret ({\"username\":...,\"password\":...})", id)
		}
		return AdminLogin{User: cmp.Or(s.Username, t.MasterUser), From: "secret " + id}, s.Password, nil
	}
	if t.MasterUser == "" {
		return AdminLogin{}, "", fmt.Errorf("%s has %w", t.Identifier, ErrNoMasterSecret)
	}
	if c.Prompt == nil {
		return AdminLogin{}, "", fmt.Errorf("%w for the administrative user %s of %s", ErrNoPrompt, t.MasterUser, t.Identifier)
	}
	pw, err := c.Prompt(ctx, t.MasterUser)
	if err != nil {
		return AdminLogin{}, "", err
	}
	return AdminLogin{User: t.MasterUser, From: "the prompt"}, pw, nil
}
