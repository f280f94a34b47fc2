package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/spf13/pflag"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/proxy"
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

// apply puts the flags over the config entry: a flag's source replaces the
// file's and means auth: password.
func (f passwordFlags) apply(e *config.Target) error {
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
		e.Auth, e.PasswordSecret, e.PasswordEnv, e.PasswordFile = "password", f.secret, f.env, f.file
	}
	return nil
}

// passwordCredentials returns the password source for p's target, or nil
// when it logs in with IAM tokens. Nothing is read yet.
func (a *app) passwordCredentials(p *path) (*proxy.PasswordCredentials, error) {
	e := p.entry
	if e.Auth != "password" && !e.HasPasswordSource() {
		return nil, nil
	}
	if err := e.CheckAuth(); err != nil {
		return nil, usagef("%v", err)
	}
	var src proxy.PasswordSource
	switch {
	case e.PasswordSecret != "":
		src = secretPassword(secretsmanager.NewFromConfig(p.aws), p.profile, e.PasswordSecret)
	case e.PasswordEnv != "":
		src = proxy.EnvPassword(e.PasswordEnv, a.getenv)
	case e.PasswordFile != "":
		path := expandHome(e.PasswordFile)
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			a.log.Warn("the password file can be read by other users; chmod 600 it", "file", path, "mode", st.Mode().Perm().String())
		}
		src = proxy.FilePassword(path)
	default:
		return nil, usagef("auth: password needs a password source: password_secret, password_env or password_file in the config file, or --password-secret, --password-env or --password-file")
	}
	return proxy.NewPasswordCredentials(src), nil
}

// secretAPI is the Secrets Manager call a password source makes.
type secretAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// secretPassword reads the password (and its user, when the secret names
// one) from a Secrets Manager secret, at each read, so that a rotated
// secret is picked up.
func secretPassword(api secretAPI, profile, id string) proxy.PasswordSource {
	return proxy.PasswordSource{Name: "Secrets Manager secret " + id, Fetch: func(ctx context.Context) (string, string, error) {
		out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			return "", "", awsconf.Explain(err, profile)
		}
		if out.SecretString == nil {
			return "", "", errors.New("the secret holds binary data, not a string")
		}
		return proxy.ParseSecretString(aws.ToString(out.SecretString))
	}}
}

func expandHome(path string) string {
	if strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, path[2:])
		}
	}
	return path
}
