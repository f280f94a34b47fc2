package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"
)

// The keys that decide where a token or password is sent, or which server
// is believed, are honoured from a project file only once the user has
// trusted that file's exact content (direnv's "allow"). Everything else — a
// target's identifier, user, database, route kind and bastion — is safe to
// take from a shared file: the upstream is still verified against the RDS
// certificate authority.

// Setting is one sensitive key set in a file.
type Setting struct {
	// Key is the key's path, e.g. "targets.orders.route.address".
	Key string `json:"key"`
	// Value is what the file sets it to (never a secret itself: a host,
	// a file name, a secret's ARN or an environment variable's name).
	Value string `json:"value"`
	// Source is "file:line" of the entry that sets it.
	Source string `json:"source"`
}

// SensitiveSettings lists the settings in f that need trust, ordered by key.
func (f *File) SensitiveSettings() []Setting {
	var out []Setting
	add := func(prefix, source string, kv ...string) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				out = append(out, Setting{Key: prefix + kv[i], Value: kv[i+1], Source: source})
			}
		}
	}
	route := func(prefix, source string, r Route) {
		add(prefix+"route.", source, "address", r.Address, "ssh", r.SSH,
			"ssh_identity", r.SSHIdentity, "ssh_known_hosts", r.SSHKnownHosts)
	}
	add("defaults.", f.DefaultsSource, "ca_bundle", f.Defaults.CABundle)
	route("defaults.", f.DefaultsSource, f.Defaults.Route)
	for name, t := range f.Targets {
		prefix := "targets." + name + "."
		add(prefix, t.Source, "endpoint", t.Endpoint, "ca_bundle", t.CABundle, "auth", t.Auth,
			"password_secret", t.PasswordSecret, "password_env", t.PasswordEnv, "password_file", t.PasswordFile)
		route(prefix, t.Source, t.Route)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// UntrustedError is a project file that sets sensitive keys without the
// user's trust in its current content.
type UntrustedError struct {
	// Path is the project file.
	Path string
	// Settings are the sensitive keys it sets.
	Settings []Setting
	// Changed says the file was trusted before, with other content.
	Changed bool
}

func (e *UntrustedError) Error() string {
	keys := ""
	for i, s := range e.Settings {
		if i > 0 {
			keys += ", "
		}
		keys += s.Key
	}
	why := "is not trusted"
	if e.Changed {
		why = "changed since you trusted it"
	}
	return fmt.Sprintf("project file %s %s, and it sets keys that decide where your credentials go or which server is believed: %s. Read it, then run: rdsgate config trust %s",
		e.Path, why, keys, e.Path)
}

// Sum is the SHA-256 of a file's content, which a trust record names.
func Sum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// TrustStore is the user's record of trusted project files: a JSON file,
// private to the user, mapping each file's canonical path to the SHA-256 of
// the content that was trusted.
type TrustStore struct {
	// Path is the record's file; TrustPath gives the default.
	Path string
}

// TrustRecord is one trusted file.
type TrustRecord struct {
	SHA256    string    `json:"sha256"`
	TrustedAt time.Time `json:"trusted_at"`
}

type trustFile struct {
	Files map[string]TrustRecord `json:"files"`
}

// TrustPath is the default record: $XDG_STATE_HOME/rdsgate/trusted.json, else
// ~/.local/state/rdsgate/trusted.json; on macOS and Windows the user config
// directory's rdsgate/trusted.json. getenv reads the environment.
func TrustPath(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "rdsgate", "trusted.json")
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		if d, err := os.UserConfigDir(); err == nil {
			return filepath.Join(d, "rdsgate", "trusted.json")
		}
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return ""
		}
	}
	return filepath.Join(home, ".local", "state", "rdsgate", "trusted.json")
}

func (s TrustStore) read() (trustFile, error) {
	tf := trustFile{Files: map[string]TrustRecord{}}
	if s.Path == "" {
		return tf, nil
	}
	data, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return tf, nil
	}
	if err != nil {
		return tf, fmt.Errorf("trusted project files: %w", err)
	}
	if st, err := os.Stat(s.Path); err == nil {
		if reason := unsafeReason(st); reason != "" {
			return tf, fmt.Errorf("trusted project files: %s is %s (owner %s): remove it and trust your project files again", s.Path, reason, ownerName(st))
		}
	}
	if err := json.Unmarshal(data, &tf); err != nil {
		return tf, fmt.Errorf("trusted project files: %s: %w", s.Path, err)
	}
	if tf.Files == nil {
		tf.Files = map[string]TrustRecord{}
	}
	return tf, nil
}

func (s TrustStore) write(tf trustFile) error {
	if s.Path == "" {
		return errors.New("trusted project files: no place to keep the record (no home directory)")
	}
	data, err := json.MarshalIndent(tf, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o700); err != nil {
		return fmt.Errorf("trusted project files: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.Path), ".trusted-*.json")
	if err != nil {
		return fmt.Errorf("trusted project files: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("trusted project files: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("trusted project files: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path); err != nil {
		return fmt.Errorf("trusted project files: %w", err)
	}
	return nil
}

// Lookup returns the record for file (any spelling of its path), if any.
func (s TrustStore) Lookup(file string) (TrustRecord, bool, error) {
	tf, err := s.read()
	if err != nil {
		return TrustRecord{}, false, err
	}
	key, err := canonical(file)
	if err != nil {
		return TrustRecord{}, false, err
	}
	r, ok := tf.Files[key]
	return r, ok, nil
}

// Trust records sum as the trusted content of file.
func (s TrustStore) Trust(file, sum string, now time.Time) error {
	tf, err := s.read()
	if err != nil {
		return err
	}
	key, err := canonical(file)
	if err != nil {
		return err
	}
	tf.Files[key] = TrustRecord{SHA256: sum, TrustedAt: now.UTC()}
	return s.write(tf)
}

// Untrust removes file's record and reports whether there was one.
func (s TrustStore) Untrust(file string) (bool, error) {
	tf, err := s.read()
	if err != nil {
		return false, err
	}
	key, err := canonical(file)
	if err != nil {
		return false, err
	}
	if _, ok := tf.Files[key]; !ok {
		return false, nil
	}
	delete(tf.Files, key)
	return true, s.write(tf)
}
