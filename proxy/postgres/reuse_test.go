package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rdsgate/rdsgate/pgwire"
)

// connectApp connects through the proxy with an application_name (part of
// the startup packet, and so of which logins a client may reuse).
func connectApp(t *testing.T, e *env, app string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, e.dsn("app_user", "postgres")+" application_name="+app)
	if err != nil {
		t.Fatalf("connect through the proxy: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func backendPID(t *testing.T, c *pgx.Conn) int {
	t.Helper()
	var pid int
	if err := c.QueryRow(context.Background(), "select pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

func closeConn(t *testing.T, c *pgx.Conn) {
	t.Helper()
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func queryInt(t *testing.T, c *pgx.Conn, sql string) int {
	t.Helper()
	var n int
	if err := c.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func queryString(t *testing.T, c *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	if err := c.QueryRow(context.Background(), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestReuseLogins(t *testing.T) {
	e := startEnv(t, envOptions{reuse: &ReuseConfig{}})
	ctx := context.Background()

	t.Run("a clean end is reused with nothing of its state", func(t *testing.T) {
		c1 := connectApp(t, e, "state")
		pid, key := backendPID(t, c1), c1.PgConn().PID()
		app, path := queryString(t, c1, "show application_name"), queryString(t, c1, "show search_path")
		for _, sql := range []string{
			"SET DateStyle = 'German'", "SET search_path = pg_catalog", "SET application_name = 'changed'",
			"SET statement_timeout = '1234s'", "CREATE TEMP TABLE scratch (x int)", "PREPARE p1 AS SELECT 1",
			"LISTEN channel1", "SELECT pg_advisory_lock(42)", "DECLARE held CURSOR WITH HOLD FOR SELECT 1",
			"SET ROLE rds_iam",
		} {
			if _, err := c1.Exec(ctx, sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		if got := c1.PgConn().ParameterStatus("DateStyle"); got != "German, DMY" {
			t.Fatalf("DateStyle reported to the first client: %q", got)
		}
		closeConn(t, c1)
		// A client that reconnects before the proxy has read the last one's
		// Terminate logs in anew; wait, so that this test is about reuse.
		waitIdle(t, e, "state")

		c2 := connectApp(t, e, "state")
		if got := backendPID(t, c2); got != pid {
			t.Fatalf("second client got backend %d, want the first's %d: the login was not reused", got, pid)
		}
		if c2.PgConn().PID() == key {
			t.Error("the second client got the first client's cancel key")
		}
		if got := c2.PgConn().ParameterStatus("DateStyle"); got != "ISO, MDY" {
			t.Errorf("DateStyle reported to the second client: %q, want the server's default", got)
		}
		if got := c2.PgConn().ParameterStatus("application_name"); got != app {
			t.Errorf("application_name reported to the second client: %q, want %q", got, app)
		}
		for sql, want := range map[string]string{
			"show DateStyle": "ISO, MDY", "show search_path": path, "show application_name": app, "show statement_timeout": "0",
			"select current_user::text": "app_user",
		} {
			if got := queryString(t, c2, sql); got != want {
				t.Errorf("%s: %q, want %q", sql, got, want)
			}
		}
		for _, sql := range []string{
			"select count(*) from pg_class where relname = 'scratch'",
			"select count(*) from pg_prepared_statements where name = 'p1'", // pgx prepares its own

			"select count(*) from pg_listening_channels()",
			"select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()",
			"select count(*) from pg_cursors where name = 'held'",
		} {
			if n := queryInt(t, c2, sql); n != 0 {
				t.Errorf("%s: %d, want 0: the first client's state carried over", sql, n)
			}
		}
		// The new cancel key reaches the reused session.
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(300*time.Millisecond, cancel)
		_, err := c2.Exec(cctx, "select pg_sleep(30)")
		var pgErr *pgconn.PgError
		if !(errors.As(err, &pgErr) && pgErr.Code == pgwire.CodeQueryCanceled) && !errors.Is(err, context.Canceled) {
			t.Errorf("cancel on a reused login: %v", err)
		}
	})

	t.Run("the last client's cancel key does not reach the next one", func(t *testing.T) {
		c1 := connectApp(t, e, "keys")
		pid := backendPID(t, c1)
		oldPID, oldKey := c1.PgConn().PID(), c1.PgConn().SecretKey()
		closeConn(t, c1)
		waitIdle(t, e, "keys")
		c2 := connectApp(t, e, "keys")
		if backendPID(t, c2) != pid {
			t.Fatal("not reused")
		}
		time.AfterFunc(200*time.Millisecond, func() {
			c, err := net.Dial("tcp", e.proxy.Addr().String())
			if err != nil {
				return
			}
			defer c.Close()
			pkt, _ := (&pgwire.CancelRequest{ProcessID: oldPID, SecretKey: oldKey}).AppendTo(nil)
			_, _ = c.Write(pkt)
			_, _ = c.Read(make([]byte, 1)) // the proxy closes it when done
		})
		if _, err := c2.Exec(ctx, "select pg_sleep(1)"); err != nil {
			t.Errorf("the first client's cancel key cancelled the second client's query: %v", err)
		}
	})

	t.Run("an open transaction is not reused, and is rolled back", func(t *testing.T) {
		c1 := connectApp(t, e, "tx")
		pid := backendPID(t, c1)
		if _, err := c1.Exec(ctx, "BEGIN; INSERT INTO items VALUES (1000, 'uncommitted')"); err != nil {
			t.Fatal(err)
		}
		closeConn(t, c1)
		c2 := connectApp(t, e, "tx")
		if got := backendPID(t, c2); got == pid {
			t.Fatal("a session left in a transaction was given to another client")
		}
		if n := queryInt(t, c2, "select count(*) from items where id = 1000"); n != 0 {
			t.Error("the unfinished transaction was committed")
		}
	})

	t.Run("another startup is not given the login", func(t *testing.T) {
		c1 := connectApp(t, e, "alpha")
		pid := backendPID(t, c1)
		closeConn(t, c1)
		waitIdle(t, e, "alpha")
		c2 := connectApp(t, e, "beta")
		if got := backendPID(t, c2); got == pid {
			t.Fatal("a login made for application_name=alpha was given to beta")
		}
		waitIdle(t, e, "alpha")
		c3 := connectApp(t, e, "alpha")
		if got := backendPID(t, c3); got != pid {
			t.Errorf("alpha's login was not reused by alpha (pid %d, want %d)", got, pid)
		}
	})

	t.Run("an idle login the server ended is not handed out", func(t *testing.T) {
		c1 := connectApp(t, e, "killed")
		pid := backendPID(t, c1)
		closeConn(t, c1)
		waitIdle(t, e, "killed")
		e.backend.Exec(t, fmt.Sprintf("select pg_terminate_backend(%d, 10000)", pid))
		waitIdleCount(t, e, "killed", 0) // the server's FATAL reached the proxy
		c2 := connectApp(t, e, "killed")
		if got := backendPID(t, c2); got == pid {
			t.Fatal("still the terminated backend")
		}
	})
}

// waitIdle waits until the proxy holds an idle login for app.
func waitIdle(t *testing.T, e *env, app string) {
	t.Helper()
	waitIdleCount(t, e, app, 1)
}

// waitIdleCount waits until the proxy holds n idle logins for app.
func waitIdleCount(t *testing.T, e *env, app string, n int) {
	t.Helper()
	got := -1
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		e.engine.reuse.mu.Lock()
		got = 0
		for k, ls := range e.engine.reuse.idle {
			if strings.Contains(k, app) {
				got += len(ls)
			}
		}
		e.engine.reuse.mu.Unlock()
		if got == n {
			return
		}
	}
	t.Fatalf("%d idle logins for %s, want %d", got, app, n)
}

func TestLoginsAreNotReusedByDefault(t *testing.T) {
	e := startEnv(t, envOptions{})
	c1 := connectApp(t, e, "default")
	pid := backendPID(t, c1)
	closeConn(t, c1)
	c2 := connectApp(t, e, "default")
	if backendPID(t, c2) == pid {
		t.Fatal("a login was reused without ReuseLogins")
	}
}

// serverSessions counts the server's sessions whose application_name
// has app in it (the proxy adds the AWS identity to the client's).
func serverSessions(t *testing.T, e *env, app string) int {
	t.Helper()
	c := e.backend.Conn(t, "postgres")
	defer c.Close(context.Background())
	return queryInt(t, c, fmt.Sprintf("select count(*) from pg_stat_activity where application_name like '%s%%'", app))
}

func waitServerSessions(t *testing.T, e *env, app string, n int) {
	t.Helper()
	got := -1
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = serverSessions(t, e, app); got == n {
			return
		}
	}
	t.Fatalf("%d server sessions for %s, want %d", got, app, n)
}

func TestReuseLimits(t *testing.T) {
	e := startEnv(t, envOptions{reuse: &ReuseConfig{MaxIdle: 1, IdleTimeout: 500 * time.Millisecond}})
	a, b := connectApp(t, e, "limits"), connectApp(t, e, "limits")
	backendPID(t, a)
	backendPID(t, b)
	closeConn(t, a)
	closeConn(t, b)
	waitIdle(t, e, "limits")
	waitServerSessions(t, e, "limits", 1) // MaxIdle: the second was closed
	waitIdleCount(t, e, "limits", 0)      // IdleTimeout
	waitServerSessions(t, e, "limits", 0)
	e.engine.reuse.mu.Lock()
	defer e.engine.reuse.mu.Unlock()
	if len(e.engine.reuse.idle) != 0 || len(e.engine.reuse.resetting) != 0 {
		t.Errorf("the pool keeps keys with nothing in them: %d idle, %d resetting", len(e.engine.reuse.idle), len(e.engine.reuse.resetting))
	}
}

func TestEngineCloseEndsIdleLogins(t *testing.T) {
	e := startEnv(t, envOptions{reuse: &ReuseConfig{}})
	c := connectApp(t, e, "closing")
	backendPID(t, c)
	closeConn(t, c)
	waitIdle(t, e, "closing")
	if err := e.engine.Close(); err != nil {
		t.Fatal(err)
	}
	waitServerSessions(t, e, "closing", 0)
	// A client after Close logs in anew and is not kept.
	c2 := connectApp(t, e, "closing")
	backendPID(t, c2)
	closeConn(t, c2)
	waitServerSessions(t, e, "closing", 0)
}
