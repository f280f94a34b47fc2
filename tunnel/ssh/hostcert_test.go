package ssh

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
)

// certHost is an sshd whose ECDSA host key carries a certificate made with
// ssh-keygen -s (next to the harness's plain ed25519 key).
type certHost struct {
	sshd     *testharness.SSHD
	clientID string // identity file that may log in
	caPub    string // "ssh-ed25519 AAAA..." of the signing CA
	keyPub   string // the certified key, plain
	certFP   string // SHA256 fingerprint of the certified key
}

// newCA makes a CA key pair with ssh-keygen; it returns the private key
// file and the public key line (without comment).
func newCA(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	f := filepath.Join(dir, name)
	runShell(t, "ssh-keygen -q -t ed25519 -N '' -C "+name+" -f "+f)
	return f, pubLine(t, f+".pub")
}

func pubLine(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	return f[0] + " " + f[1]
}

// startCertHost signs a fresh ECDSA host key with caKey for principals and
// validity (ssh-keygen -V syntax) and starts an sshd presenting it.
func startCertHost(t *testing.T, caKey, principals, validity string) *certHost {
	t.Helper()
	needSSHD(t)
	dir := t.TempDir()
	hk := filepath.Join(dir, "host_ecdsa_key")
	runShell(t, "ssh-keygen -q -t ecdsa -b 256 -N '' -C certified-host -f "+hk)
	runShell(t, fmt.Sprintf("ssh-keygen -q -s %s -I rdsgate-test-host -h -n %s -V %s %s.pub", caKey, principals, validity, hk))
	s, id := sshdWithKey(t, testharness.SSHDOptions{Extra: []string{
		"HostKey " + hk,
		"HostCertificate " + hk + "-cert.pub",
	}})
	ch := &certHost{sshd: s, clientID: id, keyPub: pubLine(t, hk+".pub")}
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(ch.keyPub))
	if err != nil {
		t.Fatal(err)
	}
	ch.certFP = ssh.FingerprintSHA256(k)
	ch.caPub = pubLine(t, caKey+".pub")
	return ch
}

// openSSHAccepts runs OpenSSH's ssh with StrictHostKeyChecking=yes and only
// kh as known_hosts, and reports whether it logged in.
func openSSHAccepts(t *testing.T, h *certHost, kh string) (bool, string) {
	t.Helper()
	cmd := exec.Command("ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile="+kh, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
		"-i", h.clientID, "-p", strconv.Itoa(h.sshd.Port), h.sshd.User+"@"+h.sshd.Host, "true")
	out, err := cmd.CombinedOutput()
	return err == nil, string(out)
}

func TestHostCertificates(t *testing.T) {
	t.Parallel()
	testpeer.LookPath(t, sshdHow, "ssh")
	dir := t.TempDir()
	ca, caPub := newCA(t, dir, "host_ca")
	_, otherCAPub := newCA(t, dir, "other_ca")
	good := startCertHost(t, ca, "127.0.0.1,bastion.example", "-5m:+1h")
	name := fmt.Sprintf("[127.0.0.1]:%d", good.sshd.Port)

	type verdict int
	const (
		ok verdict = iota
		unknown
		changed
		revoked
		badCert
	)
	tests := []struct {
		desc  string
		host  *certHost
		lines []string // known_hosts
		want  verdict
		check func(t *testing.T, err error)
	}{
		{desc: "CA trusted for [host]:port", host: good,
			lines: []string{"@cert-authority " + name + " " + caPub}, want: ok},
		{desc: "CA trusted for *", host: good,
			lines: []string{"@cert-authority * " + caPub}, want: ok},
		{desc: "CA trusted for the name without the port (OpenSSH retries without it)", host: good,
			lines: []string{"@cert-authority 127.0.0.1 " + caPub}, want: ok},
		{desc: "CA trusted by wildcard, negation for another name", host: good,
			lines: []string{"@cert-authority 127.0.0.*,!10.0.0.1 " + caPub}, want: ok},
		{desc: "CA trusted under a hashed name", host: good,
			lines: []string{"@cert-authority " + knownhosts.HashHostname(name) + " " + caPub}, want: ok},
		{desc: "CA line for other hosts only", host: good,
			lines: []string{"@cert-authority *.example.com " + caPub}, want: unknown,
			check: func(t *testing.T, err error) {
				var uk *UnknownHostKeyError
				if !errors.As(err, &uk) || uk.Fingerprint != good.certFP || !strings.Contains(err.Error(), "@cert-authority") {
					t.Errorf("error: %v", err)
				}
			}},
		{desc: "[host]:port negated, the name without the port still matches (as in OpenSSH)", host: good,
			lines: []string{"@cert-authority *,!" + name + " " + caPub}, want: ok},
		{desc: "host excluded from the CA by negations", host: good,
			lines: []string{"@cert-authority *,!" + name + ",!127.0.0.1 " + caPub}, want: unknown},
		{desc: "another CA trusted for the host", host: good,
			lines: []string{"@cert-authority * " + otherCAPub}, want: unknown},
		{desc: "CA not trusted, certified key recorded as a plain key", host: good,
			lines: []string{name + " " + good.keyPub}, want: ok},
		{desc: "CA not trusted, another key recorded", host: good,
			lines: []string{name + " " + otherCAPub}, want: changed},
		{desc: "CA revoked", host: good,
			lines: []string{"@cert-authority * " + caPub, "@revoked * " + caPub}, want: revoked,
			check: func(t *testing.T, err error) {
				var re *RevokedHostKeyError
				if !errors.As(err, &re) || !re.CA || !strings.Contains(err.Error(), ":2") {
					t.Errorf("error: %v", err)
				}
			}},
		{desc: "certified key revoked", host: good,
			lines: []string{"@cert-authority * " + caPub, "@revoked * " + good.keyPub}, want: revoked,
			check: func(t *testing.T, err error) {
				var re *RevokedHostKeyError
				if !errors.As(err, &re) || re.CA || re.Fingerprint != good.certFP {
					t.Errorf("error: %v", err)
				}
			}},
	}

	wrongName := startCertHost(t, ca, "bastion.example", "-5m:+1h")
	expired := startCertHost(t, ca, "127.0.0.1", "20200101:20200102")
	future := startCertHost(t, ca, "127.0.0.1", "+1d:+2d")
	for _, c := range []struct {
		h      *certHost
		reason string
	}{{wrongName, "it is for bastion.example, not 127.0.0.1"}, {expired, "expired at 20"}, {future, "valid only from"}} {
		tests = append(tests, struct {
			desc  string
			host  *certHost
			lines []string
			want  verdict
			check func(t *testing.T, err error)
		}{desc: "invalid certificate: " + c.reason, host: c.h, lines: []string{"@cert-authority * " + caPub}, want: badCert,
			check: func(t *testing.T, err error) {
				var ce *HostCertificateError
				if !errors.As(err, &ce) || !strings.Contains(ce.Reason, c.reason) || ce.Fingerprint != c.h.certFP {
					t.Errorf("error: %v", err)
				}
			}})
	}
	tests = append(tests, struct {
		desc  string
		host  *certHost
		lines []string
		want  verdict
		check func(t *testing.T, err error)
	}{desc: "invalid certificate, but its key recorded as a plain key", host: expired,
		lines: []string{"@cert-authority * " + caPub, fmt.Sprintf("[127.0.0.1]:%d %s", expired.sshd.Port, expired.keyPub)}, want: ok})

	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "known_hosts")
			content := strings.Join(tt.lines, "\n") + "\n"
			if err := os.WriteFile(kh, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, acceptNew := range []bool{false, true} {
				opts := baseOptions(t, tt.host.sshd, tt.host.clientID)
				opts.KnownHostsFiles = []string{kh}
				opts.AcceptNew = acceptNew
				d, err := New(testCtx(t), opts)
				if d != nil {
					d.Close()
				}
				var got verdict
				var uk *UnknownHostKeyError
				var ch *HostKeyChangedError
				var re *RevokedHostKeyError
				var ce *HostCertificateError
				switch {
				case err == nil:
					got = ok
				case errors.As(err, &uk):
					got = unknown
				case errors.As(err, &ch):
					got = changed
				case errors.As(err, &re):
					got = revoked
				case errors.As(err, &ce):
					got = badCert
				default:
					t.Fatalf("acceptNew=%v: unexpected error: %v", acceptNew, err)
				}
				want := tt.want
				if acceptNew && want == unknown {
					want = ok // recorded on first use
				}
				if got != want {
					t.Fatalf("acceptNew=%v: verdict %d, want %d (err %v)", acceptNew, got, want, err)
				}
				if !acceptNew && err != nil {
					t.Logf("refused: %v", err)
				}
				if tt.check != nil && !acceptNew {
					tt.check(t, err)
				}
				b, _ := os.ReadFile(kh)
				if acceptNew && tt.want == unknown {
					// The plain certified key is recorded, not the certificate.
					wantLine := fmt.Sprintf("[127.0.0.1]:%d %s", tt.host.sshd.Port, tt.host.keyPub)
					if !strings.HasSuffix(string(b), wantLine+"\n") {
						t.Fatalf("known_hosts after accept-new:\n%s\nwant it to end with %s", b, wantLine)
					}
					if err := os.WriteFile(kh, []byte(content), 0o600); err != nil {
						t.Fatal(err)
					}
				} else if string(b) != content {
					t.Fatalf("acceptNew=%v: known_hosts changed:\n%s", acceptNew, b)
				}
			}
			// OpenSSH, the reference, reaches the same verdict with
			// StrictHostKeyChecking=yes.
			accepted, out := openSSHAccepts(t, tt.host, kh)
			if accepted != (tt.want == ok) {
				t.Errorf("OpenSSH accepted=%v, rdsgate verdict %d:\n%s", accepted, tt.want, out)
			}
		})
	}
}

// TestHostCertificateCheck covers the certificate rules without a server.
func TestHostCertificateCheck(t *testing.T) {
	_, caSigner, _ := newEd25519(t)
	_, hostSigner, _ := newEd25519(t)
	h, _ := newHostKeys(nil, false, false, "", nil)
	sign := func(mod func(c *ssh.Certificate)) *ssh.Certificate {
		c := &ssh.Certificate{Key: hostSigner.PublicKey(), CertType: ssh.HostCert, ValidPrincipals: []string{"bastion.example"},
			ValidBefore: ssh.CertTimeInfinity}
		if mod != nil {
			mod(c)
		}
		if err := c.SignCert(rand.Reader, caSigner); err != nil {
			t.Fatal(err)
		}
		return c
	}
	tampered := sign(nil)
	tampered.ValidPrincipals = []string{"other.example"}
	for _, tt := range []struct {
		desc      string
		cert      *ssh.Certificate
		principal string
		want      string // "" valid
	}{
		{"valid", sign(nil), "bastion.example", ""},
		{"other principal", sign(nil), "other.example", "it is for bastion.example, not other.example"},
		{"wildcard principals are not patterns", sign(func(c *ssh.Certificate) { c.ValidPrincipals = []string{"*.example"} }), "bastion.example", "not bastion.example"},
		{"user certificate", sign(func(c *ssh.Certificate) { c.CertType = ssh.UserCert }), "bastion.example", "user certificate"},
		{"expired", sign(func(c *ssh.Certificate) { c.ValidBefore = 1 }), "bastion.example", "expired at 1970-01-01T00:00:01Z"},
		{"not yet valid", sign(func(c *ssh.Certificate) { c.ValidAfter = 1 << 40 }), "bastion.example", "valid only from"},
		{"tampered after signing", tampered, "other.example", "signature"},
	} {
		if got := h.checkCert(tt.cert, tt.principal); (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.desc, got, tt.want)
		}
	}
}
