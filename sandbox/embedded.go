package sandbox

import (
	"github.com/rdsgate/rdsgate/setting"

	"context"
	"fmt"
	"net"
	"strings"

	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/pgwire"
	"github.com/rdsgate/rdsgate/sandbox/embeddb"
	"github.com/rdsgate/rdsgate/sandbox/mysqlfront"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

// Backend kinds (Options.Backend).
const (
	// BackendAuto uses the installed server binaries for an engine, and the
	// embedded engine when they are missing.
	BackendAuto = "auto"
	// BackendInstalled requires the installed PostgreSQL/MariaDB binaries.
	BackendInstalled = "installed"
	// BackendEmbedded is the embedded engine (SQLite behind the PostgreSQL
	// and MySQL protocols): no server binaries needed, the demo's SQL and
	// simple queries work, account statements (CREATE ROLE, GRANT) do not.
	BackendEmbedded = "embedded"
)

// Whether the server packages are installed; variables for tests.
var (
	postgresInstalled = dbserver.PostgresAvailable
	mariadbInstalled  = dbserver.MariaDBAvailable
)

// backendFor decides the backend of an engine: "installed" or "embedded".
func backendFor(choice, engine string) (string, error) {
	installed := postgresInstalled
	what := "PostgreSQL (apt-get install postgresql)"
	if engine != "postgres" {
		installed, what = mariadbInstalled, "MariaDB (apt-get install mariadb-server)"
	}
	switch strings.ToLower(choice) {
	case "", BackendAuto:
		if installed() {
			return BackendInstalled, nil
		}
		return BackendEmbedded, nil
	case BackendEmbedded:
		return BackendEmbedded, nil
	case BackendInstalled:
		if !installed() {
			return "", setting.Errorf("sandbox: %s: %s is not installed; use %s or %s", setting.Backend.Is("installed"), what, setting.Backend.Is("auto"), setting.Backend.Is("embedded"))
		}
		return BackendInstalled, nil
	}
	return "", fmt.Errorf("sandbox: unknown backend %q: use auto, installed or embedded", choice)
}

// embeddedPostgres adapts the embedded engine's PostgreSQL face to the
// front: each backend connection is one end of a pipe served in-process.
type embeddedPostgres struct {
	ctx context.Context // ends the sessions
	db  *embeddb.DB
	ps  *embeddb.PostgresServer
}

func (e *embeddedPostgres) IsIAMUser(_ context.Context, user string) (bool, error) {
	return e.db.IsIAMUser(user), nil
}

func (e *embeddedPostgres) DialTrusted(ctx context.Context, sm *pgwire.StartupMessage) (net.Conn, error) {
	return e.pipe(ctx, sm, true)
}

func (e *embeddedPostgres) DialPassword(ctx context.Context, sm *pgwire.StartupMessage) (net.Conn, error) {
	return e.pipe(ctx, sm, false)
}

// pipe serves one session in-process and sends it sm.
func (e *embeddedPostgres) pipe(ctx context.Context, sm *pgwire.StartupMessage, trusted bool) (net.Conn, error) {
	pkt, err := sm.AppendTo(nil)
	if err != nil {
		return nil, err
	}
	client, server := net.Pipe()
	e.ps.Serve(e.ctx, server, trusted)
	if dl, ok := ctx.Deadline(); ok {
		_ = client.SetWriteDeadline(dl)
	}
	if _, err := client.Write(pkt); err != nil {
		client.Close()
		return nil, fmt.Errorf("embedded backend: %w", err)
	}
	return client, nil
}

func (e *embeddedPostgres) ProbeNegotiation(_ context.Context, sm *pgwire.StartupMessage) ([]byte, error) {
	return embeddb.Negotiation(sm), nil
}

func (e *embeddedPostgres) ForgetNegotiation(*pgwire.StartupMessage) {}

func (e *embeddedPostgres) ForwardCancel(_ context.Context, cr *pgwire.CancelRequest) error {
	e.ps.Cancel(cr.ProcessID, cr.SecretKey)
	return nil
}

// Close is a no-op: the sandbox ends the sessions and closes the engine.
func (e *embeddedPostgres) Close() error { return nil }

// demoSchema is the demo database's table, in SQL both SQLite faces take.
const demoSchema = `CREATE TABLE orders (id int PRIMARY KEY, customer varchar(100) NOT NULL, total numeric(10,2) NOT NULL);
INSERT INTO orders VALUES (1, 'Ada', 42.00), (2, 'Grace', 17.50), (3, 'Linus', 99.90)`

// startEmbedded opens the embedded engine for inst, seeded like the
// installed backends: the master user, app_user (IAM, or a password user
// with the user-not-iam fault), the extra IAM users and the demo table.
// IAM users of the MySQL face get the front's derived password, as on
// MariaDB.
func (sb *Sandbox) startEmbedded(ctx context.Context, inst *world.Instance, secret []byte, masterPW string, notIAM bool) (*embeddb.DB, error) {
	dbs := []string{DemoDatabase}
	if inst.Engine == "postgres" {
		dbs = append(dbs, "postgres")
	}
	db, err := embeddb.Open(dbs...)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %s embedded backend: %w", inst.Identifier, err)
	}
	if err := db.Exec(ctx, DemoDatabase, demoSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sandbox: seed %s: %w", inst.Identifier, err)
	}
	iamUser := func(name string) embeddb.Account {
		a := embeddb.Account{Name: name, IAM: true}
		if inst.Engine != "postgres" {
			a.Password = mysqlfront.DerivedPassword(secret, name)
		}
		return a
	}
	db.AddAccount(embeddb.Account{Name: inst.MasterUser, Password: masterPW})
	if notIAM {
		db.AddAccount(embeddb.Account{Name: IAMUser, Password: randLower(24)})
	} else {
		db.AddAccount(iamUser(IAMUser))
	}
	for _, u := range sb.iamUsers {
		db.AddAccount(iamUser(u))
	}
	return db, nil
}
