package ssh

import (
	"strings"
	"testing"

	"golang.org/x/crypto/ssh/knownhosts"
)

func TestKnownHostsMatch(t *testing.T) {
	_, _, pub := newEd25519(t)
	key := strings.Fields(pub)
	keyText := key[0] + " " + key[1]
	for _, tt := range []struct {
		hosts string
		name  string
		want  bool
	}{
		{"bastion.example", "bastion.example", true},
		{"BASTION.example", "bastion.example", true},
		{"bastion.example", "[bastion.example]:2222", false},
		{"[bastion.example]:2222", "[bastion.example]:2222", true},
		{"*.example", "bastion.example", true},
		{"*", "[bastion.example]:2222", true},
		{"*.example,!db.example", "db.example", false},
		{"!db.example,*.example", "db.example", false},
		{"!db.example", "other.example", false},
		{"10.0.0.?", "10.0.0.5", true},
		{"10.0.0.?", "10.0.0.55", false},
		{knownhosts.HashHostname("[10.0.0.5]:2222"), "[10.0.0.5]:2222", true},
		{knownhosts.HashHostname("[10.0.0.5]:2222"), "10.0.0.5", false},
		{"|1|bad|hash", "x", false},
	} {
		l, err := parseKnownHostsLine([]byte(tt.hosts + " " + keyText + " comment"))
		if err != nil {
			t.Fatalf("%s: %v", tt.hosts, err)
		}
		if got := l.matches(tt.name); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v", tt.hosts, tt.name, got, tt.want)
		}
	}
	for _, line := range []string{"", "   ", "# comment"} {
		if l, err := parseKnownHostsLine([]byte(line)); l != nil || err != nil {
			t.Errorf("%q: %v %v", line, l, err)
		}
	}
	for _, bad := range []string{"host", "host ssh-ed25519", "@other host " + keyText, "host ssh-ed25519 !!!"} {
		if _, err := parseKnownHostsLine([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	l, _ := parseKnownHostsLine([]byte("@cert-authority *.example " + keyText))
	if l.marker != "cert-authority" {
		t.Errorf("marker %q", l.marker)
	}
}

func FuzzKnownHostsLine(f *testing.F) {
	f.Add([]byte("@cert-authority *.example,!x ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKKfo1jV6ewNpNLDI/lVgiTyXe/6HDDbGcgQvY1KEKas c"), "a.example")
	f.Add([]byte("|1|c2FsdA==|aGFzaA== ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKKfo1jV6ewNpNLDI/lVgiTyXe/6HDDbGcgQvY1KEKas"), "[h]:22")
	f.Fuzz(func(t *testing.T, line []byte, name string) {
		l, err := parseKnownHostsLine(line)
		if err != nil || l == nil {
			return
		}
		l.matches(name)
	})
}
