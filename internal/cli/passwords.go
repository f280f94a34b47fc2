package cli

import (
	"github.com/spf13/pflag"

	"github.com/rdsgate/rdsgate/dbpath"
)

// registerPassword registers a password source for targets without IAM
// authentication, bound to a dbpath.Auth: one source given overrides the
// config file's auth and password_* keys (dbpath.Merge).
func registerPassword(fs *pflag.FlagSet, auth *dbpath.Auth) {
	fs.StringVar(&auth.PasswordSecret, "password-secret", "", "log in upstream with the password in this Secrets Manager secret (ARN or name; {\"username\",\"password\"} JSON such as an RDS managed master secret, or the password alone) instead of an IAM token, for databases or users without IAM authentication")
	fs.StringVar(&auth.PasswordEnv, "password-env", "", "log in upstream with the password in this environment variable instead of an IAM token")
	fs.StringVar(&auth.PasswordFile, "password-file", "", "log in upstream with the password on the first line of this file instead of an IAM token")
}
