package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/sandbox"
	"github.com/rdsgate/rdsgate/target"
)

func (a *app) newDemo() *cobra.Command {
	var engines []string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Walk the whole path to a private database against a local sandbox",
		Long: `Start a sandbox in-process (see 'rdsgate sandbox') and walk, step by step and
timed, the path rdsgate takes to a private database: who you are (STS), which
database (RDS API), the route to it, TLS verified against the CA and the
endpoint name, a locally signed IAM token, the login, and a query. Then say
what to run next. Needs the postgresql and mariadb-server packages.`,
		Example: `  rdsgate demo
  rdsgate demo --engine postgres`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runDemo(cmd.Context(), engines)
		},
	}
	cmd.Flags().StringSliceVar(&engines, "engine", []string{"all"}, "engines to try: postgres, mysql or all")
	return cmd
}

// demoStep prints one step of the walk with its duration.
func (a *app) demoStep(name string, start time.Time, format string, args ...any) {
	fmt.Fprintf(a.stdout, "  ok  %-9s %s (%s)\n", name, fmt.Sprintf(format, args...), time.Since(start).Round(time.Millisecond))
}

func (a *app) runDemo(ctx context.Context, engines []string) error {
	dir, err := os.MkdirTemp("", "rdsgate-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Fprintln(a.stdout, "rdsgate demo: the path to a private database, against a local sandbox")
	t0 := time.Now()
	// The sandbox's own log is for refusals and failures here; -v shows all.
	sbLog := a.log
	if !a.g.verbose {
		sbLog = slog.New(levelFilter{Handler: a.log.Handler(), min: slog.LevelWarn})
	}
	sb, err := sandbox.Start(ctx, sandbox.Options{Dir: dir, Engines: engines, Log: sbLog})
	if err != nil {
		return fmt.Errorf("start the sandbox: %w", err)
	}
	defer sb.Close()
	a.demoStep("sandbox", t0, "AWS APIs at %s, %d database(s) behind IAM-checking fronts", sb.APIURL, len(sb.World.Instances))

	t0 = time.Now()
	cfg, err := awsconf.Load(ctx, awsconf.Options{Profile: sandbox.ProfileAdmin,
		ConfigFiles: []string{filepath.Join(dir, "aws-config")}, CredentialsFiles: []string{filepath.Join(dir, "aws-credentials")}})
	if err != nil {
		return err
	}
	id, err := awsconf.WhoAmI(ctx, cfg, sandbox.ProfileAdmin)
	if err != nil {
		return err
	}
	a.demoStep("identity", t0, "%s (STS GetCallerIdentity)", id.ARN)

	caPEM, err := os.ReadFile(sb.CAFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	rc, err := config.Load(filepath.Join(dir, "rdsgate.yaml"), "")
	if err != nil {
		return err
	}
	for _, inst := range sb.World.Instances {
		fmt.Fprintf(a.stdout, "\n%s\n", inst.Identifier)
		t0 = time.Now()
		tg, err := resolver(cfg, rc).Resolve(ctx, inst.Identifier)
		if err != nil {
			return err
		}
		a.demoStep("target", t0, "%s %s at %s, resource id %s, IAM auth %v", tg.Engine, tg.EngineVersion, tg.Address(), tg.ResourceID, tg.IAMAuth)
		entry, _ := rc.Target(inst.Identifier)

		t0 = time.Now()
		var d net.Dialer
		routed, err := d.DialContext(ctx, "tcp", entry.Route.Address)
		if err != nil {
			return fmt.Errorf("route to %s: %w", tg.Identifier, err)
		}
		a.demoStep("route", t0, "TCP to %s, standing in for %s (in AWS: a Session Manager tunnel)", entry.Route.Address, tg.Address())
		// The driver logs in over the connection the route opened.
		var once sync.Once
		dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
			var c net.Conn
			once.Do(func() { c = routed })
			if c != nil {
				return c, nil
			}
			return d.DialContext(ctx, "tcp", entry.Route.Address)
		}

		tlsConf := &tls.Config{ServerName: tg.Host, RootCAs: pool, MinVersion: tls.VersionTLS12}
		t0 = time.Now()
		tok, err := iamauth.Build(ctx, iamauth.Endpoint{Host: tg.Host, Port: tg.Port, Region: tg.Region, User: sandbox.IAMUser}, cfg.Credentials, time.Now())
		if err != nil {
			return err
		}
		parsed, err := iamauth.Parse(tok)
		if err != nil {
			return err
		}
		a.demoStep("token", t0, "SigV4-signed locally (no network call) for %s at %s:%d, key %s, valid %s", sandbox.IAMUser, parsed.Host, parsed.Port, parsed.AccessKeyID, iamauth.TokenLifetime)

		t0 = time.Now()
		who, rows, err := demoQuery(ctx, tg, tlsConf, dial, tok)
		if err != nil {
			return fmt.Errorf("log in to %s as %s: %w", tg.Identifier, sandbox.IAMUser, err)
		}
		a.demoStep("login", t0, "as %s over TLS verified for %s (sandbox CA), no password stored anywhere", who, tg.Host)
		fmt.Fprintf(a.stdout, "            SELECT * FROM orders:\n")
		for _, r := range rows {
			fmt.Fprintf(a.stdout, "              %s\n", r)
		}
	}

	fmt.Fprintf(a.stdout, `
Next, with a sandbox that stays up:
  rdsgate sandbox --dir /tmp/sb            # terminal 1
  . /tmp/sb/env                            # terminal 2: point the AWS CLI and rdsgate at it
  rdsgate ls                               # the databases, as the RDS API describes them
  rdsgate token --target demo-pg           # a token, as 'aws rds generate-db-auth-token' prints it
  rdsgate proxy demo-pg=15432              # a local port for psql and GUI tools, no password:
  psql "host=127.0.0.1 port=15432 user=app_user dbname=demo"
`)
	return nil
}

// levelFilter drops records below min.
type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFilter{Handler: f.Handler.WithAttrs(as), min: f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{Handler: f.Handler.WithGroup(name), min: f.min}
}

// demoQuery logs in with the token over verify-full TLS through dial and
// reads the current user and the demo table.
func demoQuery(ctx context.Context, tg target.Target, tlsConf *tls.Config, dial func(context.Context, string, string) (net.Conn, error), token string) (string, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var rows []string
	switch tg.Family() {
	case target.FamilyPostgres:
		pc, err := pgx.ParseConfig("sslmode=verify-full")
		if err != nil {
			return "", nil, err
		}
		pc.Host, pc.Port, pc.User, pc.Password, pc.Database = tg.Host, uint16(tg.Port), sandbox.IAMUser, token, sandbox.DemoDatabase
		pc.TLSConfig, pc.Fallbacks = tlsConf, nil
		pc.DialFunc = dial
		pc.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
		c, err := pgx.ConnectConfig(ctx, pc)
		if err != nil {
			return "", nil, err
		}
		defer c.Close(context.Background())
		var who string
		if err := c.QueryRow(ctx, "select current_user").Scan(&who); err != nil {
			return "", nil, err
		}
		r, err := c.Query(ctx, "select id, customer, total::text from orders order by id")
		if err != nil {
			return "", nil, err
		}
		defer r.Close()
		for r.Next() {
			var id int
			var cust, total string
			if err := r.Scan(&id, &cust, &total); err != nil {
				return "", nil, err
			}
			rows = append(rows, fmt.Sprintf("%d  %-6s %s", id, cust, total))
		}
		return who, rows, r.Err()
	case target.FamilyMySQL:
		mc := mysql.NewConfig()
		mc.User, mc.Passwd, mc.Net, mc.Addr, mc.DBName = sandbox.IAMUser, token, "tcp", tg.Address(), sandbox.DemoDatabase
		mc.TLS, mc.AllowCleartextPasswords, mc.DialFunc = tlsConf, true, dial
		conn, err := mysql.NewConnector(mc)
		if err != nil {
			return "", nil, err
		}
		db := sql.OpenDB(conn)
		defer db.Close()
		var who string
		if err := db.QueryRowContext(ctx, "select current_user()").Scan(&who); err != nil {
			return "", nil, err
		}
		r, err := db.QueryContext(ctx, "select id, customer, total from orders order by id")
		if err != nil {
			return "", nil, err
		}
		defer r.Close()
		for r.Next() {
			var id int
			var cust, total string
			if err := r.Scan(&id, &cust, &total); err != nil {
				return "", nil, err
			}
			rows = append(rows, fmt.Sprintf("%d  %-6s %s", id, cust, total))
		}
		return strings.SplitN(who, "@", 2)[0], rows, r.Err()
	}
	return "", nil, fmt.Errorf("engine %q is not supported", tg.Engine)
}
