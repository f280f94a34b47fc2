package ssh

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsLine is one entry of a known_hosts file.
type knownHostsLine struct {
	marker   string   // "", "cert-authority" or "revoked"
	patterns []string // as written: patterns, "!negations", "|1|salt|hash"
	key      ssh.PublicKey
	file     string
	line     int
}

func (l *knownHostsLine) where() string { return fmt.Sprintf("%s:%d", l.file, l.line) }

func (l *knownHostsLine) known() knownhosts.KnownKey {
	return knownhosts.KnownKey{Key: l.key, Filename: l.file, Line: l.line}
}

// knownHostsDB is the content of the known_hosts files, read with
// OpenSSH's rules (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): comma-separated
// host patterns with * and ? and !negation, matched case-insensitively
// against "host" (port 22) or "[host]:port"; hashed names (|1|salt|hash,
// HMAC-SHA1); "@cert-authority" lines naming a CA trusted to sign host
// certificates for the hosts matched; "@revoked" lines naming keys never to
// accept.
type knownHostsDB struct {
	lines []knownHostsLine
}

// readKnownHosts reads files; missing files are skipped. Lines that do not
// parse are skipped with a debug log, as OpenSSH does, unless a file has
// no valid line at all (then it is an error naming the first bad line).
func readKnownHosts(files []string, log *slog.Logger) (*knownHostsDB, error) {
	db := &knownHostsDB{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
		var firstErr error
		valid := 0
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		n := 0
		for sc.Scan() {
			n++
			l, err := parseKnownHostsLine(sc.Bytes())
			if err != nil {
				log.Debug("known_hosts: skipping a bad line", "file", f, "line", n, "error", err)
				if firstErr == nil {
					firstErr = fmt.Errorf("known_hosts: %s:%d: %w (fix or remove the bad line)", f, n, err)
				}
				continue
			}
			if l == nil {
				continue
			}
			l.file, l.line = f, n
			db.lines = append(db.lines, *l)
			valid++
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("known_hosts: %s: %w", f, err)
		}
		if valid == 0 && firstErr != nil {
			return nil, firstErr
		}
	}
	return db, nil
}

// parseKnownHostsLine parses one line; nil, nil for blank and comment lines.
func parseKnownHostsLine(b []byte) (*knownHostsLine, error) {
	s := strings.TrimSpace(strings.TrimSuffix(string(b), "\r"))
	if s == "" || s[0] == '#' {
		return nil, nil
	}
	marker, hosts, key, _, _, err := ssh.ParseKnownHosts([]byte(s))
	if err != nil {
		return nil, err
	}
	if key == nil || len(hosts) == 0 {
		return nil, errors.New("no host or key")
	}
	switch marker {
	case "", "cert-authority", "revoked":
	default:
		return nil, fmt.Errorf("unknown marker @%s", marker)
	}
	if _, isCert := key.(*ssh.Certificate); isCert {
		return nil, errors.New("a certificate where a key belongs")
	}
	return &knownHostsLine{marker: marker, patterns: hosts, key: key}, nil
}

// matches reports whether the line's host patterns match name ("host" or
// "[host]:port", lower case): some pattern matches and no negated one does.
func (l *knownHostsLine) matches(name string) bool {
	ok := false
	for _, p := range l.patterns {
		if strings.HasPrefix(p, "|1|") {
			ok = ok || hashedHostMatches(p, name)
			continue
		}
		p = strings.ToLower(p)
		if neg, found := strings.CutPrefix(p, "!"); found {
			if matchPattern(neg, name) {
				return false
			}
			continue
		}
		ok = ok || matchPattern(p, name)
	}
	return ok
}

// hashedHostMatches checks an OpenSSH hashed host name, |1|salt|hash
// with hash = HMAC-SHA1(key=salt, name), both base64.
func hashedHostMatches(entry, name string) bool {
	parts := strings.Split(entry, "|")
	if len(parts) != 4 || parts[1] != "1" {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	want, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	m := hmac.New(sha1.New, salt)
	m.Write([]byte(name))
	return hmac.Equal(m.Sum(nil), want)
}

// revoked returns the @revoked line for key, if any. Unlike OpenSSH, which
// honours only @revoked lines whose patterns match the host, any @revoked
// line counts: a key revoked for one host is not trusted for another.
func (db *knownHostsDB) revoked(key ssh.PublicKey) *knownHostsLine {
	blob := key.Marshal()
	for i := range db.lines {
		l := &db.lines[i]
		if l.marker == "revoked" && bytes.Equal(l.key.Marshal(), blob) {
			return l
		}
	}
	return nil
}

// forName returns the plain keys and the certificate authorities recorded
// for name.
func (db *knownHostsDB) forName(name string) (keys, cas []*knownHostsLine) {
	for i := range db.lines {
		l := &db.lines[i]
		if l.marker == "revoked" || !l.matches(name) {
			continue
		}
		if l.marker == "cert-authority" {
			cas = append(cas, l)
		} else {
			keys = append(keys, l)
		}
	}
	return keys, cas
}

// hostKeyStatus is the outcome of looking a plain key up for a name.
type hostKeyStatus int

const (
	hostNew     hostKeyStatus = iota // no key recorded for the name
	hostOK                           // the key is recorded for it
	hostChanged                      // other keys are recorded for it
)

// checkKey looks a plain key up among the keys recorded for name.
func (db *knownHostsDB) checkKey(name string, key ssh.PublicKey) (hostKeyStatus, []*knownHostsLine) {
	keys, _ := db.forName(name)
	if len(keys) == 0 {
		return hostNew, nil
	}
	blob := key.Marshal()
	for _, l := range keys {
		if bytes.Equal(l.key.Marshal(), blob) {
			return hostOK, []*knownHostsLine{l}
		}
	}
	return hostChanged, keys
}
