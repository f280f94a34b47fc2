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
