package dbpath

import (
	"context"
	"database/sql"

	"github.com/rdsgate/rdsgate/grant"
)

// Admin opens a database/sql handle on database as the target's
// administrative user, over the path's route with TLS verified for the
// endpoint (grant.OpenAdmin): the password from secret (default: the
// managed master secret), else from prompt.
func (p *Path) Admin(ctx context.Context, database, secret string, prompt func(ctx context.Context, user string) (string, error)) (*sql.DB, grant.AdminLogin, error) {
	return grant.OpenAdmin(ctx, grant.AdminConfig{
		Target: p.Target, Database: database,
		Dial: p.Dialer.DialContext, TLS: p.Bundle.TLSConfig(p.Target.Host),
		AWS: p.AWS, Profile: p.Spec.Profile, Secret: secret, Prompt: prompt,
	})
}
