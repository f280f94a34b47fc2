package awsconf

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/setting"
)

// isolate points the SDK at files in a temp dir and clears every variable
// that could leak the developer's own AWS setup into the test.
func isolate(t *testing.T, configText string) string {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgFile, []byte(configText), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("HOME", dir)
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return dir
}

func TestFailuresBecomeOneLineHints(t *testing.T) {
	tests := []struct {
		desc     string
		config   string
		profile  string
		region   string
		loadErr  bool // the failure shows in Load rather than Check
		summary  string
		hintPart string
		flagged  string // the message with the settings spelled as flags starts so
	}{
		{
			desc:     "no credentials anywhere",
			config:   "[default]\nregion = us-east-1\n",
			summary:  "no AWS credentials found",
			hintPart: "aws sso login --profile default",
		},
		{
			desc:     "profile does not exist",
			config:   "[default]\nregion = us-east-1\n",
			profile:  "nope",
			loadErr:  true,
			summary:  `AWS profile "nope" not found`,
			hintPart: "aws configure list-profiles",
		},
		{
			desc:     "region missing",
			config:   "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n",
			loadErr:  true,
			summary:  "no AWS region configured",
			hintPart: "pass region, set AWS_REGION",
			flagged:  "no AWS region configured: pass --region, set AWS_REGION",
		},
		{
			desc: "SSO token never obtained or expired",
			config: "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = ReadOnly\nregion = us-east-1\n" +
				"[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n",
			profile:  "dev",
			summary:  "AWS SSO session expired or missing",
			hintPart: "aws sso login --profile dev",
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			isolate(t, tc.config)
			ctx := context.Background()
			cfg, err := Load(ctx, Options{Profile: tc.profile, Region: tc.region})
			if !tc.loadErr {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				_, err = Check(ctx, cfg, tc.profile)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want *awsconf.Error, got %T: %v", err, err)
			}
			if e.Summary != tc.summary {
				t.Errorf("summary = %q, want %q", e.Summary, tc.summary)
			}
			if !strings.Contains(e.Hint.String(), tc.hintPart) {
				t.Errorf("hint = %q, want it to mention %q", e.Hint, tc.hintPart)
			}
			flags := setting.Style{Assign: " ", Names: map[setting.Name]string{setting.Region: "--region"}}
			if got := setting.Render(err, flags); tc.flagged != "" && !strings.HasPrefix(got, tc.flagged) {
				t.Errorf("rendered with flags: %q, want it to start with %q", got, tc.flagged)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err.Error())
			}
			if e.Unwrap() == nil {
				t.Error("the SDK error underneath is lost")
			}
		})
	}
}

func TestStaticCredentialsFromProfile(t *testing.T) {
	isolate(t, "[profile ci]\nregion = eu-west-1\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n")
	cfg, err := Load(context.Background(), Options{Profile: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" {
		t.Errorf("region = %q, want the profile's eu-west-1", cfg.Region)
	}
	creds, err := Check(context.Background(), cfg, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "AKIDEXAMPLE" {
		t.Errorf("access key = %q", creds.AccessKeyID)
	}
	// Options.Region wins over the profile.
	cfg, err = Load(context.Background(), Options{Profile: "ci", Region: "ap-south-1"})
	if err != nil || cfg.Region != "ap-south-1" {
		t.Errorf("region override: %q, %v", cfg.Region, err)
	}
}
