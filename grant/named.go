package grant

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// AccessPolicy is Policy(a), named and described for deployment:
// rdsgate-IDENTIFIER-DBUSER.
func AccessPolicy(a Access) (Named, error) {
	doc, err := Policy(a)
	if err != nil {
		return Named{}, err
	}
	desc := fmt.Sprintf("rdsgate: sign in to %s as database user %s", a.Target.Identifier, a.DBUser)
	if a.Bastion != "" {
		desc += " through Session Manager bastion " + a.Bastion
	}
	return Named{Name: PolicyName(a.Target.Identifier, a.DBUser), Description: desc, Doc: doc}, nil
}

// DenyDelete is DenyDeletePolicy(dbs, exempt), named and described for
// deployment after names, the databases as the user called them.
func DenyDelete(names []string, dbs []Guarded, exempt []string) (Named, error) {
	doc, err := DenyDeletePolicy(dbs, exempt)
	if err != nil {
		return Named{}, err
	}
	return Named{Name: PolicyName(append([]string{"deny-delete"}, names...)...),
		Description: "rdsgate deletion guard for " + strings.Join(names, ", "), Doc: doc}, nil
}

// WriteUsers writes us as a table for people; database is the one the
// access levels are about ("": every database). VIA says where the access
// comes from: rdsgate's group roles, or the user's own grants.
func WriteUsers(w io.Writer, us []User, database string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tAUTH\tTLS REQUIRED\tACCESS ("+cmp.Or(database, "all databases")+")\tVIA\tFLAGS")
	for _, u := range us {
		n := u.Name
		if u.Host != "" {
			n += "@" + u.Host
		}
		via := strings.Join(u.Roles, ", ")
		switch {
		case u.Profile == "admin":
			via = "administrative privileges"
		case via == "" && u.Profile != "none":
			via = "own grants"
		case via == "":
			via = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n, u.Auth, u.RequiresTLS, u.Profile, via, strings.Join(u.Flags, "; "))
	}
	return tw.Flush()
}
