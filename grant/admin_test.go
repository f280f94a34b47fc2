package grant

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rdsgate/rdsgate/target"
)

// secrets is a SecretReader over a map from secret id to its string.
type secrets map[string]string

func (s secrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	v, ok := s[aws.ToString(in.SecretId)]
	if !ok {
		return nil, errors.New("ResourceNotFoundException: Secrets Manager can't find the specified secret.")
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

func TestAdminCredentials(t *testing.T) {
	const managed = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1"
	db := target.Target{Identifier: "orders", Engine: "postgres", MasterUser: "dbadmin", MasterSecretARN: managed}
	store := secrets{
		managed:       `{"username":"dbadmin","password":"managed-pw"}`,
		"mine":        `{"username":"ops","password":"my-pw"}`,
		"no-user":     `{"password":"pw-only"}`,
		"not-json":    `dbadmin:pw`,
		"no-password": `{"username":"dbadmin"}`,
	}
	prompt := func(_ context.Context, user string) (string, error) { return "typed-for-" + user, nil }
	noMaster := target.Target{Identifier: "orders", Engine: "postgres"}
	unmanaged := target.Target{Identifier: "orders", Engine: "postgres", MasterUser: "dbadmin"}
	tests := []struct {
		desc      string
		cfg       AdminConfig
		wantLogin AdminLogin
		wantPW    string
		wantErr   error  // errors.Is
		wantText  string // the whole error text
	}{
		{desc: "managed master secret", cfg: AdminConfig{Target: db},
			wantLogin: AdminLogin{User: "dbadmin", From: "secret " + managed}, wantPW: "managed-pw"},
		{desc: "secret given wins over the managed one", cfg: AdminConfig{Target: db, Secret: "mine"},
			wantLogin: AdminLogin{User: "ops", From: "secret mine"}, wantPW: "my-pw"},
		{desc: "secret without a username is the master user's", cfg: AdminConfig{Target: db, Secret: "no-user"},
			wantLogin: AdminLogin{User: "dbadmin", From: "secret no-user"}, wantPW: "pw-only"},
		{desc: "secret that is not JSON", cfg: AdminConfig{Target: db, Secret: "not-json"},
			wantText: `secret not-json is not an RDS credentials secret ({"username":...,"password":...})`},
		{desc: "secret without a password", cfg: AdminConfig{Target: db, Secret: "no-password"},
			wantText: `secret no-password is not an RDS credentials secret ({"username":...,"password":...})`},
		{desc: "secret that cannot be read", cfg: AdminConfig{Target: db, Secret: "gone"},
			wantText: "read the administrative secret gone: ResourceNotFoundException: Secrets Manager can't find the specified secret."},
		{desc: "no secret: the prompt", cfg: AdminConfig{Target: unmanaged, Prompt: prompt},
			wantLogin: AdminLogin{User: "dbadmin", From: "the prompt"}, wantPW: "typed-for-dbadmin"},
		{desc: "no secret and no prompt", cfg: AdminConfig{Target: unmanaged},
			wantErr: ErrNoPrompt, wantText: "no password source for the administrative user dbadmin of orders"},
		{desc: "prompt fails", cfg: AdminConfig{Target: unmanaged, Prompt: func(context.Context, string) (string, error) { return "", errors.New("no terminal") }},
			wantText: "no terminal"},
		{desc: "no secret and no master user", cfg: AdminConfig{Target: noMaster, Prompt: prompt},
			wantErr: ErrNoMasterSecret, wantText: "orders has no managed master secret and its master user is unknown: pass admin_secret=ARN of a secret with username and password"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			tc.cfg.Secrets = store
			login, pw, err := tc.cfg.credentials(context.Background())
			if tc.wantText != "" || tc.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, want %q", tc.wantText)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("error %v is not %v", err, tc.wantErr)
				}
				if tc.wantText != "" && err.Error() != tc.wantText {
					t.Errorf("error %q, want %q", err, tc.wantText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantLogin, login); diff != "" {
				t.Errorf("login (-want +got):\n%s", diff)
			}
			if pw != tc.wantPW {
				t.Errorf("password %q, want %q", pw, tc.wantPW)
			}
		})
	}
}

// PAMRefused goes by the error's code, wherever the driver wrapped it.
func TestPAMRefused(t *testing.T) {
	pam := &pgconn.PgError{Severity: "FATAL", Code: "28000", Message: `PAM authentication failed for user "dbadmin"`}
	tests := []struct {
		desc string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"PAM refusal", pam, true},
		{"wrapped", fmt.Errorf("failed to connect to `user=dbadmin database=postgres`: %w", pam), true},
		{"same code, other words", &pgconn.PgError{Severity: "FATAL", Code: "28000", Message: "Authentifizierung fehlgeschlagen"}, true},
		{"wrong password", &pgconn.PgError{Severity: "FATAL", Code: "28P01", Message: `password authentication failed for user "dbadmin"`}, false},
		{"not at login", &pgconn.PgError{Severity: "ERROR", Code: "28000", Message: "x"}, false},
		{"the text alone", errors.New(`FATAL: PAM authentication failed for user "dbadmin" (SQLSTATE 28000)`), false},
		{"MySQL's access denied", &mysql.MySQLError{Number: 1045, SQLState: [5]byte{'2', '8', '0', '0', '0'}, Message: "Access denied"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := PAMRefused(tc.err); got != tc.want {
				t.Errorf("PAMRefused(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestOpenAdminNeedsDialAndTLS(t *testing.T) {
	_, _, err := OpenAdmin(context.Background(), AdminConfig{Target: target.Target{Engine: "postgres", MasterUser: "a"}})
	if err == nil {
		t.Fatal("OpenAdmin without a Dial or TLS succeeded")
	}
	_, _, err = OpenAdmin(context.Background(), AdminConfig{Target: target.Target{Engine: "sqlserver-ee"}})
	if err == nil || err.Error() != "engine sqlserver-ee is not supported" {
		t.Errorf("unsupported engine: %v", err)
	}
}
