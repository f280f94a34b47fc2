package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultPasswordMaxAge is how long a password read from its source is
// reused before it is read again. A rotated secret is picked up by then,
// or at once when the server refuses the old password.
const DefaultPasswordMaxAge = 15 * time.Minute

// PasswordSource is where a database password is kept, for targets that do
// not use IAM authentication.
type PasswordSource struct {
	// Name says where the password comes from, for messages ("Secrets
	// Manager secret arn:...", "environment variable PGPW"); never the
	// password.
	Name string
	// Fetch reads the password, and the database user it belongs to when
	// the source names one (a Secrets Manager secret's "username"), else "".
	Fetch func(ctx context.Context) (user, password string, err error)
}

// EnvPassword reads the password from the environment variable name
// through getenv (os.Getenv when nil).
func EnvPassword(name string, getenv func(string) string) PasswordSource {
	if getenv == nil {
		getenv = os.Getenv
	}
	return PasswordSource{Name: "environment variable " + name, Fetch: func(context.Context) (string, string, error) {
		pw := getenv(name)
		if pw == "" {
			return "", "", fmt.Errorf("environment variable %s is not set or empty", name)
		}
		return "", pw, nil
	}}
}

// FilePassword reads the password from a file: its first line, without the
// line ending (so `echo secret > file` works).
func FilePassword(path string) PasswordSource {
	return PasswordSource{Name: "file " + path, Fetch: func(context.Context) (string, string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", "", err // names the file; holds no content
		}
		line, _, _ := strings.Cut(string(b), "\n")
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			return "", "", fmt.Errorf("password file %s is empty", path)
		}
		return "", line, nil
	}}
}

// ParseSecretString reads a Secrets Manager secret's string: the JSON
// object RDS keeps for a managed master password (and the console's
// "credentials for an RDS database" secrets), {"username": ..., "password":
// ...}, or a plain string that is the password itself. Errors never quote
// the secret.
func ParseSecretString(s string) (user, password string, err error) {
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "{") {
		var v struct {
			Username *string `json:"username"`
			Password *string `json:"password"`
		}
		if err := json.Unmarshal([]byte(t), &v); err == nil {
			if v.Password == nil || *v.Password == "" {
				return "", "", errors.New("the secret is a JSON object without a \"password\" string: store {\"username\": ..., \"password\": ...} or the password alone")
			}
			if v.Username != nil {
				user = *v.Username
			}
			return user, *v.Password, nil
		}
		// Not JSON after all: a password that starts with "{".
	}
	if s == "" {
		return "", "", errors.New("the secret is empty")
	}
	return "", s, nil
}

// PasswordCredentials log in with a password from a source instead of an
// IAM token. The password is read once and reused for MaxAge; a refused
// login reads it again and is retried once if it changed (the secret was
// rotated). It is never logged and never part of an error.
type PasswordCredentials struct {
	Source PasswordSource
	// MaxAge bounds how long a password is reused; 0 means
	// DefaultPasswordMaxAge.
	MaxAge time.Duration

	mu      sync.Mutex
	user    string
	pw      string
	fetched time.Time
}

// NewPasswordCredentials returns credentials that read passwords from src.
func NewPasswordCredentials(src PasswordSource) *PasswordCredentials {
	return &PasswordCredentials{Source: src}
}

// Password returns the password for dbUser. A source that names its user
// (a Secrets Manager secret) serves that user only.
func (c *PasswordCredentials) Password(ctx context.Context, dbUser string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	maxAge := c.MaxAge
	if maxAge == 0 {
		maxAge = DefaultPasswordMaxAge
	}
	if c.pw == "" || time.Since(c.fetched) > maxAge {
		if err := c.fetchLocked(ctx); err != nil {
			return "", err
		}
	}
	if c.user != "" && c.user != dbUser {
		return "", fmt.Errorf("the password from %s is database user %q's, not %q's: connect as %s, or configure another password source for %s",
			c.Source.Name, c.user, dbUser, c.user, dbUser)
	}
	return c.pw, nil
}

func (c *PasswordCredentials) fetchLocked(ctx context.Context) error {
	user, pw, err := c.Source.Fetch(ctx)
	if err != nil {
		return fmt.Errorf("read the database password from %s: %w", c.Source.Name, err)
	}
	if pw == "" {
		return fmt.Errorf("read the database password from %s: it is empty", c.Source.Name)
	}
	c.user, c.pw, c.fetched = user, pw, time.Now()
	return nil
}

// Prefetch reads the password now (a command checks its source at
// startup rather than at the first client) and returns the database user
// the source names, or "".
func (c *PasswordCredentials) Prefetch(ctx context.Context) (user string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.fetchLocked(ctx); err != nil {
		return "", err
	}
	return c.user, nil
}

// Refresh reads the password again after the server refused it, and
// reports whether it changed (only then is a retry worth it).
func (c *PasswordCredentials) Refresh(ctx context.Context, _ string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.pw
	if err := c.fetchLocked(ctx); err != nil {
		c.pw = "" // read again next time
		return false, err
	}
	return c.pw != old, nil
}

// IAM is false.
func (c *PasswordCredentials) IAM() bool { return false }

// Describe names the source.
func (c *PasswordCredentials) Describe() string { return c.Source.Name }
