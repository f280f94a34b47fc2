package proxy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSecretString(t *testing.T) {
	for _, tc := range []struct {
		desc, in, user, pw, err string
	}{
		{desc: "RDS managed master secret", in: `{"username":"postgres","password":"p@ss{w}ord"}`, user: "postgres", pw: "p@ss{w}ord"},
		{desc: "console secret with more fields", in: `{"username":"app","password":"pw","engine":"postgres","host":"h","port":5432,"dbname":"d"}`, user: "app", pw: "pw"},
		{desc: "password only", in: `{"password":"pw"}`, pw: "pw"},
		{desc: "plain string", in: `s3cr3t pass`, pw: "s3cr3t pass"},
		{desc: "plain string that starts with a brace", in: `{not json`, pw: "{not json"},
		{desc: "JSON without a password", in: `{"username":"app","pass":"pw"}`, err: `without a "password" string`},
		{desc: "empty password", in: `{"username":"app","password":""}`, err: `without a "password" string`},
		{desc: "empty", in: ``, err: "empty"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			user, pw, err := ParseSecretString(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "pw") && tc.in != "" {
					t.Errorf("the error quotes the secret: %v", err)
				}
				return
			}
			if err != nil || user != tc.user || pw != tc.pw {
				t.Errorf("= %q, %q, %v; want %q, %q", user, pw, err, tc.user, tc.pw)
			}
		})
	}
}

func TestEnvAndFilePasswords(t *testing.T) {
	ctx := context.Background()
	env := map[string]string{"DBPW": "from-env"}
	src := EnvPassword("DBPW", func(k string) string { return env[k] })
	if _, pw, err := src.Fetch(ctx); err != nil || pw != "from-env" {
		t.Errorf("env: %q, %v", pw, err)
	}
	if _, _, err := EnvPassword("UNSET", func(string) string { return "" }).Fetch(ctx); err == nil || !strings.Contains(err.Error(), "UNSET is not set") {
		t.Errorf("unset env: %v", err)
	}
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte("from-file\r\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, pw, err := FilePassword(f).Fetch(ctx); err != nil || pw != "from-file" {
		t.Errorf("file: %q, %v", pw, err)
	}
	if _, _, err := FilePassword(f + ".missing").Fetch(ctx); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestPasswordCredentials(t *testing.T) {
	ctx := context.Background()
	var reads int
	pw, user := "one", ""
	c := NewPasswordCredentials(PasswordSource{Name: "the test's source", Fetch: func(context.Context) (string, string, error) {
		reads++
		if pw == "" {
			return "", "", errors.New("source unavailable")
		}
		return user, pw, nil
	}})
	if c.IAM() {
		t.Error("password credentials claim to be IAM")
	}
	for range 3 {
		if got, err := c.Password(ctx, "app"); err != nil || got != "one" {
			t.Fatalf("Password = %q, %v", got, err)
		}
	}
	if reads != 1 {
		t.Errorf("read the source %d times for 3 logins, want 1", reads)
	}
	// Refused with an unchanged source: no retry.
	if retry, err := c.Refresh(ctx, "app"); retry || err != nil {
		t.Errorf("Refresh with the same password = %v, %v; want false", retry, err)
	}
	// Rotated: retry.
	pw = "two"
	if retry, err := c.Refresh(ctx, "app"); !retry || err != nil {
		t.Errorf("Refresh after rotation = %v, %v; want true", retry, err)
	}
	if got, _ := c.Password(ctx, "app"); got != "two" {
		t.Errorf("after rotation: %q", got)
	}
	// Too old: read again.
	c.MaxAge = time.Nanosecond
	pw = "three"
	time.Sleep(time.Millisecond)
	if got, _ := c.Password(ctx, "app"); got != "three" {
		t.Errorf("after MaxAge: %q", got)
	}
	// A secret naming its user serves that user only.
	c.MaxAge, user, pw = 0, "owner", "four"
	_, _ = c.Refresh(ctx, "owner")
	if _, err := c.Password(ctx, "app"); err == nil || !strings.Contains(err.Error(), `database user "owner"'s, not "app"'s`) || strings.Contains(err.Error(), "four") {
		t.Errorf("other user: %v", err)
	}
	// A failing source: the error names it, and the next login reads again.
	pw = ""
	if retry, err := c.Refresh(ctx, "owner"); retry || err == nil || !strings.Contains(err.Error(), "from the test's source") {
		t.Errorf("failing source: %v, %v", retry, err)
	}
	pw = "five"
	if got, err := c.Password(ctx, "owner"); err != nil || got != "five" {
		t.Errorf("after a failed read: %q, %v", got, err)
	}
}
