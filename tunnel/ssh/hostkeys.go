package ssh

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/rdsgate/rdsgate/setting"
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
	// UntrustedCA is the fingerprint of the CA that signed the host
	// certificate presented, when no @cert-authority line trusts it for
	// the host (the key itself is then checked as a plain key).
	UntrustedCA string
}

func (e *UnknownHostKeyError) Error() string { return e.Render(setting.Style{}) }

// Render is the message with the setting that records a first key spelled
// in s.
func (e *UnknownHostKeyError) Render(s setting.Style) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ssh: host %s is not known: it presented %s key %s, found in no known_hosts file; refusing to connect. ",
		e.Host, e.KeyType, e.Fingerprint)
	if e.UntrustedCA != "" {
		fmt.Fprintf(&b, "(Its host certificate is signed by the CA %s, which no @cert-authority line trusts for %s; "+
			"if your organisation uses that CA, add \"@cert-authority PATTERN CA_PUBLIC_KEY\" to %s instead.) ",
			e.UntrustedCA, e.Host, e.File)
	}
	b.WriteString("Check the fingerprint with the host's owner (e.g. the console output of the instance), then trust it with:\n    ")
	b.WriteString(e.Command)
	if e.Behind != "" {
		fmt.Fprintf(&b, "\n  (run it on %s, the hop this host is reached through)", e.Behind)
	}
	fmt.Fprintf(&b, "\nor connect once with %s to record it on first use", s.Spell(setting.Ref{Name: setting.SSHAcceptNew}))
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
	CA          bool   // the revoked key is the CA that signed the host's certificate
}

func (e *RevokedHostKeyError) Error() string {
	if e.CA {
		return fmt.Sprintf("ssh: host %s presented a host certificate signed by the CA %s, which %s marks @revoked; refusing to connect",
			e.Host, e.Fingerprint, e.Where)
	}
	return fmt.Sprintf("ssh: host %s presented key %s, which %s marks @revoked; refusing to connect", e.Host, e.Fingerprint, e.Where)
}

// HostCertificateError is returned when a hop presents a host certificate
// signed by a CA that known_hosts trusts for it (@cert-authority) but the
// certificate is not valid for this connection (principal, validity
// window, type, signature algorithm), and no plain key recorded for the
// host vouches for the key instead.
//
// OpenSSH in this case falls back to the certified key as a plain key and,
// with StrictHostKeyChecking=accept-new, records it on first use. rdsgate
// refuses even with AcceptNew: an expired or misissued certificate from the
// user's own CA is exactly what the CA arrangement is meant to catch (a
// stolen host key with an old certificate), not a reason to trust the key
// blindly.
type HostCertificateError struct {
	Host        string // known_hosts form
	Principal   string // the name the certificate must list
	Fingerprint string // of the certified key
	CA          string // CA key fingerprint
	CAWhere     string // file:line of the @cert-authority line
	Reason      string
}

func (e *HostCertificateError) Error() string {
	return fmt.Sprintf("ssh: host %s presented a host certificate (key %s) signed by the CA %s that %s trusts for it, "+
		"but the certificate is not valid: %s; refusing to connect. Ask the host's owner to reissue it "+
		"(ssh-keygen -s CA_KEY -h -n %s ...), or, once you have confirmed the key itself, record it as a plain key",
		e.Host, e.Fingerprint, e.CA, e.CAWhere, e.Reason, shellQuote(e.Principal))
}

// hostKeys checks host keys against known_hosts files and, with
// acceptNew, records unknown ones in the first file.
type hostKeys struct {
	files     []string // the first one is written with acceptNew
	acceptNew bool
	hash      bool
	log       *slog.Logger
	home      string
	now       func() time.Time // certificate validity; time.Now

	mu sync.Mutex // serialises reading-then-appending
}

func newHostKeys(files []string, acceptNew, hash bool, home string, log *slog.Logger) (*hostKeys, error) {
	return &hostKeys{files: files, acceptNew: acceptNew, hash: hash, log: log, home: home, now: time.Now}, nil
}

// load reads the files afresh (so that keys recorded meanwhile count).
// Missing files are skipped; if none exists every host is unknown.
func (h *hostKeys) load() (*knownHostsDB, error) {
	return readKnownHosts(h.files, h.log)
}

// names returns the known_hosts name of hop ("host" or "[host]:port", lower
// case) and, for a port other than 22, the name without the port, which
// OpenSSH also consults when nothing is recorded under the first.
func hopNames(hop Hop) (name, bare string) {
	host := strings.ToLower(hop.Host)
	name = knownhosts.Normalize(net.JoinHostPort(host, strconv.Itoa(hop.Port)))
	if hop.Port != DefaultPort {
		bare = knownhosts.Normalize(host)
	}
	return name, bare
}

// forHop returns the host key callback for hop and the host key
// algorithms to ask for: certificate algorithms first when a CA is trusted
// for the host, then those of the plain keys known for it, so that a
// server with several host keys presents the one on record (nothing known:
// the defaults, which put certificates first).
func (h *hostKeys) forHop(hop Hop, behind string) (ssh.HostKeyCallback, []string, error) {
	db, err := h.load()
	if err != nil {
		return nil, nil, err
	}
	name, bare := hopNames(hop)
	keys, cas := db.forName(name)
	if len(keys) == 0 && bare != "" {
		keys, _ = db.forName(bare)
	}
	if len(cas) == 0 && bare != "" {
		_, cas = db.forName(bare)
	}
	var algos []string
	if len(cas) > 0 {
		algos = append(algos, certAlgos...)
	}
	for _, k := range keys {
		algos = appendAlgos(algos, k.key.Type())
	}
	if len(cas) > 0 && len(keys) == 0 {
		// A server without a certificate then shows its plain key, and the
		// error names it, instead of failing to agree on an algorithm.
		for _, a := range plainAlgos {
			algos = appendAlgos(algos, a)
		}
	}
	check := func(_ string, _ net.Addr, key ssh.PublicKey) error {
		return h.check(hop, behind, key)
	}
	return check, algos, nil
}

// certAlgos are the host certificate algorithms asked for when a CA is
// trusted for a host; plainAlgos the plain ones, in x/crypto's order.
var (
	certAlgos = []string{
		ssh.CertAlgoED25519v01, ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01, ssh.CertAlgoECDSA521v01,
		ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01,
	}
	plainAlgos = []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSA}
)

// check verifies key for hop, recording it when allowed. It follows
// OpenSSH's check_host_key: a certificate is accepted if a CA trusted for
// the host signed it and it is valid for the host; otherwise the certified
// key is checked as a plain key. Revoked keys and CAs are refused first.
func (h *hostKeys) check(hop Hop, behind string, key ssh.PublicKey) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	db, err := h.load()
	if err != nil {
		return err
	}
	name, bare := hopNames(hop)
	plain := key
	cert, isCert := key.(*ssh.Certificate)
	if isCert {
		plain = cert.Key
	}
	fp := ssh.FingerprintSHA256(plain)
	if r := db.revoked(plain); r != nil {
		return &RevokedHostKeyError{Host: name, Fingerprint: fp, Where: r.where()}
	}
	var certErr *HostCertificateError
	untrustedCA := ""
	if isCert {
		caFP := ssh.FingerprintSHA256(cert.SignatureKey)
		if r := db.revoked(cert.SignatureKey); r != nil {
			return &RevokedHostKeyError{Host: name, Fingerprint: caFP, Where: r.where(), CA: true}
		}
		_, cas := db.forName(name)
		if len(cas) == 0 && bare != "" {
			_, cas = db.forName(bare)
		}
		var ca *knownHostsLine
		blob := cert.SignatureKey.Marshal()
		for _, l := range cas {
			if bytes.Equal(l.key.Marshal(), blob) {
				ca = l
				break
			}
		}
		if ca != nil {
			principal := strings.ToLower(hop.Host)
			reason := h.checkCert(cert, principal)
			if reason == "" {
				h.log.Debug("ssh host certificate accepted", "host", name, "key", fp, "ca", caFP, "ca_line", ca.where(),
					"key_id", cert.KeyId, "serial", cert.Serial)
				return nil
			}
			certErr = &HostCertificateError{Host: name, Principal: principal, Fingerprint: fp, CA: caFP, CAWhere: ca.where(), Reason: reason}
			h.log.Warn("ssh host certificate invalid; checking the key as a plain key", "host", name, "reason", reason)
		} else {
			untrustedCA = caFP
			h.log.Debug("ssh host certificate from a CA not trusted for the host; checking the key as a plain key",
				"host", name, "ca", caFP)
		}
	}

	status, found := db.checkKey(name, plain)
	if status == hostNew && bare != "" {
		// OpenSSH: "checking without port identifier"; only an exact match
		// counts there.
		if st, f := db.checkKey(bare, plain); st == hostOK {
			status, found = st, f
		}
	}
	switch status {
	case hostOK:
		if certErr != nil {
			h.log.Warn("ssh host key accepted as a plain key despite its invalid certificate", "host", name, "line", found[0].where())
		}
		return nil
	case hostChanged:
		h.log.Error("ssh host key changed; refusing", "host", name, "presented", fp)
		known := make([]knownhosts.KnownKey, len(found))
		for i, l := range found {
			known[i] = l.known()
		}
		return &HostKeyChangedError{Host: name, KeyType: plain.Type(), Fingerprint: fp, Known: known}
	}
	if certErr != nil {
		return certErr
	}
	if !h.acceptNew || len(h.files) == 0 {
		file := "~/.ssh/known_hosts"
		if len(h.files) > 0 {
			file = h.display(h.files[0])
		}
		cmd := "ssh-keyscan -t " + keyscanType(plain.Type())
		if hop.Port != DefaultPort {
			cmd += " -p " + strconv.Itoa(hop.Port)
		}
		cmd += " " + shellQuote(hop.Host) + " >> " + file
		return &UnknownHostKeyError{Host: name, KeyType: plain.Type(), Fingerprint: fp, File: file, Command: cmd, Behind: behind, UntrustedCA: untrustedCA}
	}
	if err := h.record(name, plain); err != nil {
		return err
	}
	h.log.Warn("ssh host key recorded on first use (accept-new)", "host", name, "key_type", plain.Type(), "fingerprint", fp, "file", h.files[0])
	return nil
}

// checkCert checks a host certificate signed by a trusted CA for
// principal, as OpenSSH's sshkey_cert_check_host does with its defaults:
// a host certificate, the exact name among its principals (no wildcards),
// inside its validity window, signed with an algorithm in OpenSSH's
// default CASignatureAlgorithms (not SHA-1 RSA). It returns why not, or "".
func (h *hostKeys) checkCert(cert *ssh.Certificate, principal string) string {
	if cert.CertType != ssh.HostCert {
		return "it is a user certificate, not a host certificate"
	}
	if cert.Signature == nil || cert.Signature.Format == ssh.KeyAlgoRSA {
		return "it is signed with ssh-rsa (SHA-1), which OpenSSH no longer accepts from a CA"
	}
	if len(cert.ValidPrincipals) == 0 {
		return "it lists no principals (OpenSSH refuses such host certificates)"
	}
	if !slices.Contains(cert.ValidPrincipals, principal) {
		return fmt.Sprintf("it is for %s, not %s", strings.Join(cert.ValidPrincipals, ", "), principal)
	}
	now := h.now()
	after, before := int64(cert.ValidAfter), int64(cert.ValidBefore)
	if after < 0 || now.Unix() < after {
		return fmt.Sprintf("it is valid only from %s", time.Unix(after, 0).UTC().Format(time.RFC3339))
	}
	if cert.ValidBefore != ssh.CertTimeInfinity && (before < 0 || now.Unix() >= before) {
		return fmt.Sprintf("it expired at %s", time.Unix(before, 0).UTC().Format(time.RFC3339))
	}
	c := ssh.CertChecker{
		Clock:           h.now,
		IsHostAuthority: func(ssh.PublicKey, string) bool { return true },
	}
	if err := c.CheckCert(principal, cert); err != nil {
		return strings.TrimPrefix(err.Error(), "ssh: ")
	}
	return ""
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
