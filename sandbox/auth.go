package sandbox

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
	"github.com/rdsgate/rdsgate/sandbox/mysqlfront"
	"github.com/rdsgate/rdsgate/sandbox/pgfront"
	"github.com/rdsgate/rdsgate/sandbox/world"
)

// iamAuthenticator decides IAM logins to one instance the way RDS does:
// IAM authentication must be on, the token must verify (signature, expiry,
// host:port, user, region) against a known principal's key, and the
// principal's policies must allow rds-db:connect on this instance's dbuser
// ARN. The returned error is the precise reason, for the sandbox log.
type iamAuthenticator struct {
	w    *world.World
	inst *world.Instance
	now  func() time.Time
}

func (a *iamAuthenticator) authenticate(user, token string, client net.Addr) error {
	if !a.inst.IAMAuth {
		return fmt.Errorf("IAM database authentication is disabled on %s", a.inst.Identifier)
	}
	lookup := func(akid string) (iamauth.Secret, bool) {
		p, ok := a.w.PrincipalByKey(akid)
		if !ok {
			return iamauth.Secret{}, false
		}
		return iamauth.Secret{SecretAccessKey: p.SecretAccessKey, SessionToken: p.SessionToken}, true
	}
	tok, err := iamauth.Verify(token, iamauth.Expect{Host: a.inst.Endpoint, Port: a.inst.Port, Region: a.w.Region, User: user}, lookup, a.now())
	if err != nil {
		return fmt.Errorf("token refused: %w", err)
	}
	p, _ := a.w.PrincipalByKey(tok.AccessKeyID)
	arn := a.w.DBUserARN(a.inst, user)
	ctx := map[string]string{"aws:SourceIp": hostOf(client), "aws:CurrentTime": time.Now().UTC().Format(time.RFC3339)}
	res := a.w.Authorize(p, "rds-db:connect", arn, ctx)
	switch res.Decision {
	case iampolicy.Allowed:
		return nil
	case iampolicy.ExplicitDeny:
		return fmt.Errorf("%s is explicitly denied rds-db:connect on %s (statement %q)", p.ARN, arn, res.Statement.Sid)
	}
	// A statement that allowed it once and ends at a time now past is
	// expired access, which is worth saying as such.
	if then, ok := a.w.Expired(p, "rds-db:connect", arn, ctx); ok {
		return fmt.Errorf("expired access: the statement %q that allows %s rds-db:connect on %s has a DateLessThan aws:CurrentTime that has passed", then.Statement.Sid, p.ARN, arn)
	}
	return fmt.Errorf("no policy allows %s rds-db:connect on %s", p.ARN, arn)
}

func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// pgAuth adapts iamAuthenticator to the PostgreSQL front.
type pgAuth struct{ *iamAuthenticator }

func (a pgAuth) AuthenticateIAM(_ context.Context, l pgfront.Login) error {
	return a.authenticate(l.User, l.Token, l.ClientAddr)
}

// myAuth adapts iamAuthenticator to the MySQL front.
type myAuth struct{ *iamAuthenticator }

func (a myAuth) AuthenticateIAM(_ context.Context, l mysqlfront.Login) error {
	return a.authenticate(l.User, l.Token, l.ClientAddr)
}
