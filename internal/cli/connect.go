package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/internal/cmdline"
	"github.com/rdsgate/rdsgate/internal/dbclient"
	"github.com/rdsgate/rdsgate/internal/queryout"
	"github.com/rdsgate/rdsgate/stage"
)

type connectFlags struct {
	route         routeFlags
	client        string
	exec          string
	print         bool
	port          int
	sessionLog    []string
	logStatements bool
}

func (a *app) newConnect() *cobra.Command {
	var f connectFlags
	cmd := &cobra.Command{
		Use:   "connect TARGET [-- CLIENT-ARGS...]",
		Short: "Open a psql or mysql prompt on a private database, in one command",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			extra := args[1:]
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				if dash != 1 {
					return cmdline.Usagef("give one TARGET before --")
				}
			} else if len(extra) > 0 {
				return cmdline.Usagef("unexpected arguments %q: put client arguments after --", extra)
			}
			return a.runConnect(cmd.Context(), args[0], extra, f)
		},
	}
	fl := cmd.Flags()
	f.route.register(fl, 1)
	fl.StringVar(&f.client, "client", "", "client to run: psql, pgcli, mysql, mariadb or mycli (default: the first installed for the engine)")
	fl.StringVar(&f.exec, "exec", "", "run this SQL statement and print the result instead of starting a client")
	fl.BoolVar(&f.print, "print", false, "keep the path up on a local TCP port and print connection details until Ctrl-C")
	fl.IntVar(&f.port, "port", 0, "local port for --print (default: the target's local_port, else any free port)")
	fl.StringSliceVar(&f.sessionLog, "session-log", nil, "write session records as JSON lines to FILE, - (stderr), stdout, or cloudwatch:GROUP[/STREAM] (CloudWatch Logs; stream per host and day by default; kept in a local spool while Logs is down); comma-separated or repeated")
	fl.BoolVar(&f.logStatements, "log-statements", false, "record each statement in the session log")
	return cmd
}

func (a *app) runConnect(ctx context.Context, name string, extra []string, f connectFlags) error {
	if err := dbclient.Check(f.client); err != nil {
		return err
	}
	p, err := a.openPath(ctx, name, f.route)
	if err != nil {
		return err
	}
	defer p.Close()
	var client, bin string
	if f.exec == "" && !f.print {
		var missing *dbclient.NotFoundError // a client of the engine, before the login
		if client, bin, err = dbclient.Pick(p.Target.Family(), f.client); errors.As(err, &missing) {
			return stage.Wrap(stage.Client, fmt.Errorf("%w; or use --exec or --print, which need no client", err))
		} else if err != nil {
			return err
		}
	}
	rec, err := a.sessionRecorder(ctx, f.sessionLog)
	if err != nil {
		return err
	}
	defer closeRecorder(rec)
	// A unix socket in a private directory, so that no other local user
	// can use the path while it is up; --print: a TCP port for GUI tools.
	local, err := p.Serve(ctx, dbpath.LocalOptions{TCP: f.print, TCPPort: f.port, Recorder: rec, CaptureStatements: f.logStatements, Log: a.log})
	if err != nil {
		return err
	}
	defer local.Close()
	user := p.Spec.User
	if user == "" {
		return cmdline.Usagef("no database user: pass --user, or set user: for %s in the config file", name)
	}

	// Log in once before handing over, so that a refused login is explained
	// here rather than as a client's terse error.
	db, err := local.Login(ctx, user, p.Spec.Database)
	if err != nil {
		return err
	}
	defer db.Close()

	switch {
	case f.exec != "":
		return queryout.Print(ctx, db, f.exec, a.g.output, a.stdout, a.stderr)
	case f.print:
		db.Close() // hold no upstream session while nobody uses it
		dbclient.WriteInfo(a.stdout, dbclient.Listener{Path: p, Addr: local.Addr()})
		fmt.Fprintln(a.stderr, "Path is up; press Ctrl-C to close it.")
		<-ctx.Done()
		return nil
	}
	db.Close()
	return a.runClient(ctx, p, local, client, bin, user, extra)
}

// runClient starts the database client bin on the local socket with the
// terminal, and returns its exit status.
func (a *app) runClient(ctx context.Context, p *dbpath.Path, local *dbpath.Local, name, bin, user string, extra []string) error {
	args := append(dbclient.Args(name, local.Socket(), user, p.Spec.Database), extra...)
	a.log.Debug("starting client", "client", bin, "args", strings.Join(args, " "))
	// Ctrl-C is the client's while it runs (psql cancels its query).
	a.sig.PassInterrupt(true)
	defer a.sig.PassInterrupt(false)
	code, err := dbclient.Run{Bin: bin, Args: args, Env: dbclient.Env(os.Environ(), p.Spec.Auth.PasswordEnv),
		Stdin: a.stdin, Stdout: a.stdout, Stderr: a.stderr}.Start(ctx)
	if err == nil && code != 0 {
		return exitError{code: code}
	}
	return err
}
