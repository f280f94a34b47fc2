package dbserver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Options configure a server.
type Options struct {
	// BaseDir is where the server's directory is made; default a temp dir.
	BaseDir string
	// HBA lines go before PostgreSQL's defaults (socket trust, TCP scram).
	HBA []string
}

// PostgresAvailable reports whether PostgreSQL server binaries are installed.
func PostgresAvailable() bool {
	_, err := findBinary([]string{"initdb"}, "/usr/lib/postgresql/*/bin")
	return err == nil
}

// StartPostgres initdb's and starts a PostgreSQL server: trust on its unix
// socket, SCRAM over TCP on 127.0.0.1.
func StartPostgres(ctx context.Context, opts Options) (s *Server, err error) {
	initdb, err := findBinary([]string{"initdb"}, "/usr/lib/postgresql/*/bin")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w (apt-get install postgresql)", err)
	}
	postgres := filepath.Join(filepath.Dir(initdb), "postgres")
	acct, err := serverAccount("postgres")
	if err != nil {
		return nil, err
	}
	dir, err := makeDir(opts.BaseDir, "rdsgate-pg-")
	if err != nil {
		return nil, err
	}
	s = &Server{Engine: "postgres", Host: "127.0.0.1", AdminUser: "postgres", AdminPassword: randomHex(16),
		Dir: dir, Socket: filepath.Join(dir, "sock"), LogFile: filepath.Join(dir, "postgres.log")}
	defer func() {
		if err != nil {
			_ = s.Close()
			s = nil
		}
	}()
	data := filepath.Join(dir, "data")
	pwFile := filepath.Join(dir, "pw")
	for _, d := range []string{s.Socket, data} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return s, err
		}
	}
	if err := os.Chmod(s.Socket, 0o755); err != nil {
		return s, err
	}
	if err := os.WriteFile(pwFile, []byte(s.AdminPassword+"\n"), 0o600); err != nil {
		return s, err
	}
	if err := acct.chown(s.Socket, data, pwFile); err != nil {
		return s, err
	}
	if err := run(ctx, acct, dir, initdb, "-D", data, "--username=postgres", "--pwfile="+pwFile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		return s, err
	}
	_ = os.Remove(pwFile)
	if s.Port, err = freePort(); err != nil {
		return s, err
	}
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = off\nsynchronous_commit = off\n"+
		"full_page_writes = off\nshared_buffers = '32MB'\nmax_connections = 200\npassword_encryption = 'scram-sha-256'\n", s.Socket)
	if err := appendFile(filepath.Join(data, "postgresql.conf"), conf); err != nil {
		return s, err
	}
	hba := append(append([]string{}, opts.HBA...), "local all all trust", "host all all 127.0.0.1/32 scram-sha-256")
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(strings.Join(hba, "\n")+"\n"), 0o600); err != nil {
		return s, err
	}
	if err := acct.chown(filepath.Join(data, "pg_hba.conf")); err != nil {
		return s, err
	}
	err = s.start(ctx, acct, func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, s.AdminDSN("postgres"))
		if err != nil {
			return err
		}
		return c.Close(ctx)
	}, postgres, "-D", data, "-p", strconv.Itoa(s.Port))
	return s, err
}

// AdminDSN is a keyword/value DSN for the superuser over the unix socket.
func (s *Server) AdminDSN(db string) string {
	if s.Engine == "mariadb" {
		return fmt.Sprintf("root:%s@unix(%s)/%s?multiStatements=true", s.AdminPassword, s.Socket, db)
	}
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable connect_timeout=10", s.Socket, s.Port, s.AdminUser, db)
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
