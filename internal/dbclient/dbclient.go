// Package dbclient runs the database command-line clients (psql, pgcli,
// mysql, mariadb, mycli) on a local path, with an environment that holds
// no secret, and writes the connection details that GUI tools and
// programs need.
package dbclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/suggest"
	"github.com/rdsgate/rdsgate/target"
)

// Names lists the clients of each engine family, in order of preference.
var Names = map[target.Family][]string{
	target.FamilyPostgres: {"psql", "pgcli"},
	target.FamilyMySQL:    {"mysql", "mariadb", "mycli"},
}

// WrongFamilyError is a client asked for that does not speak the engine.
type WrongFamilyError struct {
	Client string
	Family target.Family
}

func (e *WrongFamilyError) text() setting.Text {
	return setting.Textf("%s does not speak %s: use one of %s", setting.Client.Is(e.Client), e.Family, strings.Join(Names[e.Family], ", "))
}

func (e *WrongFamilyError) Error() string { return e.text().String() }

// Render spells the client setting in s (a command line's --client).
func (e *WrongFamilyError) Render(s setting.Style) string { return e.text().Render(s) }

// Unwrap marks the error as a mistake in the settings given.
func (e *WrongFamilyError) Unwrap() error { return setting.ErrInvalid }

// Check refuses a client name rdsgate cannot run ("" is none asked for),
// naming the nearest one.
func Check(name string) error {
	all := slices.Concat(Names[target.FamilyPostgres], Names[target.FamilyMySQL])
	if name == "" || slices.Contains(all, name) {
		return nil
	}
	if s, ok := suggest.Closest(name, all); ok {
		return setting.Invalidf("%s: did you mean %s? (%s)", setting.Client.Is(strconv.Quote(name)), s, strings.Join(all, ", "))
	}
	return setting.Invalidf("%s: use one of %s", setting.Client.Is(strconv.Quote(name)), strings.Join(all, ", "))
}

// Install says how to install each client.
var Install = map[string]string{
	"psql":    "apt-get install postgresql-client (macOS: brew install libpq)",
	"pgcli":   "pipx install pgcli (or apt-get install pgcli)",
	"mysql":   "apt-get install default-mysql-client (macOS: brew install mysql-client)",
	"mariadb": "apt-get install mariadb-client (macOS: brew install mariadb)",
	"mycli":   "pipx install mycli (or apt-get install mycli)",
}

// NotFoundError is no client of the family installed (Looked: the ones
// looked for, one when a client was asked for by name).
type NotFoundError struct {
	Family target.Family
	Looked []string
}

func (e *NotFoundError) Error() string {
	if len(e.Looked) == 1 {
		return fmt.Sprintf("%s is not installed: %s", e.Looked[0], Install[e.Looked[0]])
	}
	return fmt.Sprintf("no %s client found (looked for %s): install %s: %s", e.Family, strings.Join(e.Looked, ", "), e.Looked[0], Install[e.Looked[0]])
}

// Pick finds the client to run for fam: want if set (it must speak fam),
// else the first one installed. It returns the name and the binary's path.
func Pick(fam target.Family, want string) (name, bin string, err error) {
	names := Names[fam]
	if want != "" {
		ok := false
		for _, n := range names {
			ok = ok || n == want
		}
		if !ok {
			return "", "", &WrongFamilyError{Client: want, Family: fam}
		}
		names = []string{want}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return n, p, nil
		}
	}
	return "", "", &NotFoundError{Family: fam, Looked: names}
}

// Args are the command-line arguments that point client name at a unix
// socket, as user, on database db (none: the client's default).
func Args(name, socket, user, db string) []string {
	var args []string
	switch name {
	case "psql", "pgcli":
		// libpq takes the socket's directory and port: .s.PGSQL.5432.
		args = []string{"-h", filepath.Dir(socket), "-p", strconv.Itoa(target.DefaultPort("postgres")), "-U", user}
		if db != "" {
			args = append(args, "-d", db)
		}
	case "mysql", "mariadb":
		args = []string{"--socket=" + socket, "--user=" + user}
		if db != "" {
			args = append(args, "--database="+db)
		}
	case "mycli":
		args = []string{"-S", socket, "-u", user}
		if db != "" {
			args = append(args, "-D", db)
		}
	}
	return args
}

// Env removes from env the variables that would make a client use another
// server, a password or TLS settings meant for somewhere else, and every
// secret: a client's environment is readable in /proc by whatever it runs
// (psql's \!, a pager, an editor). secretVars are more names to drop, such
// as a target's password_env.
func Env(env []string, secretVars ...string) []string {
	drop := map[string]bool{}
	for _, k := range append([]string{"PGPASSWORD", "PGPASSFILE", "PGHOST", "PGHOSTADDR", "PGPORT", "PGSSLMODE", "PGSERVICE",
		"MYSQL_PWD", "MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_UNIX_PORT",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_SSM_START_SESSION_RESPONSE"}, secretVars...) {
		drop[k] = true
	}
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	return out
}

// Run is one client run with the user's terminal.
type Run struct {
	Bin  string
	Args []string
	// Env is the client's whole environment (see Env).
	Env            []string
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Grace is how long the client has to exit after an interrupt when ctx
	// ends, before it is killed (default 5 s).
	Grace time.Duration
}

// Start runs the client and waits for it. When ctx ends first (SIGTERM to
// rdsgate), the client gets an interrupt, then a kill after Grace. It
// returns the client's exit code, or an error when it could not run.
func (r Run) Start(ctx context.Context) (int, error) {
	cmd := exec.Command(r.Bin, r.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.Stdin, r.Stdout, r.Stderr
	cmd.Env = r.Env
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", filepath.Base(r.Bin), err)
	}
	grace := r.Grace
	if grace == 0 {
		grace = 5 * time.Second
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	var err error
	select {
	case err = <-waitErr:
	case <-ctx.Done():
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err = <-waitErr:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			err = <-waitErr
		}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	return 0, err
}
