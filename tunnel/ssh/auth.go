package ssh

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/rdsgate/rdsgate/setting"
)

// PassphraseFunc asks the user for the passphrase of an encrypted identity
// file (e.g. from the terminal). The returned slice is wiped after use.
type PassphraseFunc func(file string) ([]byte, error)

// defaultIdentityNames are tried in ~/.ssh when no identity file is
// configured for a hop, as OpenSSH does.
var defaultIdentityNames = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// identity is a loaded private key and where it came from.
type identity struct {
	file   string
	signer ssh.Signer
}

// loadIdentity reads an OpenSSH (or PEM) private key file. An encrypted
// key is decrypted with a passphrase from prompt; with no prompt the error
// says how to use the agent instead.
func loadIdentity(file string, prompt PassphraseFunc) (ssh.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ssh identity file: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err == nil {
		return signer, nil
	}
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		return nil, fmt.Errorf("ssh identity file %s: %w (want an OpenSSH private key, as written by ssh-keygen)", file, err)
	}
	if prompt == nil {
		return nil, fmt.Errorf("ssh identity file %s is protected by a passphrase and there is no terminal to ask for it: "+
			"load it into your agent with `ssh-add %s` (rdsgate uses the agent from SSH_AUTH_SOCK), then run again", file, shellQuote(file))
	}
	pass, err := prompt(file)
	if err != nil {
		return nil, fmt.Errorf("ssh identity file %s: passphrase: %w", file, err)
	}
	defer clear(pass)
	signer, err = ssh.ParsePrivateKeyWithPassphrase(data, pass)
	if errors.Is(err, x509.IncorrectPasswordError) {
		return nil, fmt.Errorf("ssh identity file %s: wrong passphrase", file)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh identity file %s: %w", file, err)
	}
	return signer, nil
}

// loadIdentities loads explicit files (errors are fatal) and, when there
// are none, the default ~/.ssh/id_* files that exist and need no
// passphrase (or that prompt can unlock).
func loadIdentities(explicit []string, home string, prompt PassphraseFunc, log *slog.Logger) ([]identity, error) {
	var out []identity
	for _, f := range explicit {
		s, err := loadIdentity(f, prompt)
		if err != nil {
			return nil, err
		}
		out = append(out, identity{file: f, signer: s})
	}
	if len(explicit) > 0 || home == "" {
		return out, nil
	}
	for _, n := range defaultIdentityNames {
		f := filepath.Join(home, ".ssh", n)
		if _, err := os.Stat(f); err != nil {
			continue
		}
		s, err := loadIdentity(f, prompt)
		if err != nil {
			log.Debug("skipping default ssh identity", "file", f, "err", err)
			continue
		}
		out = append(out, identity{file: f, signer: s})
	}
	return out, nil
}

// agentKeys connects to the ssh-agent at sock and returns its signers and
// a function closing the connection (signing needs it open until the
// handshake ends). A missing or broken agent is logged and skipped.
func agentKeys(sock string, log *slog.Logger) ([]ssh.Signer, func()) {
	if sock == "" {
		return nil, func() {}
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		log.Warn("ssh-agent not reachable; continuing without it", "socket", sock, "err", err)
		return nil, func() {}
	}
	signers, err := agent.NewClient(c).Signers()
	if err != nil {
		c.Close()
		log.Warn("ssh-agent did not list its keys; continuing without it", "socket", sock, "err", err)
		return nil, func() {}
	}
	return signers, func() { c.Close() }
}

// offer is the keys tried for one hop, in order, without duplicates.
type offer struct {
	signers []ssh.Signer
	what    []string // human descriptions, for errors
}

func (o *offer) add(s ssh.Signer, what string) {
	blob := s.PublicKey().Marshal()
	for _, have := range o.signers {
		if bytes.Equal(have.PublicKey().Marshal(), blob) {
			return
		}
	}
	o.signers = append(o.signers, s)
	o.what = append(o.what, what+" "+ssh.FingerprintSHA256(s.PublicKey()))
}

// authError explains a failed login and the next steps.
func authError(hop Hop, o *offer, eic bool, agentSock string, err error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "ssh: %s refused every key offered", hop)
	if len(o.what) == 0 {
		b.WriteString(" (there was none)")
	} else {
		fmt.Fprintf(&b, " (%s)", strings.Join(o.what, "; "))
	}
	b.WriteString(". Next steps: ")
	var next setting.Text
	switch {
	case eic:
		next = setting.Textf("the key pushed with EC2 Instance Connect was not accepted: check that the bastion runs the ec2-instance-connect package "+
			"(sshd AuthorizedKeysCommand /opt/aws/bin/eic_run_authorized_keys), that %q is its OS user, and that less than 60 s passed between the push and the login", hop.User)
	case agentSock == "":
		next = setting.Textf("no ssh-agent is in use (SSH_AUTH_SOCK is unset, or the agent is off): start one with `eval $(ssh-agent)` and load your key with `ssh-add ~/.ssh/id_ed25519`, "+
			"or pass %s, or use %s", setting.SSHIdentity.Is("FILE"), setting.SSHEIC)
	default:
		next = setting.Textf("load the right key into your agent with `ssh-add ~/.ssh/KEY`, or pass %s, or use %s; "+
			"and check that its public key is in ~%s/.ssh/authorized_keys on the host", setting.SSHIdentity.Is("FILE"), setting.SSHEIC, hop.User)
	}
	return setting.Errorf("%s%s: %w", b.String(), next, err)
}
