package activity_test

import (
	"context"
	"database/sql"
	"io"
	"log"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/go-sql-driver/mysql"

	"github.com/rdsgate/rdsgate/activity"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/internal/dbserver"
	"github.com/rdsgate/rdsgate/sandbox"
	"github.com/rdsgate/rdsgate/sandbox/awsapi"
	ssmtunnel "github.com/rdsgate/rdsgate/tunnel/ssm"
)

// devProfile is the person whose connection is listed and ended; the
// listing runs as the sandbox's admin, another identity.
const devProfile = "dev"

// held is a connect-like session in the background: a Local proxy on
// dev's ssm path, and one pinned connection through it.
type held struct {
	path  *dbpath.Path
	local *dbpath.Local
	db    *sql.DB
	conn  *sql.Conn
}

func (h *held) close() {
	h.conn.Close()
	h.db.Close()
	h.local.Close()
	h.path.Close()
}

// closed waits until the held connection sees the server gone.
func (h *held) closed(ctx context.Context) error {
	for {
		if _, err := h.conn.ExecContext(ctx, "SELECT 1"); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func openPath(ctx context.Context, t *testing.T, sb *sandbox.Sandbox, name, profile, user string) *dbpath.Path {
	t.Helper()
	p, err := dbpath.Open(ctx, dbpath.Spec{Name: name, Profile: profile, User: user, Database: sandbox.DemoDatabase,
		Route: dbpath.Route{Via: "ssm", Bastion: sandbox.BastionID}, CABundle: sb.CAFile},
		dbpath.Options{AWSConfigFiles: []string{filepath.Join(sb.Dir, "aws-config")},
			AWSCredentialsFiles: []string{filepath.Join(sb.Dir, "aws-credentials")}, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatalf("open %s as %s: %v", name, profile, err)
	}
	return p
}

func hold(ctx context.Context, t *testing.T, sb *sandbox.Sandbox, name string) *held {
	t.Helper()
	h := &held{path: openPath(ctx, t, sb, name, devProfile, sandbox.IAMUser)}
	var err error
	if h.local, err = h.path.Serve(ctx, dbpath.LocalOptions{}); err != nil {
		t.Fatal(err)
	}
	if h.db, err = h.local.Login(ctx, sandbox.IAMUser, sandbox.DemoDatabase); err != nil {
		t.Fatal(err)
	}
	if h.conn, err = h.db.Conn(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.conn.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestListAndKill holds a connect-like session as dev through the
// sandbox's bastion, lists it as the admin with dev's AWS identity and
// database user, and ends it: the database connection alone, or the
// Session Manager session behind it.
func TestListAndKill(t *testing.T) {
	engines := []string{"postgres"}
	if dbserver.MariaDBAvailable() {
		engines = append(engines, "mysql")
	}
	// The driver logs a write to the connection the kill closed.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{Dir: t.TempDir(), Engines: engines, Log: slog.New(slog.DiscardHandler),
		Principals: []sandbox.PrincipalSpec{{Profile: devProfile, Policy: `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	devARN := sb.Principal(devProfile).ARN

	for _, tc := range []struct {
		desc     string
		instance string
		tunnel   bool // kill the Session Manager session, not the connection
		want     string
	}{
		{"postgres connection", sandbox.InstancePG, false, "SELECT pg_terminate_backend("},
		{"postgres tunnel", sandbox.InstancePG, true, "terminate the Session Manager session"},
		{"mysql connection", sandbox.InstanceMySQL, false, "KILL CONNECTION "},
		{"mysql tunnel", sandbox.InstanceMySQL, true, "terminate the Session Manager session"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if _, ok := sb.Instance(tc.instance); !ok {
				t.Skipf("no %s in the sandbox (MariaDB not installed)", tc.instance)
			}
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			h := hold(ctx, t, sb, tc.instance)
			defer h.close()
			held := h.path.Dialer.(*ssmtunnel.Dialer).Sessions()
			if len(held) != 1 {
				t.Fatalf("dev's path holds sessions %v", held)
			}

			// The admin's side, as rdsgate sessions does it.
			p := openPath(ctx, t, sb, tc.instance, sandbox.ProfileAdmin, "")
			defer p.Close()
			admin, _, err := p.Admin(ctx, adminDatabase(p), "", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			if p.Target.Family() == "postgres" {
				// RDS's master user (rds_superuser) has it; the sandbox's not.
				if _, err := admin.ExecContext(ctx, "GRANT pg_signal_backend TO "+p.Target.MasterUser); err != nil {
					t.Fatal(err)
				}
			}
			src := activity.Sources{Target: p.Target, DB: admin, SSM: ssm.NewFromConfig(p.AWS), Bastion: p.Route.Bastion,
				Account: p.Identity.Account}
			if err := admin.PingContext(ctx); err != nil { // the admin's own session opens now
				t.Fatal(err)
			}
			src.Own = p.Dialer.(*ssmtunnel.Dialer).Sessions()

			rep, err := activity.List(ctx, src)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(rep.Sessions, func(s activity.Session) bool { return s.DBUser == sandbox.IAMUser && !s.Self })
			if i < 0 {
				t.Fatalf("dev's connection is not listed: %+v (warnings %q)", rep.Sessions, rep.Warnings)
			}
			row := rep.Sessions[i]
			if row.AWSIdentity != devARN || row.SSMSession != held[0] || row.PID == 0 || row.ID != strconv.FormatInt(row.PID, 10) {
				t.Errorf("dev's connection: %+v, want identity %s, session %s", row, devARN, held[0])
			}
			// rdsgate's proxy tags PostgreSQL's application_name; MySQL's
			// connection is tied by time.
			wantMatch := activity.MatchOnlySession
			if p.Target.Family() == "postgres" {
				wantMatch = activity.MatchTag
			}
			if row.Match != wantMatch || strings.Contains(row.Application, "rdsgate:") {
				t.Errorf("dev's connection matched %q with application %q, want %q and no tag", row.Match, row.Application, wantMatch)
			}
			if !slices.ContainsFunc(rep.Sessions, func(s activity.Session) bool { return s.Self && s.PID != 0 }) {
				t.Errorf("the admin's own connection is not marked: %+v", rep.Sessions)
			}

			plan, err := rep.PlanKill(src, row.ID, activity.KillOptions{Tunnel: tc.tunnel})
			if err != nil {
				t.Fatal(err)
			}
			if s := plan.String(); !strings.Contains(s, tc.want) || !strings.Contains(s, devARN) {
				t.Errorf("plan:\n%s\nwant %q and %s", s, tc.want, devARN)
			}
			if err := plan.Apply(ctx); err != nil {
				t.Fatal(err)
			}
			wait, stop := context.WithTimeout(ctx, 15*time.Second)
			defer stop()
			if err := h.closed(wait); err == nil {
				t.Fatal("the held connection still answers 15 s after the kill")
			}
			s, _ := sb.API().Session(held[0])
			if ended := s.Status == awsapi.SessionTerminated; ended != tc.tunnel {
				t.Errorf("Session Manager session %s is %s after the kill (tunnel %v)", held[0], s.Status, tc.tunnel)
			}
			// The server ends its side of a closed tunnel's connection on
			// its own time.
			for {
				after, err := activity.List(wait, src)
				if err != nil {
					t.Fatalf("connection %s still listed 15 s after the kill: %v", row.ID, err)
				}
				if _, ok := after.Find(row.ID); !ok {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// adminDatabase is where the admin logs in: any database shows every
// connection.
func adminDatabase(p *dbpath.Path) string {
	if p.Target.Family() == "postgres" {
		return "postgres"
	}
	return ""
}
