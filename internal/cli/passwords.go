package cli

import (
	"github.com/spf13/pflag"

	"github.com/rdsgate/rdsgate/dbpath"
)

// passwordFlags name a password source for targets without IAM
// authentication; they override the config file's auth and password_*
// keys.
type passwordFlags struct {
	secret string
	env    string
	file   string
}

func (f *passwordFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.secret, "password-secret", "", "log in upstream with the password in this Secrets Manager secret (ARN or name; {\"username\",\"password\"} JSON such as an RDS managed master secret, or the password alone) instead of an IAM token, for databases or users without IAM authentication")
	fs.StringVar(&f.env, "password-env", "", "log in upstream with the password in this environment variable instead of an IAM token")
	fs.StringVar(&f.file, "password-file", "", "log in upstream with the password on the first line of this file instead of an IAM token")
}

// apply puts the flags over the config entry's auth: a flag's source
// replaces the file's and means auth: password.
func (f passwordFlags) apply(a *dbpath.Auth) error {
	n := 0
	for _, s := range []string{f.secret, f.env, f.file} {
		if s != "" {
			n++
		}
	}
	switch {
	case n > 1:
		return usagef("--password-secret, --password-env and --password-file: give one")
	case n == 1:
		*a = dbpath.Auth{Method: "password", PasswordSecret: f.secret, PasswordEnv: f.env, PasswordFile: f.file}
	}
	return nil
}
