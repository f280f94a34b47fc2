package rdsca

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/rdsgate/rdsgate/setting"
)

// meta is the JSON file kept next to a cached bundle (<bundle>.json).
type meta struct {
	URL          string    `json:"url"` // displayURL: no password, no query
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	FetchedAt    time.Time `json:"fetched_at"` // last download or 304 from the trust store
	SHA256       string    `json:"sha256"`     // hex SHA-256 of the bundle file
	Size         int       `json:"size"`
}

// cached is a cache entry that passed its integrity check.
type cached struct {
	meta  meta
	certs []*x509.Certificate
}

// clockSkew is how far in the future a fetched time may lie before the
// entry is treated as stale (clocks move backwards; files get copied).
const clockSkew = 5 * time.Minute

func (m *meta) fresh(now time.Time, maxAge time.Duration) bool {
	age := now.Sub(m.FetchedAt)
	return age >= -clockSkew && age < maxAge
}

// loadTrustStore serves the trust store's bundle from the cache while it is
// fresh, revalidates or downloads it otherwise, and falls back to a cached
// copy that passes its integrity check when the trust store cannot be had.
func loadTrustStore(ctx context.Context, o *Options) (*Bundle, error) {
	raw, err := bundleURL(o.BaseURL, o.Region)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, errors.New("rdsca: bad CA bundle URL: no host")
	}
	if err := checkURL(u); err != nil {
		return nil, err
	}
	dir := o.CacheDir
	if dir == "" {
		if dir, err = defaultCacheDir(); err != nil {
			return nil, err
		}
	}
	bundlePath := filepath.Join(dir, cacheName(u))
	metaPath := bundlePath + ".json"
	shown := displayURL(u)
	log := o.Log.With("url", shown, "path", bundlePath)
	now := o.Now()

	c, err := readCache(bundlePath, metaPath)
	if err != nil {
		log.Warn("rdsca: the cached RDS CA bundle cannot be used (failed integrity check); downloading it again", "error", err)
		c = nil
	}
	sameURL := c != nil && c.meta.URL == shown
	if sameURL && c.meta.fresh(now, o.MaxAge) {
		return newBundle(c.certs, SourceCache, bundlePath, c.meta.FetchedAt), nil
	}
	var prev *meta
	if sameURL {
		prev = &c.meta
	}

	b, err := refresh(ctx, o, u, c, prev, bundlePath, metaPath, now)
	if err == nil {
		return b, nil
	}
	if c != nil {
		log.Warn("rdsca: could not revalidate the RDS CA bundle; using the cached copy",
			"fetched_at", c.meta.FetchedAt, "error", err)
		return newBundle(c.certs, SourceCache, bundlePath, c.meta.FetchedAt), nil
	}
	return nil, setting.Errorf("rdsca: no RDS CA bundle: download from %s failed (%w); pass %s or set %s",
		shown, err, setting.CABundle.Is("FILE"), EnvBundle)
}

// refresh asks the trust store for the bundle and updates the cache. An
// error means nothing usable came back; a cache that cannot be written is
// only logged, since the bundle in hand is good.
func refresh(ctx context.Context, o *Options, u *url.URL, c *cached, prev *meta, bundlePath, metaPath string, now time.Time) (*Bundle, error) {
	log := o.Log.With("url", displayURL(u), "path", bundlePath)
	res, err := fetch(ctx, o.HTTPClient, u, prev)
	if err != nil {
		return nil, err
	}
	if res.notModified {
		m := c.meta
		m.FetchedAt = now.UTC()
		if res.etag != "" {
			m.ETag = res.etag
		}
		if res.lastModified != "" {
			m.LastModified = res.lastModified
		}
		if err := writeMeta(metaPath, &m); err != nil {
			log.Warn("rdsca: could not record the RDS CA bundle's revalidation", "error", err)
		}
		return newBundle(c.certs, SourceCache, bundlePath, m.FetchedAt), nil
	}
	certs, err := parseCerts(res.body)
	if err != nil {
		return nil, fmt.Errorf("the downloaded bundle is not a CA bundle: %w", err)
	}
	if countCA(certs) == 0 {
		return nil, fmt.Errorf("the downloaded bundle holds no CA certificate")
	}
	sum := sha256.Sum256(res.body)
	m := meta{
		URL:          displayURL(u),
		ETag:         res.etag,
		LastModified: res.lastModified,
		FetchedAt:    now.UTC(),
		SHA256:       hex.EncodeToString(sum[:]),
		Size:         len(res.body),
	}
	if err := writeCache(bundlePath, metaPath, res.body, &m); err != nil {
		log.Warn("rdsca: could not cache the RDS CA bundle; it will be downloaded again next time", "error", err)
		return newBundle(certs, SourceDownload, "", m.FetchedAt), nil
	}
	return newBundle(certs, SourceDownload, bundlePath, m.FetchedAt), nil
}

// readCache returns the cache entry, nil if there is none, or an error when
// an entry exists but fails its integrity check. A failing read is tried once
// more after a moment, because another process may be between replacing the
// bundle and replacing its metadata.
func readCache(bundlePath, metaPath string) (*cached, error) {
	c, err := readCacheOnce(bundlePath, metaPath)
	if err == nil {
		return c, nil
	}
	time.Sleep(50 * time.Millisecond)
	return readCacheOnce(bundlePath, metaPath)
}

func readCacheOnce(bundlePath, metaPath string) (*cached, error) {
	mdata, merr := readLimited(metaPath)
	data, berr := readLimited(bundlePath)
	switch {
	case errors.Is(merr, fs.ErrNotExist) && errors.Is(berr, fs.ErrNotExist):
		return nil, nil
	case errors.Is(merr, fs.ErrNotExist):
		return nil, errors.New("bundle without its metadata file")
	case merr != nil:
		return nil, merr
	case berr != nil:
		return nil, berr
	}
	var m meta
	if err := json.Unmarshal(mdata, &m); err != nil {
		return nil, fmt.Errorf("metadata %s: %w", metaPath, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != m.SHA256 {
		return nil, fmt.Errorf("bundle's SHA-256 %s does not match %q recorded in %s", got, m.SHA256, metaPath)
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, err
	}
	if countCA(certs) == 0 {
		return nil, errors.New("bundle holds no CA certificate")
	}
	return &cached{meta: m, certs: certs}, nil
}

// writeCache replaces the bundle, then its metadata, each atomically.
func writeCache(bundlePath, metaPath string, data []byte, m *meta) error {
	if err := os.MkdirAll(filepath.Dir(bundlePath), 0o755); err != nil {
		return err
	}
	if err := writeAtomic(bundlePath, data); err != nil {
		return err
	}
	return writeMeta(metaPath, m)
}

func writeMeta(path string, m *meta) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(data, '\n'))
}

// writeAtomic writes data to a temporary file in path's directory and
// renames it over path, so that readers see the old file or the new one,
// never a part.
func writeAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
