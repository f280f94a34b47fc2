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
	tests := []struct {
		host string
		want HostConfig
	}{
		{"bastion-prod", HostConfig{HostName: "203.0.113.10", User: "ec2-user", Port: 2222,
			IdentityFiles: []string{"~/.ssh/prod.pem", "~/.ssh/id_default"}}},
		// Host patterns are case-sensitive, as in ssh.
		{"BASTION-PROD", HostConfig{User: "fallback", Port: 22, IdentityFiles: []string{"~/.ssh/id_default"}}},
		{"db.internal", HostConfig{HostName: "db.internal.example.com", User: "ops", Port: 22, ProxyJump: "bastion-prod",
			IdentityFiles: []string{"~/.ssh/id_default"}}},
		{"skip.internal", HostConfig{User: "fallback", Port: 22, IdentityFiles: []string{"~/.ssh/id_default"}}},
		{"db1", HostConfig{User: "fallback", Port: 2200, IdentityFiles: []string{"/keys/with space", "~/.ssh/id_default"}}},
		{"db12", HostConfig{User: "fallback", Port: 22, IdentityFiles: []string{"~/.ssh/id_default"}}},
	}
	for _, tt := range tests {
		got, err := cfg.Lookup(Query{Host: tt.host, LocalUser: "me"})
		if err != nil {
			t.Fatalf("%s: %v", tt.host, err)
		}
		got.Notes = nil
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Lookup(%q) (-want +got):\n%s", tt.host, diff)
		}
	}
	var nilCfg *SSHConfig
	if got, err := nilCfg.Lookup(Query{Host: "x", User: "u", Port: 2}); err != nil || !cmp.Equal(got, HostConfig{User: "u", Port: 2}) {
		t.Errorf("nil config: %+v %v", got, err)
	}
}

// TestSSHConfigMatch checks Match evaluation against ssh_config(5) (OpenSSH
// 9): the first value obtained wins, a Match line is decided when reached
// with the values obtained so far, the chain's user and port come first,
// "Match final" and CanonicalizeHostname ask for a final pass matching Host
// lines against the settled name, and exec is never run.
func TestSSHConfigMatch(t *testing.T) {
	tests := []struct {
		desc    string
		config  string
		q       Query
		want    HostConfig
		wantErr string // a substring of the error
		note    string // a substring of some note
	}{
		{desc: "Match all",
			config: "Match all\n  User everyone\n",
			q:      Query{Host: "h"}, want: HostConfig{User: "everyone"}},
		{desc: "Match host sees the HostName obtained before it",
			config: "Match host x.example\n  User early\nHost a\n  HostName x.example\nMatch host x.example\n  User late\n  Port 99\n",
			q:      Query{Host: "a"}, want: HostConfig{HostName: "x.example", User: "late", Port: 99}},
		{desc: "Match host is case-insensitive and takes pattern lists",
			config: "Host a\n  HostName DB.Example\nMatch host *.other,db.EXAMPLE\n  User m\n",
			q:      Query{Host: "a"}, want: HostConfig{HostName: "db.example", User: "m"}},
		{desc: "Match originalhost sees the host as written",
			config: "Host a\n  HostName x.example\nMatch originalhost x.example\n  User no\nMatch originalhost a\n  User yes\n",
			q:      Query{Host: "a"}, want: HostConfig{HostName: "x.example", User: "yes"}},
		{desc: "Match user before any User sees the local user",
			config: "Match user bob\n  HostName bobhost\nHost *\n  User bob\nMatch user bob\n  Port 2\n",
			q:      Query{Host: "h", LocalUser: "root"}, want: HostConfig{User: "bob", Port: 2}},
		{desc: "Match user sees the chain's user",
			config: "Match user bob\n  HostName bobhost\nHost *\n  User carol\n  Port 3\n",
			q:      Query{Host: "h", User: "bob", Port: 44, LocalUser: "root"}, want: HostConfig{HostName: "bobhost", User: "bob", Port: 44}},
		{desc: "Match localuser",
			config: "Match localuser alice,bob\n  User ops\n",
			q:      Query{Host: "h", LocalUser: "bob"}, want: HostConfig{User: "ops"}},
		{desc: "negated criteria, several on one line",
			config: "Match !host a\n  Port 3\nMatch host a !originalhost b user root\n  User r\n",
			q:      Query{Host: "a", LocalUser: "root"}, want: HostConfig{User: "r"}},
		{desc: "Match canonical only in the final pass",
			config: "Match canonical\n  User c\n",
			q:      Query{Host: "a"}, want: HostConfig{}},
		{desc: "Match final: a second pass, Host lines against the settled name",
			config: "Host a\n  HostName Real.Example\nMatch final host real.example\n  User fin\nHost real.example\n  Port 7\nHost a\n  Port 8\n",
			q:      Query{Host: "a"}, want: HostConfig{HostName: "real.example", User: "fin", Port: 8}},
		{desc: "CanonicalizeHostname yes: a second pass",
			config: "Host short\n  HostName long.example\n  CanonicalizeHostname yes\n  CanonicalDomains corp.example\nHost long.example\n  User canon\n",
			q:      Query{Host: "short"}, want: HostConfig{HostName: "long.example", User: "canon"}, note: "does not canonicalise"},
		{desc: "ProxyJump none wins over a later ProxyJump",
			config: "Host a\n  ProxyJump none\nHost *\n  ProxyJump j\n",
			q:      Query{Host: "a"}, want: HostConfig{}},
		{desc: "ProxyCommand first: ProxyJump ignored",
			config: "Host a\n  ProxyCommand nc %h %p\n  ProxyJump j\n",
			q:      Query{Host: "a"}, want: HostConfig{ProxyCommand: "nc %h %p"}},
		{desc: "exec after a failed criterion is skipped, as ssh skips it",
			config: "Match host other exec \"rm -rf /\"\n  User never\n",
			q:      Query{Host: "a"}, want: HostConfig{}, note: "skipped"},
		{desc: "exec whose block sets nothing rdsgate uses: ignored with a note",
			config: "Match exec \"test -S ~/.1password/agent.sock\"\n  IdentityAgent ~/.1password/agent.sock\nHost *\n  User u\n",
			q:      Query{Host: "a"}, want: HostConfig{User: "u"}, note: "not evaluated"},
		{desc: "exec whose block sets a value already obtained: ignored",
			config: "Host a\n  User first\nMatch exec \"true\"\n  User second\n",
			q:      Query{Host: "a"}, want: HostConfig{User: "first"}},
		{desc: "exec whose block would set the user: undecided",
			config: "Match exec \"nc -z vpn 22\"\n  User viavpn\n  ForwardAgent no\n",
			q:      Query{Host: "a"}, want: HostConfig{Undecided: []Undecided{{Key: "user", Value: "viavpn", Where: "cfg:2", Match: "Match exec at cfg:1"}}}},
		{desc: "exec whose block would add an identity: undecided",
			config: "Host a\n  IdentityFile ~/.ssh/a\nMatch exec \"true\"\n  IdentityFile ~/.ssh/b\n",
			q:      Query{Host: "a"}, want: HostConfig{IdentityFiles: []string{"~/.ssh/a"}, Undecided: []Undecided{{Key: "identityfile", Value: "~/.ssh/b", Where: "cfg:4", Match: "Match exec at cfg:3"}}}},
		{desc: "exec in a final-pass config is reported once",
			config: "Match final\nMatch exec \"x\"\n  Port 1\n",
			q:      Query{Host: "a"}, want: HostConfig{Undecided: []Undecided{{Key: "port", Value: "1", Where: "cfg:3", Match: "Match exec at cfg:2"}}}},
		{desc: "criteria rdsgate does not evaluate behave like exec",
			config: "Match localnetwork 10.0.0.0/8\n  ProxyJump office\n",
			q:      Query{Host: "a"}, want: HostConfig{Undecided: []Undecided{{Key: "proxyjump", Value: "office", Where: "cfg:2", Match: "Match localnetwork at cfg:1"}}}},
		{desc: "the chain's port wins over the config's",
			config: "Host a\n  Port 2222\n",
			q:      Query{Host: "a", Port: 22}, want: HostConfig{Port: 22}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			cfg, err := ParseSSHConfig([]byte(tt.config), "cfg")
			if err != nil {
				if tt.wantErr != "" && strings.Contains(err.Error(), tt.wantErr) {
					return
				}
				t.Fatal(err)
			}
			got, err := cfg.Lookup(tt.q)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.note != "" && !strings.Contains(strings.Join(got.Notes, "\n"), tt.note) {
				t.Errorf("notes %q, want one with %q", got.Notes, tt.note)
			}
			got.Notes = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestResolveChainUndecided: values under a Match exec stop the chain only
// where they would matter.
func TestResolveChainUndecided(t *testing.T) {
	cfg, err := ParseSSHConfig([]byte(`
Match originalhost a exec "nc -z vpn 22"
  User viavpn
  IdentityFile ~/.ssh/vpn
Match originalhost b exec "true"
  ProxyJump office
Match originalhost c exec "true"
  ProxyCommand aws ssm start-session --target %h
`), "cfg")
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(chain string) ([]Hop, []string, error) {
		specs, err := ParseChain(chain)
		if err != nil {
			t.Fatal(err)
		}
		var warnings []string
		hops, err := ResolveChain(specs, cfg, "local", "/home/x", func(host, note string, important bool) {
			if important {
				warnings = append(warnings, note)
			}
		})
		return hops, warnings, err
	}
	if _, _, err := resolve("a"); err == nil || !strings.Contains(err.Error(), "sets User viavpn at cfg:3 under Match exec at cfg:2") {
		t.Errorf("undecided user: %v", err)
	}
	hops, warnings, err := resolve("me@a")
	if err != nil || hops[0].User != "me" {
		t.Fatalf("user given in the chain: %v %+v", err, hops)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "IdentityFile ~/.ssh/vpn not used") {
		t.Errorf("warnings %q", warnings)
	}
	if _, _, err := resolve("u@b"); err == nil || !strings.Contains(err.Error(), "ProxyJump office") {
		t.Errorf("undecided first-hop ProxyJump: %v", err)
	}
	if _, _, err := resolve("u@j,u@b"); err != nil {
		t.Errorf("ProxyJump of a later hop does not matter: %v", err)
	}
	if _, _, err := resolve("u@c"); err == nil || !strings.Contains(err.Error(), "ProxyCommand") {
		t.Errorf("undecided ProxyCommand: %v", err)
	}
	cfg, _ = ParseSSHConfig([]byte("Host c\n  ProxyCommand aws ssm start-session --target %h\n"), "cfg")
	if _, _, err := resolve("u@c"); err == nil || !strings.Contains(err.Error(), "does not run commands from ssh_config") {
		t.Errorf("ProxyCommand: %v", err)
	}
	if _, _, err := resolve("u@j,u@c"); err != nil {
		t.Errorf("ProxyCommand of a later hop does not matter: %v", err)
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
		"Match\n",
		"Match host\n",
		"Match foo x\n",
		"Match all host a\n",
		"Match !all\n",
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
	if _, err := cfg.Lookup(Query{Host: "a"}); err == nil || !strings.Contains(err.Error(), "c:2") {
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
		got, _ := cfg.Lookup(Query{Host: host})
		if !cmp.Equal(got, want) {
			t.Errorf("%s: %+v, want %+v", host, got, want)
		}
	}
	// Include loops end.
	os.WriteFile(filepath.Join(sshDir, "loop"), []byte("Include loop\n"), 0o600)
	if _, err := LoadSSHConfig(filepath.Join(sshDir, "loop"), home); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("include loop: %v", err)
	}
	if cfg, err := LoadSSHConfig(filepath.Join(home, "missing"), home); err != nil || len(cfg.entries) != 0 {
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
	hops, err := ResolveChain(specs, cfg, "local", "/home/x", nil)
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
	if _, err := ResolveChain(specs, cfg, "u", "/h", nil); err == nil {
		t.Error("ProxyJump loop accepted")
	}
}

func FuzzParseSSHConfig(f *testing.F) {
	f.Add([]byte(sampleConfig), "db.internal")
	f.Add([]byte("Host=a\nPort=1\n"), "a")
	f.Add([]byte("Host \"a b\" !c\n  ProxyJump x@y:1,z\n"), "a b")
	f.Add([]byte("Match all\nUser u\n"), "h")
	f.Add([]byte("Match host a exec \"x\" !user b,c final\n HostName %h.x\nHost *.x\n Port 3\nMatch canonical all\n ProxyCommand none\n"), "a")
	f.Fuzz(func(t *testing.T, data []byte, host string) {
		cfg, err := ParseSSHConfig(data, "fuzz")
		if err != nil {
			return
		}
		hc, err := cfg.Lookup(Query{Host: host, LocalUser: "u"})
		if err != nil {
			return
		}
		if hc.Port < 0 || hc.Port > 65535 {
			t.Fatalf("port %d", hc.Port)
		}
		if hc.ProxyJump != "" {
			if specs, err := ParseChain(hc.ProxyJump); err == nil {
				ResolveChain(specs, cfg, "u", "/h", nil)
			}
		}
	})
}
