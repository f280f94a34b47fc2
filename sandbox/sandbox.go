// Package sandbox is rdsgate's local stand-in for the AWS side of the path to
// a private database: RDS-like database fronts that check IAM tokens as RDS
// does, real PostgreSQL and MariaDB servers behind them, and a SigV4-checked
// subset of the AWS APIs. It is what `rdsgate sandbox` and `rdsgate demo`
// run, and the backbone of the end-to-end tests; the real path never uses it.
package sandbox

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/sandbox/awsapi"
	"github.com/rdsgate/rdsgate/sandbox/embeddb"
	"github.com/rdsgate/rdsgate/sandbox/mysqlfront"
	"github.com/rdsgate/rdsgate/sandbox/pgfront"
	"github.com/rdsgate/rdsgate/sandbox/ssmagent"
	"github.com/rdsgate/rdsgate/sandbox/world"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/target"
)

// Options configure a sandbox.
type Options struct {
	// Dir receives the files clients use (see WriteFiles); created 0700.
	Dir string
	// Engines to run: "postgres", "mysql" (MariaDB). Empty means both.
	Engines []string
	// Faults to switch on (see AllFaults).
	Faults []string
	// LogsDownFor is how long the logs-down fault lasts from the start
	// (default DefaultLogsDown); see also Sandbox.LogsDown.
	LogsDownFor time.Duration
	// Region of the sandbox account; default us-east-1.
	Region string
	// NoBastion starts the world without a Session Manager bastion (and
	// with database groups that admit nobody), for `rdsgate bastion
	// create` to build one.
	NoBastion bool
	// Log receives the sandbox's log, including the precise reason of every
	// refused login. Default: discard.
	Log *slog.Logger
	// Now is the sandbox's clock (tests move it); default time.Now.
	Now func() time.Time
	// Unpaced lets the Session Manager agent send as fast as it can; by
	// default it paces like AWS's agent (1 KiB messages, about 1 MB/s).
	Unpaced bool
	// Principals are extra IAM identities, each with its own profile.
	Principals []PrincipalSpec
	// IAMUsers are extra IAM database users created in every database,
	// with read access to the demo data.
	IAMUsers []string
	// Backend chooses what serves the data behind the fronts: BackendAuto
	// (default), BackendInstalled or BackendEmbedded.
	Backend string
	// BackendURLs are existing servers (postgres://USER:PASSWORD@HOST:PORT,
	// mysql://...), at most one per engine, used instead of Backend for
	// their engine. The admin user must be able to create roles and
	// databases; the sandbox creates the demo's (and changes only those).
	BackendURLs []string
}

// Sandbox is a running sandbox.
type Sandbox struct {
	Dir    string
	World  *world.World
	APIURL string
	// CAFile is the PEM file of the CA that issued the fronts' certificates.
	CAFile string

	log       *slog.Logger
	now       func() time.Time
	noBastion bool
	iamUsers  []string
	urls      map[string]string // engine family -> backend URL
	api       *awsapi.Server
	closers   []func() error
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeErr  error
	once      sync.Once
}

// Start runs a sandbox and returns once every listener accepts and the
// client files are written (DIR/ready last).
//
// The fronts check a token's signature, expiry, host:port, user, region and
// policy; the APIs are STS, RDS, EC2, SSM, IAM and Secrets Manager.
// Everything listens on loopback; the databases' endpoint names do not
// resolve, as private RDS addresses do not from a laptop. The database
// servers are private to the user who runs the sandbox: 0700 directories
// and sockets, and random superuser passwords that stay in memory.
func Start(ctx context.Context, opts Options) (sb *Sandbox, err error) {
	if opts.Dir == "" {
		return nil, errors.New("sandbox: no directory given for the client files")
	}
	if opts.Region == "" {
		opts.Region = world.DefaultRegion
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	engines, err := normalizeEngines(opts.Engines)
	if err != nil {
		return nil, err
	}
	urls := map[string]string{}
	for _, u := range opts.BackendURLs {
		e, err := backendURLEngine(u)
		if err != nil {
			return nil, err
		}
		if _, dup := urls[e]; dup {
			return nil, fmt.Errorf("sandbox: two backend URLs for %s", e)
		}
		urls[e] = u
	}
	backends := map[string]string{}
	for _, e := range engines {
		if urls[e] != "" {
			backends[e] = BackendURL
			continue
		}
		if backends[e], err = backendFor(opts.Backend, e); err != nil {
			return nil, err
		}
	}
	faults, err := checkFaults(opts.Faults)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	_ = os.Remove(filepath.Join(opts.Dir, readyFile))

	runCtx, cancel := context.WithCancel(context.Background())
	sb = &Sandbox{Dir: opts.Dir, log: opts.Log, now: opts.Now, cancel: cancel, CAFile: filepath.Join(opts.Dir, caFile), urls: urls,
		noBastion: opts.NoBastion}
	defer func() {
		if err != nil {
			_ = sb.Close()
			sb = nil
		}
	}()
	w := newWorld(opts.Region, engines, faults, opts.NoBastion)
	sb.World = w
	if faults[FaultLogsDown] {
		sb.LogsDown(cmp.Or(opts.LogsDownFor, DefaultLogsDown))
	}
	if err := addPrincipals(w, opts.Principals); err != nil {
		return sb, err
	}
	if err := checkUsers(opts.IAMUsers); err != nil {
		return sb, err
	}
	sb.iamUsers = opts.IAMUsers

	now := opts.Now()
	ca, err := newAuthority("rdsgate sandbox CA", now)
	if err != nil {
		return sb, err
	}
	if err := os.WriteFile(sb.CAFile, ca.pem, 0o644); err != nil {
		return sb, fmt.Errorf("sandbox: %w", err)
	}
	issuer := ca
	if faults[FaultWrongCA] {
		if issuer, err = newAuthority("some other CA", now); err != nil {
			return sb, err
		}
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)

	for i := range w.Instances {
		inst := &w.Instances[i]
		notBefore, notAfter := now.Add(-time.Hour), now.Add(365*24*time.Hour)
		if faults[FaultExpiredCert] {
			notBefore, notAfter = now.Add(-400*24*time.Hour), now.Add(-24*time.Hour)
		}
		cert, err := issuer.leaf(inst.Endpoint, notBefore, notAfter)
		if err != nil {
			return sb, err
		}
		tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		auth := &iamAuthenticator{w: w, inst: inst, now: opts.Now}
		masterPW := randLower(24)
		inst.Backend = backends[engineFamily(inst.Engine)]
		if err := sb.startInstance(ctx, runCtx, inst, tlsConf, auth, secret, masterPW, faults); err != nil {
			return sb, err
		}
		w.Secrets = append(w.Secrets, world.Secret{ARN: inst.MasterSecretARN, Name: secretName(inst.MasterSecretARN),
			SecretString: masterSecret(inst.MasterUser, masterPW)})
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return sb, fmt.Errorf("sandbox: API listener: %w", err)
	}
	sb.APIURL = "http://" + ln.Addr().String()
	// The Session Manager data channel: the agent behind StartSession's
	// StreamUrl, ending its streams when a session is terminated.
	var agent *ssmagent.Agent
	sb.api = awsapi.New(awsapi.Options{World: w, Now: opts.Now, Log: opts.Log.With("component", "api"),
		OnTerminate: func(s awsapi.Session) { agent.Terminate(s) }})
	agent = ssmagent.New(ssmagent.Options{API: sb.api, World: w, Unpaced: opts.Unpaced, Log: opts.Log.With("component", "ssm-agent")})
	sb.api.HandleDataChannel(agent)
	sb.serve("api", func() error { return sb.api.Serve(runCtx, ln) })
	sb.closers = append(sb.closers, sb.api.Close, agent.Close)

	if err := sb.WriteFiles(); err != nil {
		return sb, err
	}
	opts.Log.Info("sandbox ready", "dir", opts.Dir, "api", sb.APIURL)
	return sb, nil
}

// API is the sandbox's AWS API server (for mounting the Session Manager
// data channel and for inspecting sessions in tests).
func (sb *Sandbox) API() *awsapi.Server { return sb.api }

// LogsDown makes CloudWatch Logs refuse every call as unavailable for d
// from now (the logs-down fault); d <= 0 ends an outage.
func (sb *Sandbox) LogsDown(d time.Duration) {
	until := time.Time{}
	if d > 0 {
		until = sb.now().Add(d)
	}
	sb.World.Update(func() { sb.World.LogsDownUntil = until })
}

// Instance returns the named instance.
func (sb *Sandbox) Instance(id string) (*world.Instance, bool) { return sb.World.Instance(id) }

// Principal returns the principal of a profile (ProfileAdmin,
// ProfileIntern, or one from the spec); an unknown profile gives the admin.
func (sb *Sandbox) Principal(profile string) *world.Principal {
	for i := range sb.World.Principals {
		if sb.World.Principals[i].Profile == profile {
			return &sb.World.Principals[i]
		}
	}
	return &sb.World.Principals[0]
}

// Close stops every listener and backend and removes DIR/ready. It is safe
// to call more than once.
func (sb *Sandbox) Close() error {
	sb.once.Do(func() {
		_ = os.Remove(filepath.Join(sb.Dir, readyFile))
		sb.cancel()
		var errs []error
		for i := len(sb.closers) - 1; i >= 0; i-- {
			if err := sb.closers[i](); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		sb.wg.Wait()
		sb.closeErr = errors.Join(errs...)
	})
	return sb.closeErr
}

// serve runs fn in a goroutine owned by the sandbox.
func (sb *Sandbox) serve(name string, fn func() error) {
	sb.wg.Add(1)
	go func() {
		defer sb.wg.Done()
		if err := fn(); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, context.Canceled) {
			sb.log.Error("sandbox listener stopped", "listener", name, "err", err)
		}
	}()
}

// startInstance starts the backend for inst, seeds it and puts a front
// before it.
func (sb *Sandbox) startInstance(ctx, runCtx context.Context, inst *world.Instance, tlsConf *tls.Config, auth *iamAuthenticator,
	secret []byte, masterPW string, faults map[string]bool) error {
	pgConf, myConf, err := sb.startBackend(ctx, runCtx, inst, secret, masterPW, faults[FaultUserNotIAM])
	if err != nil {
		return err
	}
	var front interface {
		Serve(context.Context, net.Listener) error
		Close() error
	}
	if pgConf != nil {
		pgConf.Instance, pgConf.Endpoint, pgConf.TLS, pgConf.ForceSSL = inst.Identifier, inst.Endpoint, tlsConf, true
		pgConf.Auth, pgConf.Log = pgAuth{auth}, sb.log
		front, err = pgfront.New(*pgConf)
	} else {
		myConf.Instance, myConf.Endpoint, myConf.TLS, myConf.Secret = inst.Identifier, inst.Endpoint, tlsConf, secret
		myConf.Auth, myConf.Log = myAuth{auth}, sb.log
		var mf *mysqlfront.Server
		if mf, err = mysqlfront.New(*myConf); err == nil {
			front = mf
			if inst.Backend == BackendInstalled {
				// Only on the throwaway server, never on one given by URL
				// (it redefines the mysql.user view). Display only: the
				// front works the same without it.
				if cerr := mf.EmulateIAMCatalog(ctx); cerr != nil {
					sb.log.Warn("sandbox: mysql.user will show IAM users as password users", "instance", inst.Identifier, "err", cerr)
				}
			}
		}
	}
	if err != nil {
		return err
	}
	sb.closers = append(sb.closers, front.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("sandbox: front listener for %s: %w", inst.Identifier, err)
	}
	inst.FrontAddr = ln.Addr().String()
	sb.serve(inst.Identifier, func() error { return front.Serve(runCtx, ln) })
	return nil
}

// startBackend starts and seeds what serves inst's data (a throwaway
// server, the embedded engine, or a server given by URL) and returns the
// backend part of its front's configuration: PostgreSQL's or MySQL's.
func (sb *Sandbox) startBackend(ctx, runCtx context.Context, inst *world.Instance, secret []byte, masterPW string, notIAM bool) (*pgfront.Config, *mysqlfront.Config, error) {
	pg := inst.Engine == "postgres"
	switch {
	case inst.Backend == BackendURL && pg:
		be, err := postgresURLBackend(ctx, sb.urls["postgres"], inst.MasterUser, masterPW, notIAM, sb.iamUsers, secret)
		return &pgfront.Config{Backend: be}, nil, err
	case inst.Backend == BackendURL:
		cfg, err := mysqlURLBackend(ctx, sb.urls["mysql"], inst.MasterUser, masterPW, notIAM, sb.iamUsers, secret)
		return nil, cfg, err
	case inst.Backend == BackendEmbedded:
		db, err := sb.startEmbedded(ctx, inst, secret, masterPW, notIAM)
		if err != nil {
			return nil, nil, err
		}
		sb.closers = append(sb.closers, db.Close)
		if pg {
			ps := embeddb.NewPostgresServer(db)
			sb.closers = append(sb.closers, func() error { ps.Wait(); return nil })
			return &pgfront.Config{Backend: &embeddedPostgres{ctx: runCtx, db: db, ps: ps}}, nil, nil
		}
		bln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("sandbox: %s embedded backend: %w", inst.Identifier, err)
		}
		ms := embeddb.NewMySQLServer(db)
		sb.serve(inst.Identifier+"-backend", func() error { return ms.Serve(runCtx, bln) })
		sb.closers = append(sb.closers, func() error { bln.Close(); ms.Wait(); return nil })
		return nil, &mysqlfront.Config{BackendAddr: bln.Addr().String(),
			IsIAMUser: func(_ context.Context, user string) (bool, error) { return db.IsIAMUser(user), nil }}, nil
	case pg:
		// The front logs IAM users in over the private socket (TrustLocal);
		// the superuser needs its password everywhere.
		srv, err := dbserver.StartPostgres(ctx, dbserver.Options{TrustLocal: true})
		if err != nil {
			return nil, nil, fmt.Errorf("sandbox: %s backend: %w", inst.Identifier, err)
		}
		sb.closers = append(sb.closers, srv.Close)
		if err := seedPostgres(ctx, srv, inst.MasterUser, masterPW, notIAM, sb.iamUsers); err != nil {
			return nil, nil, err
		}
		return &pgfront.Config{BackendSocketDir: srv.Socket, BackendAddr: srv.Addr(),
			BackendAdminUser: srv.AdminUser, BackendAdminPassword: srv.AdminPassword}, nil, nil
	}
	srv, err := dbserver.StartMariaDB(ctx, dbserver.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: %s backend: %w", inst.Identifier, err)
	}
	sb.closers = append(sb.closers, srv.Close)
	if err := srv.RenameMariaDBAdmin(ctx, "rdsadmin"); err != nil { // as RDS names its own
		return nil, nil, fmt.Errorf("sandbox: %s backend: %w", inst.Identifier, err)
	}
	if err := seedMariaDB(ctx, srv, secret, inst.MasterUser, masterPW, notIAM, sb.iamUsers); err != nil {
		return nil, nil, err
	}
	return nil, &mysqlfront.Config{BackendAddr: srv.Addr(), AdminDSN: srv.MySQLConfig("").FormatDSN()}, nil
}

// seedPostgres creates what RDS PostgreSQL has and the demo needs: the
// rds_iam role, a master user that is not a superuser (CREATEROLE lets it
// grant rds_iam, as rds_superuser does on RDS, without being a member and so
// without losing its password), the demo database and
// the IAM user app_user (a password user instead with the user-not-iam fault).
func seedPostgres(ctx context.Context, srv *dbserver.Server, master, masterPW string, notIAM bool, extra []string) error {
	c, err := pgx.Connect(ctx, srv.AdminDSN("postgres"))
	if err != nil {
		return fmt.Errorf("sandbox: seed postgres: %w", err)
	}
	defer c.Close(ctx)
	appUser := "CREATE ROLE " + IAMUser + " LOGIN; GRANT rds_iam TO " + IAMUser
	if notIAM {
		appUser = "CREATE ROLE " + IAMUser + " LOGIN PASSWORD '" + randLower(24) + "'"
	}
	for _, q := range []string{
		"CREATE ROLE rds_iam",
		"CREATE ROLE " + master + " LOGIN CREATEDB CREATEROLE PASSWORD '" + masterPW + "'",
		// As RDS's master user through rds_superuser: it sees every
		// session's statement and may end sessions (rdsgate sessions).
		"GRANT pg_monitor, pg_signal_backend TO " + master,
		appUser,
		"CREATE DATABASE " + DemoDatabase + " OWNER " + master,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			return fmt.Errorf("sandbox: seed postgres: %s: %w", strings.SplitN(q, " PASSWORD", 2)[0], err)
		}
	}
	d, err := pgx.Connect(ctx, srv.AdminDSN(DemoDatabase))
	if err != nil {
		return fmt.Errorf("sandbox: seed postgres: %w", err)
	}
	defer d.Close(ctx)
	_, err = d.Exec(ctx, `SET ROLE `+master+`;
CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, total numeric(10,2) NOT NULL);
INSERT INTO orders VALUES (1, 'Ada', 42.00), (2, 'Grace', 17.50), (3, 'Linus', 99.90);
GRANT CONNECT ON DATABASE `+DemoDatabase+` TO `+IAMUser+`;
GRANT USAGE ON SCHEMA public TO `+IAMUser+`;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO `+IAMUser)
	if err != nil {
		return fmt.Errorf("sandbox: seed postgres demo database: %w", err)
	}
	for _, u := range extra {
		q := pgx.Identifier{u}.Sanitize()
		if _, err := c.Exec(ctx, "CREATE ROLE "+q+" LOGIN; GRANT rds_iam TO "+q); err != nil {
			return fmt.Errorf("sandbox: create IAM user %s: %w", u, err)
		}
		if _, err := d.Exec(ctx, "GRANT CONNECT ON DATABASE "+DemoDatabase+" TO "+q+"; GRANT USAGE ON SCHEMA public TO "+q+"; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "+q); err != nil {
			return fmt.Errorf("sandbox: grant IAM user %s: %w", u, err)
		}
	}
	return nil
}

// seedMariaDB creates the master user, the demo database and app_user as an
// emulated AWSAuthenticationPlugin user (a password user with the fault).
func seedMariaDB(ctx context.Context, srv *dbserver.Server, secret []byte, master, masterPW string, notIAM bool, extra []string) error {
	conn, err := mysql.NewConnector(srv.MySQLConfig(""))
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	appUser := mysqlfront.IAMUserSQL(secret, IAMUser, "%")
	if notIAM {
		appUser = "CREATE USER '" + IAMUser + "'@'%' IDENTIFIED BY '" + randLower(24) + "'"
	}
	for _, q := range []string{
		"CREATE USER '" + master + "'@'%' IDENTIFIED BY '" + masterPW + "'",
		"GRANT ALL PRIVILEGES ON *.* TO '" + master + "'@'%' WITH GRANT OPTION",
		appUser,
		"CREATE DATABASE " + DemoDatabase,
		"CREATE TABLE " + DemoDatabase + ".orders (id int PRIMARY KEY, customer varchar(100) NOT NULL, total decimal(10,2) NOT NULL)",
		"INSERT INTO " + DemoDatabase + ".orders VALUES (1, 'Ada', 42.00), (2, 'Grace', 17.50), (3, 'Linus', 99.90)",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON " + DemoDatabase + ".* TO '" + IAMUser + "'@'%'",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sandbox: seed mariadb: %s: %w", strings.SplitN(q, " IDENTIFIED", 2)[0], err)
		}
	}
	for _, u := range extra {
		for _, q := range []string{mysqlfront.IAMUserSQL(secret, u, "%"), "GRANT SELECT ON " + DemoDatabase + ".* TO '" + u + "'@'%'"} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("sandbox: create IAM user %s: %w", u, err)
			}
		}
	}
	return nil
}

// engineFamily maps an instance's engine to the Options.Engines name.
func engineFamily(engine string) string {
	if engine == "postgres" {
		return "postgres"
	}
	return "mysql"
}

func normalizeEngines(in []string) ([]string, error) {
	if len(in) == 0 {
		in = []string{"all"}
	}
	var out []string
	add := func(e string) {
		for _, x := range out {
			if x == e {
				return
			}
		}
		out = append(out, e)
	}
	for _, e := range in {
		switch strings.ToLower(e) {
		case "all":
			add("postgres")
			add("mysql")
		case "postgres", "postgresql", "pg":
			add("postgres")
		case "mysql", "mariadb":
			add("mysql")
		default:
			return nil, fmt.Errorf("sandbox: unknown engine %q: use postgres, mysql or all", e)
		}
	}
	return out, nil
}

func secretName(arn string) string {
	if i := strings.LastIndex(arn, ":"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// CAPool returns a pool with the sandbox CA, for Go clients in tests.
func (sb *Sandbox) CAPool() (*x509.CertPool, error) {
	b, err := os.ReadFile(sb.CAFile)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, errors.New("sandbox: CA file has no certificate")
	}
	return p, nil
}

// WriteIntro tells a person how to use the running sandbox from another
// shell, with settings spelled in s (a command line's flags).
func (sb *Sandbox) WriteIntro(w io.Writer, s setting.Style) {
	fmt.Fprintf(w, "Sandbox running. In another shell:\n\n  . %s\n  rdsgate ls\n", filepath.Join(sb.Dir, "env"))
	for _, inst := range sb.World.Instances {
		fmt.Fprintf(w, "  %s\n", setting.Textf("rdsgate token %s %s", inst.Identifier, setting.User.Is(IAMUser)).Render(s))
	}
	fmt.Fprintf(w, "\nPress Ctrl-C to stop.\n")
}

// WriteEmbedded says which databases rdsgate's embedded engine serves
// (nothing when real servers serve them all).
func (sb *Sandbox) WriteEmbedded(w io.Writer) {
	for _, inst := range sb.World.Instances {
		if inst.Backend == BackendEmbedded {
			fmt.Fprintf(w, "  %s is served by rdsgate's embedded engine (SQLite behind the %s protocol)\n", inst.Identifier, target.EngineFamily(inst.Engine).Protocol())
		}
	}
}
