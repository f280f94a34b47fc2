//go:build linux

package dbserver

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rdsgate/rdsgate/internal/testpeer"
)

// The servers are private to the user who runs them: another local user
// (nobody) cannot reach the unix socket even with the password, and over
// TCP gets nowhere without it. A control login proves the probe works.

// marker is what a probe query prints when it got in.
const marker = "in-as-"

// asNobody runs name as the OS user nobody (setpriv, no supplementary
// groups) with a small environment plus env, and returns what it printed.
func asNobody(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	setpriv := testpeer.LookPath(t, "apt-get install util-linux (setpriv)", "setpriv")
	cmd := exec.Command(setpriv, append([]string{"--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", name}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/nonexistent", "LC_ALL=C"}, env...)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// needRoot skips (fails with RDSGATE_REQUIRE_PEERS=1) unless the test can
// act as a second local user.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testpeer.Missing(t, "root (to act as a second local user)", "run the test as root, as CI does")
	}
}

// checkPrivateFiles checks that the server's directories are 0700, the
// socket is not open to others, and no file holds the password.
func checkPrivateFiles(t *testing.T, s *Server, socket string, dirs ...string) {
	t.Helper()
	for _, d := range append([]string{s.Dir}, dirs...) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %v, want 0700", d, st.Mode().Perm())
		}
	}
	st, err := os.Stat(socket)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("socket %s has mode %v: open to group or others", socket, st.Mode().Perm())
	}
	_ = filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(s.AdminPassword)) {
			t.Errorf("%s holds the admin password", p)
		}
		return nil
	})
}

// refused fails the test when a probe got in.
func refused(t *testing.T, what, out string, err error) {
	t.Helper()
	if err == nil || strings.Contains(out, marker) {
		t.Errorf("%s: nobody got in (err %v):\n%s", what, err, out)
	} else {
		t.Logf("%s: refused as it should be: %s", what, strings.TrimSpace(out))
	}
}

func TestPostgresPrivateToOwner(t *testing.T) {
	needRoot(t)
	if !PostgresAvailable() {
		testpeer.Missing(t, "postgresql", "apt-get install postgresql")
	}
	// TrustLocal as the sandbox runs it: its front logs IAM users in over
	// the socket.
	s, err := StartPostgres(context.Background(), Options{TrustLocal: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := pgx.Connect(context.Background(), s.AdminDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Exec(context.Background(), "CREATE ROLE someone LOGIN")
	c.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	psql := filepath.Join(s.BinDir, "psql")
	if !isExecutable(psql) {
		psql = testpeer.LookPath(t, "apt-get install postgresql-client", "psql")
	}
	port := strconv.Itoa(s.Port)
	query := "SELECT '" + marker + "' || current_user"
	probe := func(host, user, password string) (string, error) {
		env := []string{"PGCONNECT_TIMEOUT=10"}
		if password != "" {
			env = append(env, "PGPASSWORD="+password)
		}
		return asNobody(t, env, psql, "-X", "-w", "-At", "-h", host, "-p", port, "-U", user, "-d", "postgres", "-c", query)
	}

	// Control: with the password, nobody's psql gets in over TCP.
	if out, err := probe("127.0.0.1", s.AdminUser, s.AdminPassword); err != nil || !strings.Contains(out, marker) {
		t.Fatalf("control login over TCP with the password failed (err %v):\n%s", err, out)
	}
	out, err := probe(s.Socket, s.AdminUser, s.AdminPassword)
	refused(t, "socket, superuser with its password", out, err)
	out, err = probe(s.Socket, s.AdminUser, "")
	refused(t, "socket, superuser without a password", out, err)
	out, err = probe(s.Socket, "someone", "")
	refused(t, "socket, a trusted role", out, err)
	out, err = probe("127.0.0.1", s.AdminUser, "")
	refused(t, "TCP, superuser without a password", out, err)
	out, err = probe("127.0.0.1", s.AdminUser, "wrong")
	refused(t, "TCP, superuser with a wrong password", out, err)

	checkPrivateFiles(t, s, filepath.Join(s.Socket, ".s.PGSQL."+port), s.Socket, s.DataDir)
}

func TestMariaDBPrivateToOwner(t *testing.T) {
	needRoot(t)
	s := startMariaDB(t)
	client := testpeer.LookPath(t, "apt-get install mariadb-client", "mariadb", "mysql")
	query := "SELECT CONCAT('" + marker + "', CURRENT_USER())"
	probe := func(tcp bool, password string) (string, error) {
		var env []string
		if password != "" {
			env = append(env, "MYSQL_PWD="+password)
		}
		args := []string{"--no-defaults", "--connect-timeout=10", "-u", s.AdminUser, "-N", "-B", "-e", query}
		if tcp {
			args = append(args, "--protocol=tcp", "-h", s.Host, "-P", strconv.Itoa(s.Port))
		} else {
			args = append(args, "--protocol=socket", "-S", s.Socket)
		}
		return asNobody(t, env, client, args...)
	}

	if out, err := probe(true, s.AdminPassword); err != nil || !strings.Contains(out, marker) {
		t.Fatalf("control login over TCP with the password failed (err %v):\n%s", err, out)
	}
	out, err := probe(false, s.AdminPassword)
	refused(t, "socket, root with its password", out, err)
	out, err = probe(false, "")
	refused(t, "socket, root without a password", out, err)
	out, err = probe(true, "")
	refused(t, "TCP, root without a password", out, err)
	out, err = probe(true, "wrong")
	refused(t, "TCP, root with a wrong password", out, err)

	checkPrivateFiles(t, s, s.Socket, filepath.Dir(s.Socket), s.DataDir)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
