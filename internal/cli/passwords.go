package cli

import (
	"slices"

	"github.com/spf13/pflag"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/internal/cmdline"
)

// passwordFlags name a password source for targets without IAM
// authentication, bound to a dbpath.Auth; they override the config
// file's auth and password_* keys.
type passwordFlags struct{ auth dbpath.Auth }

func (f *passwordFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.auth.PasswordSecret, "password-secret", "", "log in upstream with the password in this Secrets Manager secret (ARN or name; {\"username\",\"password\"} JSON such as an RDS managed master secret, or the password alone) instead of an IAM token, for databases or users without IAM authentication")
	fs.StringVar(&f.auth.PasswordEnv, "password-env", "", "log in upstream with the password in this environment variable instead of an IAM token")
	fs.StringVar(&f.auth.PasswordFile, "password-file", "", "log in upstream with the password on the first line of this file instead of an IAM token")
}

// apply puts the flags over the config entry's auth: a flag's source
// replaces the file's and means auth: password.
func (f passwordFlags) apply(a *dbpath.Auth) error {
	switch n := len(slices.DeleteFunc([]string{f.auth.PasswordSecret, f.auth.PasswordEnv, f.auth.PasswordFile}, func(s string) bool { return s == "" })); {
	case n > 1:
		return cmdline.Usagef("--password-secret, --password-env and --password-file: give one")
	case n == 1:
		*a = f.auth
		a.Method = "password"
	}
	return nil
}
