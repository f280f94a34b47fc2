package ssh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sampleConfig = `# ~/.ssh/config
Host bastion-prod
    HostName 203.0.113.10
    User ec2-user
    Port 2222
    IdentityFile ~/.ssh/prod.pem

Host *.internal !skip.internal
  HostName %h.example.com
  ProxyJump bastion-prod
  User=ops

Host db?
  Port = 2200
  IdentityFile "/keys/with space"   # trailing comment

Match host something exec "true"
  User matched

Host *
  User fallback
  Port 22
  IdentityFile ~/.ssh/id_default
`

func TestSSHConfigLookup(t *testing.T) {
	cfg, err := ParseSSHConfig([]byte(sampleConfig), "config")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "config:17") {
		t.Errorf("warnings %q", cfg.Warnings)
	}
	tests := []struct {
		host string
		want HostConfig
	}{
		{"bastion-prod", HostConfig{HostName: "203.0.113.10", User: "ec2-user", Port: 2222,
			IdentityFiles: []string{"~/.ssh/prod.pem", "~/.ssh/id_default"}}},
		{"BASTION-PROD", HostConfig{HostName: "203.0.113.10", User: "ec2-user", Port: 2222,
			IdentityFiles: []string{"~/.ssh/prod.pem", "~/.ssh/id_default"}}},
		{"db.internal", HostConfig{HostName: "db.internal.example.com", User: "ops", Port: 22, ProxyJump: "bastion-prod",
			IdentityFiles: []string{"~/.ssh/id_default"}}},
		{"skip.internal", HostConfig{User: "fallback", Port: 22, IdentityFiles: []string{"~/.ssh/id_default"}}},
		{"db1", HostConfig{User: "fallback", Port: 2200, IdentityFiles: []string{"/keys/with space", "~/.ssh/id_default"}}},
		{"db12", HostConfig{User: "fallback", Port: 22, IdentityFiles: []string{"~/.ssh/id_default"}}},
	}
	for _, tt := range tests {
		got, err := cfg.Lookup(tt.host)
		if err != nil {
			t.Fatalf("%s: %v", tt.host, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Lookup(%q) (-want +got):\n%s", tt.host, diff)
		}
	}
	var nilCfg *SSHConfig
	if got, err := nilCfg.Lookup("x"); err != nil || !cmp.Equal(got, HostConfig{}) {
		t.Errorf("nil config: %+v %v", got, err)
	}
}

func TestSSHConfigErrors(t *testing.T) {
	for _, text := range []string{
		"Host\n",
		"Port\n",
		"Host a\n  HostName \"unterminated\n",
		"Host a\n  User a\"b\n",
		"=foo\n",
		"Include other\n",
	} {
		if _, err := ParseSSHConfig([]byte(text), "c"); err == nil {
			t.Errorf("%q: no error", text)
		} else if !strings.Contains(err.Error(), "c:") {
			t.Errorf("%q: error without position: %v", text, err)
		}
	}
	cfg, err := ParseSSHConfig([]byte("Host a\n Port 99999\n"), "c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Lookup("a"); err == nil || !strings.Contains(err.Error(), "c:2") {
		t.Errorf("bad port: %v", err)
	}
}

func TestSSHConfigInclude(t *testing.T) {
	home := t.TempDir()
	sshDir := filepath.Join(home, ".ssh")
	os.MkdirAll(filepath.Join(sshDir, "conf.d"), 0o700)
	os.WriteFile(filepath.Join(sshDir, "config"), []byte("Host inc-*\n  Include conf.d/*.conf\nHost *\n  User last\n"), 0o600)
	os.WriteFile(filepath.Join(sshDir, "conf.d", "a.conf"), []byte("User from-include\nHost inc-b\n  Port 2022\n"), 0o600)
	cfg, err := LoadSSHConfig(filepath.Join(sshDir, "config"), home)
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]HostConfig{
		"inc-a": {User: "from-include"},
		"inc-b": {User: "from-include", Port: 2022},
		"other": {User: "last"},
	} {
		got, _ := cfg.Lookup(host)
		if !cmp.Equal(got, want) {
			t.Errorf("%s: %+v, want %+v", host, got, want)
		}
	}
	// Include loops end.
	os.WriteFile(filepath.Join(sshDir, "loop"), []byte("Include loop\n"), 0o600)
	if _, err := LoadSSHConfig(filepath.Join(sshDir, "loop"), home); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("include loop: %v", err)
	}
	if cfg, err := LoadSSHConfig(filepath.Join(home, "missing"), home); err != nil || len(cfg.params) != 0 {
		t.Errorf("missing file: %v", err)
	}
}

func TestMatchPattern(t *testing.T) {
	for _, tt := range []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*c", "abbbc", true}, {"a*c", "abcd", false},
		{"?", "a", true}, {"?", "", false}, {"a?c", "abc", true}, {"*.internal", "db.internal", true},
		{"*.internal", "internal", false}, {"**a", "bba", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXcYb", false},
	} {
		if got := matchPattern(tt.pat, tt.s); got != tt.want {
			t.Errorf("matchPattern(%q, %q) = %v", tt.pat, tt.s, got)
		}
	}
}

func TestParseChain(t *testing.T) {
	got, err := ParseChain("a@bastion1, b@bastion2:2222,[::1]:22,root@[fe80::1],c@host,d@2001:db8::1")
	if err != nil {
		t.Fatal(err)
	}
	want := []HopSpec{{"a", "bastion1", 0}, {"b", "bastion2", 2222}, {"", "::1", 22}, {"root", "fe80::1", 0}, {"c", "host", 0}, {"d", "2001:db8::1", 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "a@", "@h", "h:", "h:0", "h:99999", "h:x", "[::1", "[::1]x", "a,,b", "a b", "h/x"} {
		if _, err := ParseChain(bad); err == nil {
			t.Errorf("ParseChain(%q): no error", bad)
		}
	}
	if _, err := ParseChain(strings.Repeat("h,", maxHops) + "h"); err == nil {
		t.Error("too many hops accepted")
	}
}

func TestResolveChain(t *testing.T) {
	cfg, err := ParseSSHConfig([]byte(`
Host target
  HostName 10.0.0.5
  ProxyJump j1
Host j1
  HostName 198.51.100.1
  User jumper
  ProxyJump j0
  IdentityFile ~/.ssh/%r@%h
Host j0
  Port 2200
Host loop
  ProxyJump loop
`), "c")
	if err != nil {
		t.Fatal(err)
	}
	specs, _ := ParseChain("me@target:2222")
	hops, err := ResolveChain(specs, cfg, "local", "/home/x")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hops {
		got = append(got, h.String())
	}
	if want := []string{"local@j0:2200", "jumper@198.51.100.1:22", "me@10.0.0.5:2222"}; !cmp.Equal(got, want) {
		t.Errorf("hops %v, want %v", got, want)
	}
	if want := []string{"/home/x/.ssh/jumper@198.51.100.1"}; !cmp.Equal(hops[1].IdentityFiles, want) {
		t.Errorf("identity files %v", hops[1].IdentityFiles)
	}
	specs, _ = ParseChain("loop")
	if _, err := ResolveChain(specs, cfg, "u", "/h"); err == nil {
		t.Error("ProxyJump loop accepted")
	}
}

func FuzzParseSSHConfig(f *testing.F) {
	f.Add([]byte(sampleConfig), "db.internal")
	f.Add([]byte("Host=a\nPort=1\n"), "a")
	f.Add([]byte("Host \"a b\" !c\n  ProxyJump x@y:1,z\n"), "a b")
	f.Add([]byte("Match all\nUser u\n"), "h")
	f.Fuzz(func(t *testing.T, data []byte, host string) {
		cfg, err := ParseSSHConfig(data, "fuzz")
		if err != nil {
			return
		}
		hc, err := cfg.Lookup(host)
		if err != nil {
			return
		}
		if hc.Port < 0 || hc.Port > 65535 {
			t.Fatalf("port %d", hc.Port)
		}
		if hc.ProxyJump != "" {
			if specs, err := ParseChain(hc.ProxyJump); err == nil {
				ResolveChain(specs, cfg, "u", "/h")
			}
		}
	})
}
