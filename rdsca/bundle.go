package rdsca

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/setting"
)

// EnvBundle names the environment variable that holds a CA bundle: the name
// of a PEM file, or the PEM text itself.
const EnvBundle = "RDSGATE_CA_BUNDLE"

// Source says where a Bundle came from.
type Source string

// The sources of a Bundle.
const (
	SourceFile     Source = "file"     // Options.File (the ca_bundle setting)
	SourceEnv      Source = "env"      // the RDSGATE_CA_BUNDLE environment variable
	SourceCache    Source = "cache"    // the cached trust store bundle (fresh, revalidated, or kept while offline)
	SourceDownload Source = "download" // downloaded from the trust store by this Load
)

// Defaults.
const (
	DefaultMaxAge      = 24 * time.Hour
	DefaultHTTPTimeout = 30 * time.Second
	// MaxBundleSize bounds a bundle read from the network or the cache.
	// AWS's global bundle is about 160 KiB.
	MaxBundleSize = 2 << 20
)

// Options says where Load looks for the CA bundle. The zero value downloads
// the commercial global bundle into the user cache directory.
type Options struct {
	// File is a PEM bundle given by the user (the ca_bundle setting). It takes
	// precedence over everything else; when set, nothing else is tried.
	File string
	// Getenv reads the environment (default os.Getenv). EnvBundle comes
	// second, after File.
	Getenv func(string) string
	// Region picks the partition's trust store: the global bundle for
	// commercial regions (and for ""), the region's own bundle for
	// GovCloud (us-gov-*) and China (cn-*).
	Region string
	// CacheDir holds the downloaded bundle and its metadata (default
	// os.UserCacheDir()/rdsgate/rds-ca).
	CacheDir string
	// HTTPClient downloads the bundle (default: a client with a 30 s
	// timeout). Redirects to anything but HTTPS are refused whatever the
	// client's own policy.
	HTTPClient *http.Client
	// BaseURL replaces AWS's trust store (tests, mirrors): a URL ending in
	// ".pem" is used as it is; otherwise the trust store's path
	// (/global/global-bundle.pem or /<region>/<region>-bundle.pem) is
	// appended to it. It must be https://, or http:// to a loopback host.
	BaseURL string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxAge is how long a cached bundle is used without asking the server
	// (default 24h). Older bundles are revalidated with If-None-Match and
	// If-Modified-Since.
	MaxAge time.Duration
	// Log receives warnings (default slog.Default()).
	Log *slog.Logger
}

func (o *Options) defaults() {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
}

// Bundle is a set of trusted certificates for RDS servers.
type Bundle struct {
	Pool   *x509.CertPool      // the certificates as a pool, for tls.Config.RootCAs
	Certs  []*x509.Certificate // the certificates, in file order
	Source Source              // where they came from
	// Path is the file they were read from (for SourceCache and
	// SourceDownload, the cache file, usable as libpq's sslrootcert); empty
	// when the environment variable held the PEM text itself.
	Path string
	// FetchedAt is when the trust store last confirmed the cached bundle
	// (zero for SourceFile and SourceEnv).
	FetchedAt time.Time
}

// Load finds the CA bundle; the first match wins:
//
//  1. Options.File (the ca_bundle setting);
//  2. the RDSGATE_CA_BUNDLE environment variable: a file name, or the PEM
//     text itself;
//  3. the bundle of AWS's trust store for the region's partition, kept in
//     the user cache directory and revalidated with the server (ETag,
//     Last-Modified) once it is older than Options.MaxAge.
//
// An explicitly named file or variable that cannot be used is an error, not
// a reason to fall back.
func Load(ctx context.Context, opts Options) (*Bundle, error) {
	opts.defaults()
	if opts.File != "" {
		return loadFile(opts.File, SourceFile, setting.CABundle, opts.Log)
	}
	if v := opts.Getenv(EnvBundle); strings.TrimSpace(v) != "" {
		if strings.Contains(v, "-----BEGIN") {
			certs, err := parseCerts([]byte(v))
			if err != nil {
				return nil, fmt.Errorf("rdsca: %s: %w", EnvBundle, err)
			}
			warnNoCA(opts.Log, certs, EnvBundle)
			return newBundle(certs, SourceEnv, "", time.Time{}), nil
		}
		return loadFile(v, SourceEnv, EnvBundle, opts.Log)
	}
	return loadTrustStore(ctx, &opts)
}

// loadFile reads a user-supplied bundle. how names where the file name came
// from, for the error message: a setting.Name or an environment variable.
func loadFile(path string, src Source, how any, log *slog.Logger) (*Bundle, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, setting.Errorf("rdsca: CA bundle %s (from %s): %w", path, how, err)
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, setting.Errorf("rdsca: CA bundle %s (from %s): %w", path, how, err)
	}
	warnNoCA(log, certs, path)
	return newBundle(certs, src, path, time.Time{}), nil
}

// readLimited reads a file of at most MaxBundleSize bytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBundleSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("larger than %d bytes; not a CA bundle", MaxBundleSize)
	}
	return data, nil
}

// warnNoCA logs when a user's bundle holds no CA certificate: it still works
// when the server presents exactly one of these certificates, which is
// unusual for RDS and more likely a mistake.
func warnNoCA(log *slog.Logger, certs []*x509.Certificate, name string) {
	if countCA(certs) == 0 {
		log.Warn("rdsca: CA bundle holds no CA certificate; only servers presenting one of these exact certificates will verify",
			"bundle", name, "certificates", len(certs))
	}
}

func countCA(certs []*x509.Certificate) int {
	n := 0
	for _, c := range certs {
		if c.BasicConstraintsValid && c.IsCA {
			n++
		}
	}
	return n
}

var errNoCerts = errors.New("no PEM certificates in it")

// parseCerts parses every PEM block of data. Every block must be a
// CERTIFICATE that parses; text between blocks (comments, openssl's
// human-readable dumps) is ignored, but a block that starts and never ends
// (a truncated file) is an error.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", len(certs)+1, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, fmt.Errorf("malformed or truncated PEM block after certificate %d", len(certs))
	}
	if len(certs) == 0 {
		return nil, errNoCerts
	}
	return certs, nil
}

func newBundle(certs []*x509.Certificate, src Source, path string, fetched time.Time) *Bundle {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &Bundle{Pool: pool, Certs: certs, Source: src, Path: path, FetchedAt: fetched}
}

// Expiring lists the bundle's certificates that expire before t (including
// those already expired), soonest first. doctor warns about those within
// 30 days.
func (b *Bundle) Expiring(t time.Time) []*x509.Certificate {
	if b == nil {
		return nil
	}
	var out []*x509.Certificate
	for _, c := range b.Certs {
		if c.NotAfter.Before(t) {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b *x509.Certificate) int { return a.NotAfter.Compare(b.NotAfter) })
	return out
}

// defaultCacheDir is os.UserCacheDir()/rdsgate/rds-ca.
func defaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", setting.Errorf("rdsca: no cache directory for the RDS CA bundle (%w); pass %s or set %s", err, setting.CABundle.Is("FILE"), EnvBundle)
	}
	return filepath.Join(dir, "rdsgate", "rds-ca"), nil
}
