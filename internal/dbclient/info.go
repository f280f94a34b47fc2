package dbclient

import (
	"cmp"
	"fmt"
	"io"
	"net"
	"path/filepath"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/target"
)

// Listener is a local end of a path that clients connect to.
type Listener struct {
	Path *dbpath.Path
	Addr *net.TCPAddr
	// Socket is the unix socket beside Addr, if any.
	Socket string
	// LocalTLS: the local leg offers TLS (a local certificate); else it
	// declines it.
	LocalTLS bool
}

// WriteInfo writes ready-to-paste connection details for l: the path in
// one line, then the client command, URL and JDBC URL, and the settings
// for GUI tools.
func WriteInfo(w io.Writer, l Listener) {
	p := l.Path
	user := cmp.Or(p.Spec.User, "DBUSER")
	db := p.Spec.Database
	host, port := l.Addr.IP.String(), l.Addr.Port
	login := "as " + p.Identity.ARN
	if p.Password != nil {
		login = "with the password from " + p.Password.Describe()
	}
	fmt.Fprintf(w, "%s (%s) on %s -> %s via %s, %s\n", p.Spec.Name, p.Target.Engine, l.Addr, p.Target.Address(), p.Route.Via, login)
	pgSSL, mySSL := "disable", "DISABLED"
	if l.LocalTLS {
		pgSSL, mySSL = "require", "REQUIRED"
	}
	if p.Target.Family() == target.FamilyPostgres {
		dbPart := cmp.Or(db, "postgres")
		fmt.Fprintf(w, "  psql \"host=%s port=%d user=%s dbname=%s\"\n", host, port, user, dbPart)
		fmt.Fprintf(w, "  URL:  postgres://%s@%s:%d/%s?sslmode=%s\n", user, host, port, dbPart, pgSSL)
		fmt.Fprintf(w, "  JDBC: jdbc:postgresql://%s:%d/%s?user=%s&sslmode=%s\n", host, port, dbPart, user, pgSSL)
		if l.Socket != "" {
			fmt.Fprintf(w, "  socket: psql \"host=%s port=%d user=%s dbname=%s\"\n", filepath.Dir(l.Socket), port, user, dbPart)
		}
	} else {
		dbArg := ""
		if db != "" {
			dbArg = " " + db
		}
		fmt.Fprintf(w, "  mysql -h %s -P %d -u %s%s\n", host, port, user, dbArg)
		fmt.Fprintf(w, "  JDBC: jdbc:mysql://%s:%d/%s?user=%s&sslMode=%s\n", host, port, db, user, mySSL)
		if l.Socket != "" {
			fmt.Fprintf(w, "  socket: mysql -S %s -u %s%s\n", l.Socket, user, dbArg)
		}
	}
	ssl := "SSL off (rdsgate does verify-full TLS upstream)"
	if l.LocalTLS {
		ssl = "SSL on or off (a local certificate is set; rdsgate does verify-full TLS upstream)"
	}
	fmt.Fprintf(w, "  GUI tools (DBeaver, DataGrip, TablePlus, ...): host %s, port %d, user %s, no password, %s\n", host, port, user, ssl)
}

// WriteTunnelRecipe prints how a client uses a tunnel on 127.0.0.1:port:
// TLS verified for the real endpoint (not 127.0.0.1), and the password
// from tokenCmd(user), the command that prints a token for the user.
func WriteTunnelRecipe(w io.Writer, p *dbpath.Path, port int, tokenCmd func(user string) string) {
	t, user := p.Target, cmp.Or(p.Spec.User, "DBUSER")
	ca := "RDS_CA_BUNDLE.pem"
	if p.Bundle != nil && p.Bundle.Path != "" {
		ca = p.Bundle.Path
	}
	token := `"$(` + tokenCmd(user) + `)"`
	if t.Family() == target.FamilyPostgres {
		fmt.Fprintf(w, "  PGPASSWORD=%s psql \"host=%s hostaddr=127.0.0.1 port=%d user=%s dbname=%s sslmode=verify-full sslrootcert=%s\"\n",
			token, t.Host, port, user, cmp.Or(p.Spec.Database, "postgres"), ca)
		return
	}
	fmt.Fprintf(w, "  mysql -h 127.0.0.1 -P %d -u %s --ssl-mode=VERIFY_CA --ssl-ca=%s --enable-cleartext-plugin --password=%s\n", port, user, ca, token)
	fmt.Fprintf(w, "  (mysql cannot check the name %s through 127.0.0.1; rdsgate proxy can)\n", t.Host)
}
