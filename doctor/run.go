package doctor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/grant"
	"github.com/rdsgate/rdsgate/iamsim"
	"github.com/rdsgate/rdsgate/rdsca"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/target"
	"github.com/rdsgate/rdsgate/tunnel"
	ssmtunnel "github.com/rdsgate/rdsgate/tunnel/ssm"
)

// PortForwardingDocument is the Session Manager document rdsgate uses.
const PortForwardingDocument = "AWS-StartPortForwardingSessionToRemoteHost"

// Config is what doctor checks: the path a command line asks for, opened
// stage by stage with dbpath, as connect opens it, with a check between
// each stage.
type Config struct {
	// Spec is the path asked for.
	Spec dbpath.Spec
	// Options are the process's side of opening it.
	Options dbpath.Options
	// Now is the clock for certificate expiry; default time.Now.
	Now func() time.Time
}

// Run runs every check.
func Run(ctx context.Context, c Config) *Report {
	if c.Now == nil {
		c.Now = time.Now
	}
	spec, opts := c.Spec, c.Options
	user, route := spec.User, spec.Route
	r := &Report{Target: spec.Name}
	var cfg aws.Config
	profile := spec.Profile
	res := r.run("credentials", "AWS credentials", func() Result {
		var err error
		if cfg, err = dbpath.LoadAWS(ctx, spec, opts); err != nil {
			return failure(err)
		}
		return Result{Status: Pass, Detail: setting.Textf("found (profile %s, region %s)", awsconf.ProfileName(profile), cfg.Region)}
	})
	if res.Status == Fail {
		return r.skipRest("credentials")
	}
	var id awsconf.Identity
	res = r.run("identity", "AWS identity (STS)", func() Result {
		var err error
		if id, err = awsconf.WhoAmI(ctx, cfg, profile); err != nil {
			return failure(err)
		}
		return Result{Status: Pass, Detail: setting.Plain(id.ARN)}
	})
	if res.Status == Fail {
		return r.skipRest("identity")
	}
	var t target.Target
	res = r.run("target", "target exists", func() Result {
		var err error
		if t, err = dbpath.Resolver(cfg, spec).Resolve(ctx, spec.Name); err != nil {
			if region := target.NotFoundRegion(err); region != "" {
				return Result{Status: Fail, Detail: setting.Textf("%v", err), Fix: setting.Textf("check the name with `rdsgate ls %s`, or pass the region it is in with %s", setting.Region.Is(region), setting.Region)}
			}
			return failure(err)
		}
		if t.Status != "" && t.Status != "available" {
			return Result{Status: Warn, Detail: setting.Textf("%s %s is %s, not available", t.Kind, t.Identifier, t.Status)}
		}
		return Result{Status: Pass, Detail: setting.Textf("%s %s: %s %s at %s", t.Kind, t.Identifier, t.Engine, t.EngineVersion, t.Address())}
	})
	if res.Status == Fail {
		return r.skipRest("target")
	}
	r.run("engine", "engine supported", func() Result {
		if t.Family() == "" {
			return Result{Status: Fail, Detail: setting.Textf("%s is not a PostgreSQL, MySQL or MariaDB engine", t.Engine)}
		}
		return Result{Status: Pass, Detail: setting.Textf("%s (%s protocol) on port %d", t.Engine, t.Family(), t.Port)}
	})
	r.run("iam-auth", "IAM database authentication enabled", func() Result {
		if t.Kind == target.KindEndpoint {
			return Result{Status: Skip, Detail: setting.Plain("not described by the RDS API here; cannot tell")}
		}
		if !t.IAMAuth {
			return Result{Status: Fail, Detail: setting.Textf("IAM database authentication is disabled on %s", t.Identifier), Fix: setting.Plain(t.EnableIAMAuthCommand())}
		}
		return Result{Status: Pass, Detail: setting.Plain("enabled")}
	})
	r.run("permission", "rds-db:connect allowed", func() Result { return checkConnectPermission(ctx, cfg, id, t, user) })
	if route.Via == "ssm" {
		checkBastion(ctx, r, cfg, id, t, route)
	} else {
		r.skip("bastion", "Session Manager bastion", fmt.Sprintf("route is %s", orDirect(route.Via)))
	}

	var d tunnel.Dialer
	taken := route
	defer func() {
		if d != nil {
			d.Close()
		}
	}()
	res = r.run("route", "route opens", func() Result {
		var err error
		if d, taken, err = dbpath.NewDialer(ctx, cfg, route, t.Address(), spec.Profile, opts.Log); err != nil {
			return Result{Status: Fail, Detail: setting.Textf("%v", err), Fix: routeFix(route, t)}
		}
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		conn, err := d.DialContext(dctx, "tcp", t.Address())
		if err != nil {
			return Result{Status: Fail, Detail: setting.Textf("%v", err), Fix: routeFix(route, t)}
		}
		conn.Close()
		return Result{Status: Pass, Detail: setting.Textf("TCP to %s via %s%s", t.Address(), orDirect(route.Via), routeSessions(d, route))}
	})
	if res.Status != Pass {
		r.skip("tls", "server certificate verifies", "needs the route")
		r.skip("login", "IAM login", "needs the route")
		return r
	}
	var bundle *rdsca.Bundle
	res = r.run("tls", "server certificate verifies", func() Result {
		var err error
		if bundle, err = rdsca.Load(ctx, rdsca.Options{File: spec.CABundle, Getenv: opts.Getenv, Region: t.Region, Log: opts.Log}); err != nil {
			return failure(err)
		}
		st, err := probeTLS(ctx, d, t, bundle.TLSConfig(t.Host))
		if err != nil {
			fix := setting.Textf("pass the CA bundle that issued the server's certificate with %s (RDS: the region's bundle from AWS's trust store)", setting.CABundle)
			if rdsca.ServerCertExpired(err) {
				fix = setting.Plain("give the server a new certificate: " + t.RotateCertificateCommand())
			}
			return Result{Status: Fail, Detail: setting.Textf("%v", rdsca.ExplainVerifyError(err, t.Host)), Fix: fix}
		}
		summary, notAfter := certSummary(st)
		if left := notAfter.Sub(c.Now()); left < ExpiryWarning {
			return Result{Status: Warn, Detail: setting.Textf("%s: expires in %d days", summary, int(left.Hours()/24)),
				Fix: setting.Plain("rotate the certificate: " + t.RotateCertificateCommand())}
		}
		return Result{Status: Pass, Detail: setting.Plain(summary)}
	})
	if res.Status == Fail {
		r.skip("login", "IAM login", "needs TLS")
		return r
	}
	r.run("login", "IAM login", func() Result {
		if user == "" {
			return Result{Status: Skip, Detail: setting.Textf("no database user: pass %s", setting.User)}
		}
		p := &dbpath.Path{Spec: spec, AWS: cfg, Identity: id, Target: t, Route: taken, Dialer: d, Bundle: bundle}
		err := login(ctx, p, opts)
		if err == nil {
			return Result{Status: Pass, Detail: setting.Textf("logged in as %s and ran a query", user)}
		}
		fix := setting.Plain(loginFix(t, user, err))
		if failed := r.Failed(); len(failed) > 0 {
			// The cause is most likely what an earlier check found.
			fix = setting.Textf("fix %s above first: the login cannot work while it fails", failed[0].ID)
		}
		return Result{Status: Fail, Detail: setting.Textf("%v", err), Fix: fix}
	})
	return r
}

// login logs in through the real proxy engine, on a private socket, and
// runs a trivial query: the whole path a client takes.
func login(ctx context.Context, p *dbpath.Path, opts dbpath.Options) error {
	var err error
	if p.Password, err = dbpath.PasswordCredentials(p.AWS, p.Spec, opts); err != nil {
		return err
	}
	// The report says what failed: the proxy's own lines (a retry with a
	// fresh token) would only clutter it.
	local, err := p.Serve(ctx, dbpath.LocalOptions{})
	if err != nil {
		return err
	}
	defer local.Close()
	db, err := local.Login(ctx, p.Spec.User, p.Spec.Database)
	if err != nil {
		return err
	}
	defer db.Close()
	var one int
	return db.QueryRowContext(ctx, "select 1").Scan(&one)
}

// routeFix is what to check when the route does not open, by route.
func routeFix(route dbpath.Route, t target.Target) setting.Text {
	switch route.Via {
	case "ssh":
		return setting.Textf("check the bastion in %s (reachable from here, sshd listening), your key (%s, the ssh-agent, or %s) and the bastion's host key in known_hosts (%s; %s records a first one); the bastion must reach %s on port %d (the database's security group)",
			setting.SSH.Is("USER@HOST[:PORT]"), setting.SSHIdentity, setting.SSHEIC, setting.SSHKnownHosts, setting.SSHAcceptNew, t.Host, t.Port)
	case "ssm":
		return setting.Textf("the Session Manager checks above say which part is wrong; if they passed, the bastion cannot reach %s on port %d: check the database's security group and network ACLs", t.Host, t.Port)
	}
	return setting.Textf("check that the address is reachable from here (VPN, tunnel, %s), or use %s with a bastion or %s",
		setting.Address, setting.Via.Is("ssm"), setting.Via.Is("ssh"))
}

// routeSessions says, for the route line, how many sessions d (route's
// dialer) used and how many a proxy or tunnel may use; "" for a route
// that holds none.
func routeSessions(d tunnel.Dialer, route dbpath.Route) string {
	c, ok := d.(tunnel.SessionCounter)
	if !ok {
		return ""
	}
	n, noun := c.PeakSessions(), "sessions"
	if n == 1 {
		noun = "session"
	}
	return fmt.Sprintf(" over %d Session Manager %s (proxy and tunnel use up to %d)", n, noun, cmp.Or(route.SSMSessions, ssmtunnel.DefaultSessions))
}

func (r *Report) skipRest(after string) *Report {
	for _, id := range []string{"identity", "target", "engine", "iam-auth", "permission", "bastion", "route", "tls", "login"} {
		found := false
		for _, x := range r.Results {
			found = found || x.ID == id
		}
		if !found {
			r.skip(id, id, "needs "+after)
		}
	}
	return r
}

func failure(err error) Result {
	var ae *awsconf.Error
	if errors.As(err, &ae) {
		return Result{Status: Fail, Detail: setting.Plain(ae.Summary), Fix: ae.Hint}
	}
	return Result{Status: Fail, Detail: setting.Textf("%v", err)}
}

func orDirect(v string) string {
	if v == "" {
		return "direct"
	}
	return v
}

// PolicyStatement is the least-privilege statement that lets user log in to t.
func PolicyStatement(account string, t target.Target, user string) string {
	stmt := map[string]any{
		"Effect":   "Allow",
		"Action":   "rds-db:connect",
		"Resource": fmt.Sprintf("arn:aws:rds-db:%s:%s:dbuser:%s/%s", t.Region, account, t.ResourceID, user),
	}
	b, _ := json.Marshal(stmt)
	return string(b)
}

func checkConnectPermission(ctx context.Context, cfg aws.Config, id awsconf.Identity, t target.Target, user string) Result {
	if user == "" {
		return Result{Status: Skip, Detail: setting.Textf("no database user: pass %s", setting.User)}
	}
	if t.ResourceID == "" {
		return Result{Status: Skip, Detail: setting.Plain("the target's resource id is unknown (not described by the RDS API)")}
	}
	resource := fmt.Sprintf("arn:aws:rds-db:%s:%s:dbuser:%s/%s", t.Region, id.Account, t.ResourceID, user)
	d, err := iamsim.Allowed(ctx, cfg, id.ARN, "rds-db:connect", resource)
	switch {
	case errors.Is(err, iamsim.ErrCannotAsk):
		return Result{Status: Skip, Detail: setting.Textf("could not check: %v", err),
			Fix: setting.Plain("the statement that grants it: " + PolicyStatement(id.Account, t, user))}
	case err != nil:
		return Result{Status: Skip, Detail: setting.Textf("could not check: %v", err)}
	case !d.Allowed:
		return Result{Status: Fail, Detail: setting.Textf("%s may not rds-db:connect as %s on %s (%s)", d.Principal, user, t.Identifier, d.Reason),
			Fix: setting.Textf("attach a policy with: %s\n(rdsgate policy %s %s prints the whole document)", PolicyStatement(id.Account, t, user), t.Identifier, setting.User.Is(user))}
	}
	return Result{Status: Pass, Detail: setting.Textf("allowed on %s", resource)}
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// loginFix lists the likely causes of a refused IAM login, most likely first.
func loginFix(t target.Target, user string, err error) string {
	msg := err.Error()
	if strings.Contains(msg, "not IAM-enabled") || strings.Contains(msg, "not an IAM user") {
		if t.Family() == target.FamilyPostgres {
			return fmt.Sprintf("as an admin: GRANT rds_iam TO %s;  (or: %s)", grant.QuotePGIdent(user), grant.Command(t.Identifier, user))
		}
		return fmt.Sprintf("as an admin: CREATE USER %s@'%%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL;  (or: %s)",
			grant.QuoteMySQLLiteral(user), grant.Command(t.Identifier, user))
	}
	causes := []string{"the user is not IAM-enabled (PostgreSQL: GRANT rds_iam TO " + grant.QuotePGIdent(user) + "; MySQL: IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS')",
		"your IAM policy does not allow rds-db:connect on this user with the resource id " + t.ResourceID + " (not the instance name)",
		"IAM database authentication is disabled on " + t.Identifier}
	var b strings.Builder
	for i, c := range causes {
		fmt.Fprintf(&b, "%d. %s\n", i+1, c)
	}
	return strings.TrimSpace(b.String())
}
