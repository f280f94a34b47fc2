package ssh

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/rdsgate/rdsgate/internal/testharness"
)

func TestHostKeys(t *testing.T) {
	t.Parallel()
	s, key := sshdWithKey(t, testharness.SSHDOptions{})
	hostKey := hostPublicKey(t, s)
	fp := ssh.FingerprintSHA256(hostKey)
	name := fmt.Sprintf("[%s]:%d", s.Host, s.Port)

	t.Run("unknown refused, then trusted with the command given", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "known_hosts")
		opts := baseOptions(t, s, key)
		opts.KnownHostsFiles = []string{kh}
		_, err := New(testCtx(t), opts)
		var uk *UnknownHostKeyError
		if !errors.As(err, &uk) {
			t.Fatalf("unknown host: %v", err)
		}
		if uk.Fingerprint != fp || uk.Host != name || !strings.Contains(err.Error(), fp) || !strings.Contains(err.Error(), "connect once with ssh_accept_new") {
			t.Fatalf("unknown host error: %v", err)
		}
		want := fmt.Sprintf("ssh-keyscan -t ed25519 -p %d 127.0.0.1 >> %s", s.Port, kh)
		if uk.Command != want {
			t.Fatalf("command %q, want %q", uk.Command, want)
		}
		if _, err := os.Stat(kh); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("known_hosts written without AcceptNew")
		}
		runShell(t, uk.Command)
		newDialer(t, opts)
	})

	t.Run("changed key refused, never overwritten", func(t *testing.T) {
		_, other, _ := newEd25519(t)
		kh := filepath.Join(t.TempDir(), "known_hosts")
		line := knownhosts.Line([]string{name}, other.PublicKey()) + "\n"
		if err := os.WriteFile(kh, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, acceptNew := range []bool{false, true} {
			opts := baseOptions(t, s, key)
			opts.KnownHostsFiles = []string{kh}
			opts.AcceptNew = acceptNew
			_, err := New(testCtx(t), opts)
			var ch *HostKeyChangedError
			if !errors.As(err, &ch) || ch.Fingerprint != fp || !strings.Contains(err.Error(), "HAS CHANGED") ||
				!strings.Contains(err.Error(), kh+":1") || !strings.Contains(err.Error(), "ssh-keygen -R") {
				t.Fatalf("acceptNew=%v: changed key: %v", acceptNew, err)
			}
			if b, _ := os.ReadFile(kh); string(b) != line {
				t.Fatalf("known_hosts changed: %q", b)
			}
		}
	})

	t.Run("accept-new records once then verifies", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "sub", "known_hosts")
		opts := baseOptions(t, s, key)
		opts.KnownHostsFiles = []string{kh}
		opts.AcceptNew = true
		newDialer(t, opts)
		newDialer(t, opts)
		b, err := os.ReadFile(kh)
		if err != nil {
			t.Fatal(err)
		}
		if want := s.KnownHostsLine() + "\n"; string(b) != want {
			t.Fatalf("known_hosts = %q, want %q", b, want)
		}
		if st, _ := os.Stat(kh); st.Mode().Perm() != 0o600 {
			t.Errorf("known_hosts mode %v", st.Mode().Perm())
		}
		opts.AcceptNew = false
		newDialer(t, opts)
	})

	t.Run("hashed hosts", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "known_hosts")
		opts := baseOptions(t, s, key)
		opts.KnownHostsFiles = []string{kh}
		opts.AcceptNew = true
		opts.HashKnownHosts = true
		newDialer(t, opts)
		b, _ := os.ReadFile(kh)
		if !strings.HasPrefix(string(b), "|1|") || strings.Contains(string(b), "127.0.0.1") {
			t.Fatalf("not hashed: %q", b)
		}
		opts.AcceptNew = false
		newDialer(t, opts) // verifies against the hashed line
	})

	t.Run("several files, first missing", func(t *testing.T) {
		opts := baseOptions(t, s, key)
		opts.KnownHostsFiles = []string{filepath.Join(t.TempDir(), "nope"), s.KnownHostsFile}
		newDialer(t, opts)
	})
}
