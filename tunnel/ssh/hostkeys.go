package ssh

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// UnknownHostKeyError is returned when a hop's host key is in no
// known_hosts file and AcceptNew is off.
type UnknownHostKeyError struct {
	Host        string // known_hosts form: "host" or "[host]:port"
	KeyType     string // e.g. "ssh-ed25519"
	Fingerprint string // "SHA256:..."
	File        string // the known_hosts file to add it to
	Command     string // the one command that trusts the host
	Behind      string // the hop it is reached through, if any
}

func (e *UnknownHostKeyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ssh: host %s is not known: it presented %s key %s, found in no known_hosts file; refusing to connect. ",
		e.Host, e.KeyType, e.Fingerprint)
	b.WriteString("Check the fingerprint with the host's owner (e.g. the console output of the instance), then trust it with:\n    ")
	b.WriteString(e.Command)
	if e.Behind != "" {
		fmt.Fprintf(&b, "\n  (run it on %s, the hop this host is reached through)", e.Behind)
	}
	b.WriteString("\nor connect once with --ssh-accept-new to record it on first use")
	return b.String()
}

// HostKeyChangedError is returned when a hop presents a key other than the
// one(s) recorded for it. The recorded key is never replaced.
type HostKeyChangedError struct {
	Host        string
	KeyType     string
	Fingerprint string                // what the server presented
	Known       []knownhosts.KnownKey // what the files say
}

func (e *HostKeyChangedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ssh: WARNING: THE HOST KEY OF %s HAS CHANGED; refusing to connect. "+
		"Someone could be intercepting the connection (man in the middle), or the host was rebuilt. "+
		"It presented %s key %s, but ", e.Host, e.KeyType, e.Fingerprint)
	for i, k := range e.Known {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s:%d has %s key %s", k.Filename, k.Line, k.Key.Type(), ssh.FingerprintSHA256(k.Key))
	}
	file := "~/.ssh/known_hosts"
	if len(e.Known) > 0 {
		file = e.Known[0].Filename
	}
	fmt.Fprintf(&b, ". Only if you have confirmed the new key with the host's owner, remove the old entry with\n    ssh-keygen -R %s -f %s\nand trust the new key.",
		shellQuote(e.Host), shellQuote(file))
	return b.String()
}

// RevokedHostKeyError is returned when a hop presents a key marked
// @revoked.
type RevokedHostKeyError struct {
	Host        string
	Fingerprint string
	Where       string // file:line
}

func (e *RevokedHostKeyError) Error() string {
	return fmt.Sprintf("ssh: host %s presented key %s, which %s marks @revoked; refusing to connect", e.Host, e.Fingerprint, e.Where)
}

// hostKeys checks host keys against known_hosts files and, with
// acceptNew, records unknown ones in the first file.
type hostKeys struct {
	files     []string // the first one is written with acceptNew
	acceptNew bool
	hash      bool
	log       *slog.Logger
	home      string
	probe     ssh.PublicKey // a key in no file, to list a host's known keys

	mu sync.Mutex // serialises reading-then-appending
}

func newHostKeys(files []string, acceptNew, hash bool, home string, log *slog.Logger) (*hostKeys, error) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return &hostKeys{files: files, acceptNew: acceptNew, hash: hash, log: log, home: home, probe: probe}, nil
}

// load reads the files afresh (so that keys recorded meanwhile count).
// Missing files are skipped; if none exists every host is unknown.
func (h *hostKeys) load() (ssh.HostKeyCallback, error) {
	var existing []string
	for _, f := range h.files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
	}
	if len(existing) == 0 {
		return func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }, nil
	}
	cb, err := knownhosts.New(existing...)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w (fix or remove the bad line)", err)
	}
	return cb, nil
}

// forHop returns the host key callback for hop and the host key
// algorithms to ask for: those of the keys known for it, so that a server
// with several host keys presents the one on record (none known: the
// defaults).
func (h *hostKeys) forHop(hop Hop, behind string) (ssh.HostKeyCallback, []string, error) {
	cb, err := h.load()
	if err != nil {
		return nil, nil, err
	}
	addr := hop.Addr()
	var algos []string
	var ke *knownhosts.KeyError
	if err := cb(addr, anyTCPAddr, h.probe); errors.As(err, &ke) {
		for _, k := range ke.Want {
			algos = appendAlgos(algos, k.Key.Type())
		}
	}
	check := func(_ string, _ net.Addr, key ssh.PublicKey) error {
		return h.check(hop, behind, key)
	}
	return check, algos, nil
}

var anyTCPAddr = &net.TCPAddr{IP: net.IPv4zero}

// check verifies key for hop, recording it when allowed.
func (h *hostKeys) check(hop Hop, behind string, key ssh.PublicKey) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	cb, err := h.load()
	if err != nil {
		return err
	}
	addr := hop.Addr()
	name := knownhosts.Normalize(addr)
	fp := ssh.FingerprintSHA256(key)
	err = cb(addr, anyTCPAddr, key)
	if err == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		return &RevokedHostKeyError{Host: name, Fingerprint: fp, Where: re.Revoked.Filename + ":" + strconv.Itoa(re.Revoked.Line)}
	case errors.As(err, &ke) && len(ke.Want) > 0:
		h.log.Error("ssh host key changed; refusing", "host", name, "presented", fp)
		return &HostKeyChangedError{Host: name, KeyType: key.Type(), Fingerprint: fp, Known: ke.Want}
	case errors.As(err, &ke):
		if !h.acceptNew || len(h.files) == 0 {
			file := "~/.ssh/known_hosts"
			if len(h.files) > 0 {
				file = h.display(h.files[0])
			}
			cmd := "ssh-keyscan -t " + keyscanType(key.Type())
			if hop.Port != DefaultPort {
				cmd += " -p " + strconv.Itoa(hop.Port)
			}
			cmd += " " + shellQuote(hop.Host) + " >> " + file
			return &UnknownHostKeyError{Host: name, KeyType: key.Type(), Fingerprint: fp, File: file, Command: cmd, Behind: behind}
		}
		if err := h.record(name, key); err != nil {
			return err
		}
		h.log.Warn("ssh host key recorded on first use (accept-new)", "host", name, "key_type", key.Type(), "fingerprint", fp, "file", h.files[0])
		return nil
	default:
		return fmt.Errorf("ssh: check host key of %s: %w", name, err)
	}
}

// record appends a known_hosts line for key to the first file (created
// 0600, its directory 0700), hashed if asked.
func (h *hostKeys) record(name string, key ssh.PublicKey) error {
	f := h.files[0]
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	host := name
	if h.hash {
		host = knownhosts.HashHostname(name)
	}
	line := knownhosts.Line([]string{host}, key) + "\n"
	fh, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	// Start on a new line if the file does not end with one.
	if st, err := fh.Stat(); err == nil && st.Size() > 0 {
		if last := lastByte(f); last != '\n' {
			line = "\n" + line
		}
	}
	if _, err := fh.WriteString(line); err != nil {
		fh.Close()
		return fmt.Errorf("record host key: %w", err)
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	return nil
}

func lastByte(path string) byte {
	f, err := os.Open(path)
	if err != nil {
		return '\n'
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return '\n'
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, st.Size()-1); err != nil {
		return '\n'
	}
	return b[0]
}

// display shortens a path under home to ~/...
func (h *hostKeys) display(p string) string {
	if h.home != "" {
		if rel, ok := strings.CutPrefix(p, h.home+string(filepath.Separator)); ok {
			return "~/" + rel
		}
	}
	return shellQuote(p)
}

// appendAlgos adds the host key algorithms that can present a key of type t.
func appendAlgos(algos []string, t string) []string {
	var add []string
	switch t {
	case ssh.KeyAlgoRSA:
		add = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	default:
		add = []string{t}
	}
	for _, a := range add {
		dup := false
		for _, b := range algos {
			dup = dup || a == b
		}
		if !dup {
			algos = append(algos, a)
		}
	}
	return algos
}

// keyscanType is ssh-keyscan's -t name for a key type.
func keyscanType(t string) string {
	switch t {
	case ssh.KeyAlgoED25519:
		return "ed25519"
	case ssh.KeyAlgoRSA:
		return "rsa"
	case ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return "ecdsa"
	}
	return t
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@~+%,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
