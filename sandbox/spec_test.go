package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSpecPrincipalsAndUsers(t *testing.T) {
	requireBackends(t, "postgres")
	dir := t.TempDir()
	spec := `engines: [postgres]
iam_users: [alice]
principals:
  - profile: reader
    policy: |
      {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "rds-db:connect",
        "Resource": "arn:aws:rds-db:*:*:dbuser:*/alice"}]}
`
	os.WriteFile(filepath.Join(dir, SpecFileName), []byte(spec), 0o644)
	s, err := ReadSpec(filepath.Join(dir, SpecFileName))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Dir: dir, Engines: []string{"all"}}
	s.Apply(&opts)
	sb, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if len(sb.World.Instances) != 1 {
		t.Fatalf("engines from the spec not applied: %d instances", len(sb.World.Instances))
	}
	inst, _ := sb.Instance(InstancePG)
	reader := sb.Principal("reader")
	if reader.Profile != "reader" {
		t.Fatal("principal not added")
	}
	if who, err := login(t, sb, inst, reader, "alice"); err != nil || who != "alice" {
		t.Errorf("reader as alice: %q %v", who, err)
	}
	if _, err := login(t, sb, inst, reader, IAMUser); err == nil {
		t.Error("reader's policy allows only alice, yet it logged in as app_user")
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "aws-config"))
	if !strings.Contains(string(cfg), "[profile reader]") {
		t.Errorf("aws-config lacks the reader profile:\n%s", cfg)
	}

	for _, bad := range []string{"engines: [oracle]\n", "principals:\n  - profile: x\n    policy: '{\"Statement\": 1}'\n", "iam_user: [typo]\n"} {
		os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(bad), 0o644)
		s, err := ReadSpec(filepath.Join(dir, "bad.yaml"))
		if err != nil {
			continue // refused while reading: fine
		}
		o := Options{Dir: t.TempDir()}
		s.Apply(&o)
		if sb2, err := Start(context.Background(), o); err == nil {
			sb2.Close()
			t.Errorf("spec %q accepted", bad)
		}
	}
}
