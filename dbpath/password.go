package dbpath

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/config"
	"github.com/rdsgate/rdsgate/proxy"
)

// PasswordCredentials returns spec's password source, or nil when it logs
// in with IAM tokens. Nothing is read yet: a secret is fetched at each
// login, so that a rotated one is picked up.
func PasswordCredentials(cfg aws.Config, spec Spec, opts Options) (*proxy.PasswordCredentials, error) {
	a := spec.Auth
	if !a.UsesPassword() {
		return nil, nil
	}
	opts.defaults()
	n := 0
	for _, s := range []string{a.PasswordSecret, a.PasswordEnv, a.PasswordFile} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("auth: set one of password_secret, password_env and password_file")
	}
	if n == 1 && a.Method == "iam" {
		return nil, errors.New("auth: iam takes no password: remove the password source, or say auth: password")
	}
	var src proxy.PasswordSource
	switch {
	case a.PasswordSecret != "":
		src = secretPassword(secretsmanager.NewFromConfig(cfg), spec.Profile, a.PasswordSecret)
	case a.PasswordEnv != "":
		src = proxy.EnvPassword(a.PasswordEnv, opts.Getenv)
	case a.PasswordFile != "":
		path := config.ExpandHome(a.PasswordFile)
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			opts.Log.Warn("the password file can be read by other users; chmod 600 it", "file", path, "mode", st.Mode().Perm().String())
		}
		src = proxy.FilePassword(path)
	default:
		return nil, ErrNoPasswordSource
	}
	return proxy.NewPasswordCredentials(src), nil
}

// secretAPI is the Secrets Manager call a password source makes.
type secretAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// secretPassword reads the password (and its user, when the secret names
// one) from a Secrets Manager secret, at each read.
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
