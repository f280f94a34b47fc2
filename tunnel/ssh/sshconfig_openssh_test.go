package ssh

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rdsgate/rdsgate/internal/testpeer"
)

// resolved is what a hop ends up with, in `ssh -G` terms.
type resolved struct {
	HostName      string
	User          string
	Port          int
	IdentityFiles []string
	ProxyJump     string
	ProxyCommand  string
}

// sshG runs OpenSSH's `ssh -G -F file [-p port] [user@]host` and reads
// the keywords rdsgate honours.
func sshG(t *testing.T, file string, q Query) resolved {
	t.Helper()
	args := []string{"-G", "-F", file}
	if q.Port != 0 {
		args = append(args, "-p", strconv.Itoa(q.Port))
	}
	target := q.Host
	if q.User != "" {
		target = q.User + "@" + q.Host
	}
	cmd := exec.Command("ssh", append(args, target)...)
	cmd.Stdin = nil
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("ssh %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, stderr)
	}
	var r resolved
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		switch k {
		case "hostname":
			r.HostName = v
		case "user":
			r.User = v
		case "port":
			r.Port, _ = strconv.Atoi(v)
		case "identityfile":
			r.IdentityFiles = append(r.IdentityFiles, v)
		case "proxyjump":
			r.ProxyJump = v
		case "proxycommand":
			r.ProxyCommand = v
		}
	}
	return r
}

// TestSSHConfigAgainstOpenSSH resolves hosts under several configs with
// rdsgate and with `ssh -G` (the reference) and compares HostName, User,
// Port, IdentityFile, ProxyJump and ProxyCommand.
func TestSSHConfigAgainstOpenSSH(t *testing.T) {
	testpeer.LookPath(t, "apt-get install openssh-client", "ssh")
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	local := me.Username
	dir := t.TempDir()
	incDir := filepath.Join(dir, "conf.d")
	os.MkdirAll(incDir, 0o700)
	os.WriteFile(filepath.Join(incDir, "a.conf"), []byte("User from-include\nHost inc-b\n  Port 2022\n"), 0o600)

	// ssh -G lists its default identity files when none is configured.
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	defaults := sshG(t, empty, Query{Host: "x"}).IdentityFiles

	configs := []struct {
		name    string
		text    string
		queries []Query
	}{
		{"hosts and match", `
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
Match host *.example.com user ops
  Port 2345
  IdentityFile ~/.ssh/ops_%r
Match originalhost BASTION-*
  User upper
Match !host *.internal,*.example.com localuser ` + local + `
  IdentityFile ~/.ssh/local_%u
Host *
  User fallback
  Port 22
  IdentityFile ~/.ssh/id_default
`, []Query{{Host: "bastion-prod"}, {Host: "BASTION-PROD"}, {Host: "db.internal"}, {Host: "skip.internal"},
			{Host: "db1"}, {Host: "db1", User: "me", Port: 2022}, {Host: "db12"}, {Host: "x"}, {Host: "db.internal", User: "dba"}}},
		{"final pass", `
Host a
  HostName Real.Example
Match final host real.example
  User fin
Host real.example
  Port 7
Match canonical originalhost a
  IdentityFile ~/.ssh/canon
`, []Query{{Host: "a"}, {Host: "b"}, {Host: "real.example"}}},
		{"canonicalize", `
Host short
  HostName long.example
  CanonicalizeHostname yes
Host long.example
  User canon
  ProxyJump j1
Host *
  ProxyJump none
`, []Query{{Host: "short"}, {Host: "long.example"}, {Host: "other"}}},
		{"match user order", `
Match user bob
  HostName bobhost
Host *
  User bob
Match user bob
  Port 2
Match user alice
  Port 3
`, []Query{{Host: "h"}, {Host: "h", User: "bob"}, {Host: "h", User: "alice", Port: 44}}},
		{"match all and negation", `
Match all
  User all
Match !host a
  Port 3
Match host a !originalhost b
  Port 4
`, []Query{{Host: "a"}, {Host: "b"}}},
		{"exec that cannot matter", `
Match host other exec "exit 0"
  User never
Match exec "exit 0"
  ForwardAgent no
Host *
  User u
`, []Query{{Host: "a"}}},
		{"proxy jump and command", `
Host a
  ProxyJump j
  ProxyCommand nc %h %p
Host b
  ProxyCommand nc %h %p
  ProxyJump j
Host c
  ProxyJump none
Host *
  ProxyJump k
`, []Query{{Host: "a"}, {Host: "b"}, {Host: "c"}, {Host: "d"}}},
		{"include in a match block", `
Match originalhost inc-*
  Include ` + incDir + `/*.conf
Host *
  User last
`, []Query{{Host: "inc-a"}, {Host: "inc-b"}, {Host: "other"}}},
	}
	for _, c := range configs {
		file := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
		if err := os.WriteFile(file, []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadSSHConfig(file, dir)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, q := range c.queries {
			q.LocalUser = local
			hc, err := cfg.Lookup(q)
			if err != nil {
				t.Errorf("%s, %+v: %v", c.name, q, err)
				continue
			}
			got := resolved{HostName: first(hc.HostName, lowerName(q.Host)), User: first(hc.User, local), Port: hc.Port,
				IdentityFiles: hc.IdentityFiles, ProxyJump: hc.ProxyJump, ProxyCommand: hc.ProxyCommand}
			if got.Port == 0 {
				got.Port = DefaultPort
			}
			if len(got.IdentityFiles) == 0 {
				got.IdentityFiles = defaults
			}
			want := sshG(t, file, q)
			t.Logf("%s, %s: %+v", c.name, HopSpec{User: q.User, Host: q.Host, Port: q.Port}, want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s, %s: rdsgate differs from ssh -G (-ssh +rdsgate):\n%s", c.name, HopSpec{User: q.User, Host: q.Host, Port: q.Port}, diff)
			}
		}
	}
}
