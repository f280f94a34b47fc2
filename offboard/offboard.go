// Package offboard takes a person's access away everywhere rdsgate gave
// it: their database user on each target (grant's revoke: privileges,
// group role memberships, the user itself) and the inline IAM policy
// rdsgate put on their principal for each target (rdsgate-TARGET-DBUSER).
// It plans first and applies only when asked, target by target: one that
// fails (a user that still owns objects, a route down) is reported and
// does not stop the others.
package offboard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/grant"
)

// Config says whose access goes, where, and how to reach each database.
type Config struct {
	// DBUser is the person's database user.
	DBUser string
	// Targets are the databases (config names or identifiers).
	Targets []string
	// Principal is the person's IAM principal (role/NAME, user/NAME or
	// group/NAME) whose rdsgate policies go too; "" leaves IAM alone.
	Principal string
	// Open opens the path to a target (dbpath.Open with the caller's
	// options); Admin logs in on it as the administrative user.
	Open  func(ctx context.Context, name string) (*dbpath.Path, error)
	Admin func(ctx context.Context, p *dbpath.Path, database string) (*sql.DB, error)
}

// Step is one target's part.
type Step struct {
	Target string
	// Plan is the revoke; Policy the inline policy to take off (with a
	// Principal).
	Plan   *grant.Plan
	Policy *grant.Attachment
	// Done is what Apply did to the database; PolicyGone whether the
	// policy was taken off (false: it was not there, or not asked).
	Done       grant.Result
	PolicyGone bool
	// Err is why the step was not done (or not planned).
	Err error
	p   *dbpath.Path
}

// Report is every step, planned or applied.
type Report struct {
	DBUser  string
	Steps   []*Step
	Applied bool
}

// Plan opens each target and plans the revoke and the policy's removal.
// The paths stay open for Apply; Close closes them.
func Plan(ctx context.Context, c Config) *Report {
	r := &Report{DBUser: c.DBUser}
	for _, name := range c.Targets {
		st := &Step{Target: name}
		r.Steps = append(r.Steps, st)
		if st.p, st.Err = c.Open(ctx, name); st.Err != nil {
			continue
		}
		st.Plan, st.Err = grant.RevokePlan(grant.SpecFor(st.p.Target, c.DBUser, st.p.Spec.Database))
		if c.Principal != "" && st.Err == nil {
			st.Policy = &grant.Attachment{Principal: c.Principal, Remove: true, Policy: grant.Named{Name: grant.PolicyName(st.p.Target.Identifier, c.DBUser)}}
		}
	}
	return r
}

// Apply carries out every planned step: the revoke as the administrative
// user, then the policy's removal (a policy that is not there is no
// failure). It returns an error when any step failed; each step says why.
func (r *Report) Apply(ctx context.Context, c Config) error {
	r.Applied = true
	var failed []error
	for _, st := range r.Steps {
		if st.Err == nil {
			st.Err = st.apply(ctx, c)
		}
		if st.Err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", st.Target, st.Err))
		}
	}
	return errors.Join(failed...)
}

func (st *Step) apply(ctx context.Context, c Config) error {
	db, err := c.Admin(ctx, st.p, st.Plan.Spec.Database)
	if err != nil {
		return err
	}
	defer db.Close()
	if st.Done, err = st.Plan.Apply(ctx, db); err != nil {
		return err
	}
	if st.Policy == nil {
		return nil
	}
	err = st.Policy.Apply(ctx, st.p.AWS) // IAM with the path's AWS configuration
	if grant.NotAttached(err) {
		return nil
	}
	st.PolicyGone = err == nil
	return err
}

// Close closes the paths Plan opened.
func (r *Report) Close() error {
	for _, st := range r.Steps {
		st.p.Close()
	}
	return nil
}

// WriteText prints one line per target: the plan, or what was done, and
// why a step failed (with what to do, e.g. the REASSIGN OWNED to run).
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tDATABASE USER\tIAM POLICY\tRESULT")
	for _, st := range r.Steps {
		policy := "-"
		if st.Policy != nil {
			policy = st.Policy.Policy.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", st.Target, r.DBUser, policy, st.result(r.Applied))
	}
	return tw.Flush()
}

func (st *Step) result(applied bool) string {
	switch {
	case st.Err != nil:
		return "FAILED: " + st.Err.Error()
	case !applied:
		return fmt.Sprintf("to do: revoke (%d statements)", len(st.Plan.Steps))
	case !st.Done.Changed() && !st.PolicyGone:
		return "nothing to do: no access left"
	}
	s := fmt.Sprintf("revoked (%d statements)", len(st.Done.Executed))
	if st.PolicyGone {
		s += ", policy taken off"
	}
	return s
}
