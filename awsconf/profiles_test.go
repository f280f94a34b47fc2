package awsconf

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestProfiles(t *testing.T) {
	dir := t.TempDir()
	cfg, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	os.WriteFile(cfg, []byte("[default]\nregion = eu-west-1\n[profile prod]\nsso_session = s\n[sso-session s]\n[services x]\n[ profile  dev ]\n"), 0o600)
	os.WriteFile(creds, []byte("[default]\naws_access_key_id = x\n[ci]\n"), 0o600)
	got := Profiles([]string{cfg}, []string{creds, filepath.Join(dir, "missing")})
	if want := []string{"ci", "default", "dev", "prod"}; !slices.Equal(got, want) {
		t.Errorf("Profiles = %q, want %q", got, want)
	}
}
