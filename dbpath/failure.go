package dbpath

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rdsgate/rdsgate/grant"
	"github.com/rdsgate/rdsgate/iamsim"
	"github.com/rdsgate/rdsgate/mysqlwire"
	"github.com/rdsgate/rdsgate/pgwire"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/rdsca"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/stage"
	"github.com/rdsgate/rdsgate/target"
)

// IAMAuthDisabledError is a target that refuses IAM logins, for a path
// that has no password source: no login can work, so none is tried.
type IAMAuthDisabledError struct{ Target target.Target }

func (e *IAMAuthDisabledError) Error() string {
	return fmt.Sprintf("IAM database authentication is disabled on %s, so it refuses every IAM token: turn it on with `%s` (or log in with a password: auth: password and a password source)",
		e.Target.Identifier, e.Target.EnableIAMAuthCommand())
}

// CheckLogin says, before any login, whether one can work: a target with
// IAM authentication disabled refuses tokens, so without a password source
// it is an IAMAuthDisabledError (target stage).
func (p *Path) CheckLogin() error {
	if !p.Target.IAMAuth && p.Password == nil {
		return stage.WrapTarget(stage.Target, p.Spec.Name, &IAMAuthDisabledError{Target: p.Target})
	}
	return nil
}

// Failures keeps a proxy's latest session failures (give Put to
// proxy.Options.Failed), so that a login check reports the proxy's own
// error, with its stage, rather than what the driver made of it.
type Failures struct{ ch chan error }

// NewFailures returns an empty Failures.
func NewFailures() *Failures { return &Failures{ch: make(chan error, 8)} }

// Put keeps err; when full, the newest are dropped (the first failure is
// the one a check reports).
func (f *Failures) Put(err error) {
	select {
	case f.ch <- err:
	default:
	}
}

// drain forgets what came before a check.
func (f *Failures) drain() {
	for {
		select {
		case <-f.ch:
		default:
			return
		}
	}
}

// wait returns the next failure, or nil after d.
func (f *Failures) wait(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-f.ch:
		return err
	case <-t.C:
		return nil
	}
}

// LoginVia opens a database/sql handle on a proxy of p at network/address
// (one served with proxy.Options.Failed = failures.Put) and logs in once.
// A failure comes back as the proxy saw it, with its stage, and a refused
// login with its cause when IAM's policy simulator can tell.
func (p *Path) LoginVia(ctx context.Context, network, address, user, db string, failures *Failures) (*sql.DB, error) {
	if err := p.CheckLogin(); err != nil {
		return nil, err
	}
	if failures != nil {
		failures.drain()
	}
	h, err := OpenLocalDB(p.Target, network, address, user, db)
	if err != nil {
		return nil, err
	}
	err = h.PingContext(ctx)
	if err == nil {
		return h, nil
	}
	h.Close()
	if failures != nil {
		// The proxy tells its client first, then hands the error over.
		if perr := failures.wait(5 * time.Second); perr != nil {
			if rdsca.ServerCertExpired(perr) {
				perr = fmt.Errorf("%w: give the server a new certificate: %s", perr, p.Target.RotateCertificateCommand())
			}
			return nil, p.explainRefusal(ctx, user, stage.WrapTarget(stage.Login, p.Spec.Name, perr))
		}
	}
	return nil, stage.WrapTarget(stage.Login, p.Spec.Name, LoginError(p.Target.Identifier, user, err))
}

// explainRefusal adds the cause to an IAM login the server refused: the
// caller's policy (asked of IAM's policy simulator, one call), else the
// user not being granted IAM authentication.
func (p *Path) explainRefusal(ctx context.Context, user string, err error) error {
	if stage.Of(err) != stage.Login || p.Password != nil || !refused(err) {
		return err
	}
	t := p.Target
	what := fmt.Sprintf("log in to %s as %s: refused", t.Identifier, user)
	if errors.Is(err, proxy.ErrNotIAMUser) || sqlRefusalSaysPassword(err) {
		return stage.WrapTarget(stage.Login, p.Spec.Name, setting.Errorf("%s: the server asked for a password, so %s is not an IAM user: as an admin, GRANT rds_iam TO %s (PostgreSQL) or create it IDENTIFIED WITH AWSAuthenticationPlugin (MySQL); rdsgate grant %s %s prints the SQL",
			what, user, user, p.Spec.Name, user))
	}
	resource := fmt.Sprintf("arn:%s:rds-db:%s:%s:dbuser:%s/%s", grant.Partition(t.Region), t.Region, p.Identity.Account, t.ResourceID, user)
	d, serr := iamsim.Allowed(ctx, p.AWS, p.Identity.ARN, "rds-db:connect", resource)
	switch {
	case serr != nil:
		return stage.WrapTarget(stage.Login, p.Spec.Name, stage.Hidef(err, "%s: check that %s may rds-db:connect on %s, and that %s is granted IAM authentication (GRANT rds_iam TO %s on PostgreSQL)",
			what, p.Identity.ARN, resource, user, user))
	case !d.Allowed:
		return stage.WrapTarget(stage.Login, p.Spec.Name, setting.Errorf("%s: your IAM identity %s may not rds-db:connect on %s (%s): attach the policy that rdsgate policy %s %s prints",
			what, d.Principal, resource, d.Reason, p.Spec.Name, setting.User.Is(user)))
	}
	return stage.WrapTarget(stage.Login, p.Spec.Name, stage.Hidef(err, "%s although your IAM policy allows rds-db:connect as %s: the user is not granted IAM authentication (as an admin: GRANT rds_iam TO %s on PostgreSQL; rdsgate grant %s %s prints the SQL)",
		what, user, user, p.Spec.Name, user))
}

// refused reports whether err is the server refusing the login.
func refused(err error) bool {
	var pe *pgwire.Error
	if errors.As(err, &pe) {
		return pe.Code == pgwire.CodeInvalidAuthorization || pe.Code == pgwire.CodeInvalidPassword
	}
	var me *mysqlwire.ErrPacket
	return errors.As(err, &me) && me.Code == mysqlwire.ErAccessDenied
}

// sqlRefusalSaysPassword: PostgreSQL's "password authentication failed"
// (28P01) answers a password login, never an IAM one (PAM, 28000).
func sqlRefusalSaysPassword(err error) bool {
	var pe *pgwire.Error
	return errors.As(err, &pe) && pe.Code == pgwire.CodeInvalidPassword
}
