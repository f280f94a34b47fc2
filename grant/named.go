package grant

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rdsgate/rdsgate/setting"
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
	if !a.Until.IsZero() {
		desc += " until " + a.Until.UTC().Format(time.RFC3339)
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

// PolicyRequest is what a policy is asked for: access for one database
// user on one database (Targets has one name), or with DenyDelete the
// deletion guard for several.
type PolicyRequest struct {
	// Targets are the databases as the user named them.
	Targets    []string
	DBUser     string
	Via        string // "", "direct" or "ssm": ssm adds Session Manager's statements
	Bastion    string // the ssm route's bastion instance
	DenyDelete bool
	BreakGlass []string  // principals the guard still lets modify
	Until      time.Time // access ends then (zero: it does not)
}

// Check says what is wrong with r before anything is looked up.
func (r PolicyRequest) Check() error {
	if r.DenyDelete {
		if r.DBUser != "" || r.Via != "" || r.Bastion != "" || !r.Until.IsZero() {
			return setting.Errorf("%s takes only the databases (with %s)", setting.DenyDelete, setting.BreakGlass)
		}
		return nil
	}
	switch {
	case len(r.Targets) != 1:
		return setting.Errorf("an access policy is for one database (%s takes several)", setting.DenyDelete)
	case r.DBUser == "":
		return setting.Errorf("name the database user with %s: the policy allows signing in as that user only", setting.User.Is("DBUSER"))
	case len(r.BreakGlass) > 0:
		return setting.Errorf("%s goes with %s", setting.BreakGlass, setting.DenyDelete)
	}
	switch r.Via {
	case "", "direct":
		if r.Bastion != "" {
			return setting.Errorf("%s goes with %s", setting.Bastion, setting.Via.Is("ssm"))
		}
	case "ssm": // the bastion may be found later (Build needs it)
	default:
		return setting.Errorf("%s: the policy knows direct and ssm (ssh needs no IAM statements beyond rds-db:connect)", setting.Via.Is(r.Via))
	}
	return nil
}

// Build is the policy r asks for, given its databases as found (in the
// order of Targets), each with its account.
func (r PolicyRequest) Build(dbs []Guarded) (Named, error) {
	if r.DenyDelete {
		return DenyDelete(r.Targets, dbs, r.BreakGlass)
	}
	bastion := ""
	if r.Via == "ssm" {
		if bastion = r.Bastion; bastion == "" {
			return Named{}, setting.Errorf("%s needs %s: the policy names the bastion sessions may start on", setting.Via.Is("ssm"), setting.Bastion.Is("INSTANCE-ID"))
		}
	}
	return AccessPolicy(Access{Target: dbs[0].Target, Account: dbs[0].Account, DBUser: r.DBUser, Bastion: bastion, Until: r.Until})
}
