package rdsca

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// storeEnv is one test's trust store, cache directory, clock and log.
type storeEnv struct {
	caA, caB *testCA
	st       *trustStore
	dir      string
	logs     *syncBuffer
}

func newStoreEnv(t *testing.T) *storeEnv {
	t.Helper()
	caA, caB := newCA(t, "Test RDS Root A"), newCA(t, "Test RDS Root B")
	return &storeEnv{
		caA:  caA,
		caB:  caB,
		st:   newTrustStore(t, caA.pem),
		dir:  t.TempDir(),
		logs: &syncBuffer{},
	}
}

func (e *storeEnv) opts(now time.Time) Options {
	return Options{
		Getenv:     noEnv,
		CacheDir:   e.dir,
		HTTPClient: e.st.srv.Client(),
		BaseURL:    e.st.srv.URL,
		Now:        func() time.Time { return now },
		Log:        testLogger(e.logs),
	}
}

func (e *storeEnv) bundlePath() string { return filepath.Join(e.dir, "global-bundle.pem") }

// corrupt changes one character inside the cached bundle's base64.
func (e *storeEnv) corrupt(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(e.bundlePath())
	if err != nil {
		t.Fatal(err)
	}
	i := len("-----BEGIN CERTIFICATE-----\n") + 40
	if data[i] == 'A' {
		data[i] = 'B'
	} else {
		data[i] = 'A'
	}
	if err := os.WriteFile(e.bundlePath(), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkCache verifies that the cache files agree with each other and with b.
func checkCache(t *testing.T, b *Bundle) {
	t.Helper()
	data, err := os.ReadFile(b.Path)
	if err != nil {
		t.Fatalf("cache file: %v", err)
	}
	info, err := os.Stat(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o644 {
		t.Errorf("cache file mode = %v, want 0644", mode)
	}
	mdata, err := os.ReadFile(b.Path + ".json")
	if err != nil {
		t.Fatalf("metadata file: %v", err)
	}
	var m meta
	if err := json.Unmarshal(mdata, &m); err != nil {
		t.Fatalf("metadata: %v", err)
	}
	sum := sha256.Sum256(data)
	if m.SHA256 != hex.EncodeToString(sum[:]) || m.Size != len(data) {
		t.Errorf("metadata sha256/size = %s/%d, file has %x/%d", m.SHA256, m.Size, sum, len(data))
	}
	if m.ETag == "" || m.LastModified == "" || m.URL == "" {
		t.Errorf("metadata lacks validators or URL: %+v", m)
	}
	if !m.FetchedAt.Equal(b.FetchedAt) {
		t.Errorf("metadata fetched_at = %v, bundle says %v", m.FetchedAt, b.FetchedAt)
	}
	certs, err := parseCerts(data)
	if err != nil {
		t.Fatalf("cache file does not parse: %v", err)
	}
	if certs[0].Subject.CommonName != firstCN(b) {
		t.Errorf("cache file holds %q, bundle %q", certs[0].Subject.CommonName, firstCN(b))
	}
	if entries, _ := os.ReadDir(filepath.Dir(b.Path)); len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("cache directory holds %v, want the bundle and its metadata only", names)
	}
}

func TestLoadTrustStore(t *testing.T) {
	tests := []struct {
		name    string
		seed    bool                            // a successful Load at t0 first
		prepare func(t *testing.T, e *storeEnv) // after the seed
		after   time.Duration                   // the Load under test runs at t0+after

		wantSource       Source
		wantErr          []string
		wantCN           string
		wantFetched      time.Duration // FetchedAt - t0
		wantRequests     int32         // after the seed
		wantConditionals int32
		wantLog          string
	}{
		{
			name:       "first download writes cache and metadata",
			wantSource: SourceDownload, wantCN: "Test RDS Root A", wantRequests: 1,
		},
		{
			name: "fresh cache makes no request", seed: true, after: time.Hour,
			wantSource: SourceCache, wantCN: "Test RDS Root A",
		},
		{
			name: "stale cache revalidated, 304 keeps it and records the time", seed: true, after: 25 * time.Hour,
			wantSource: SourceCache, wantCN: "Test RDS Root A", wantFetched: 25 * time.Hour,
			wantRequests: 1, wantConditionals: 1,
		},
		{
			name: "fetched time in the future is stale", seed: true, after: -2 * time.Hour,
			wantSource: SourceCache, wantCN: "Test RDS Root A", wantFetched: -2 * time.Hour,
			wantRequests: 1, wantConditionals: 1,
		},
		{
			name: "stale cache revalidated, 200 replaces it", seed: true, after: 25 * time.Hour,
			prepare:    func(t *testing.T, e *storeEnv) { e.st.set(e.caB.pem, "") },
			wantSource: SourceDownload, wantCN: "Test RDS Root B", wantFetched: 25 * time.Hour,
			wantRequests: 1, wantConditionals: 1,
		},
		{
			name: "server down, stale cache used with a warning", seed: true, after: 25 * time.Hour,
			prepare:    func(t *testing.T, e *storeEnv) { e.st.srv.Close() },
			wantSource: SourceCache, wantCN: "Test RDS Root A",
			wantLog: "could not revalidate the RDS CA bundle; using the cached copy",
		},
		{
			name:    "server down, no cache",
			prepare: func(t *testing.T, e *storeEnv) { e.st.srv.Close() },
			wantErr: []string{"rdsca: no RDS CA bundle: download from https://127.0.0.1:", storePath + " failed (",
				"); pass ca_bundle=FILE or set RDSGATE_CA_BUNDLE"},
		},
		{
			name: "corrupt cache is re-downloaded", seed: true, after: time.Hour,
			prepare:    func(t *testing.T, e *storeEnv) { e.corrupt(t) },
			wantSource: SourceDownload, wantCN: "Test RDS Root A", wantFetched: time.Hour,
			wantRequests: 1, wantConditionals: 0, wantLog: "does not match",
		},
		{
			name: "corrupt cache and server down is an error", seed: true, after: time.Hour,
			prepare: func(t *testing.T, e *storeEnv) { e.corrupt(t); e.st.srv.Close() },
			wantErr: []string{"no RDS CA bundle: download from"}, wantLog: "failed integrity check",
		},
		{
			name: "cache without metadata is re-downloaded", seed: true, after: time.Hour,
			prepare: func(t *testing.T, e *storeEnv) {
				if err := os.Remove(e.bundlePath() + ".json"); err != nil {
					t.Fatal(err)
				}
			},
			wantSource: SourceDownload, wantCN: "Test RDS Root A", wantFetched: time.Hour,
			wantRequests: 1, wantLog: "without its metadata",
		},
		{
			name: "garbage body refused, old cache kept", seed: true, after: 25 * time.Hour,
			prepare:    func(t *testing.T, e *storeEnv) { e.st.set(e.caB.pem, "garbage") },
			wantSource: SourceCache, wantCN: "Test RDS Root A",
			wantRequests: 1, wantConditionals: 1, wantLog: "not a CA bundle",
		},
		{
			name: "oversize body refused, old cache kept", seed: true, after: 25 * time.Hour,
			prepare:    func(t *testing.T, e *storeEnv) { e.st.set(e.caB.pem, "oversize") },
			wantSource: SourceCache, wantCN: "Test RDS Root A",
			wantRequests: 1, wantConditionals: 1, wantLog: "larger than",
		},
		{
			name: "404 refused, old cache kept", seed: true, after: 25 * time.Hour,
			prepare:    func(t *testing.T, e *storeEnv) { e.st.set(e.caB.pem, "404") },
			wantSource: SourceCache, wantCN: "Test RDS Root A",
			wantRequests: 1, wantConditionals: 1, wantLog: "404 Not Found",
		},
		{
			name: "bundle without a CA refused, old cache kept", seed: true, after: 25 * time.Hour,
			prepare:    func(t *testing.T, e *storeEnv) { e.st.set(e.caB.leafPEM(t, "leaf.example.test"), "") },
			wantSource: SourceCache, wantCN: "Test RDS Root A",
			wantRequests: 1, wantConditionals: 1, wantLog: "holds no CA certificate",
		},
		{
			name: "truncated bundle refused, old cache kept", seed: true, after: 25 * time.Hour,
			prepare: func(t *testing.T, e *storeEnv) {
				two := append(append([]byte{}, e.caB.pem...), e.caA.pem...)
				e.st.set(two[:len(two)-100], "")
			},
			wantSource: SourceCache, wantCN: "Test RDS Root A",
			wantRequests: 1, wantConditionals: 1, wantLog: "truncated",
		},
		{
			name:    "garbage body and no cache is an error",
			prepare: func(t *testing.T, e *storeEnv) { e.st.set(nil, "garbage") },
			wantErr: []string{"no RDS CA bundle", "not a CA bundle: no PEM certificates", "pass ca_bundle=FILE"},
		},
		{
			name:    "404 and no cache is an error",
			prepare: func(t *testing.T, e *storeEnv) { e.st.set(nil, "404") },
			wantErr: []string{"no RDS CA bundle", "404 Not Found", "RDSGATE_CA_BUNDLE"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newStoreEnv(t)
			ctx := context.Background()
			if tc.seed {
				b, err := Load(ctx, e.opts(t0))
				if err != nil || b.Source != SourceDownload {
					t.Fatalf("seed Load = %+v, %v", b, err)
				}
				e.st.requests.Store(0)
				e.st.conditionals.Store(0)
			}
			if tc.prepare != nil {
				tc.prepare(t, e)
			}
			b, err := Load(ctx, e.opts(t0.Add(tc.after)))

			if got := e.st.requests.Load(); got != tc.wantRequests && tc.wantErr == nil {
				t.Errorf("requests = %d, want %d", got, tc.wantRequests)
			}
			if got := e.st.conditionals.Load(); got != tc.wantConditionals {
				t.Errorf("conditional requests = %d, want %d", got, tc.wantConditionals)
			}
			if tc.wantLog != "" && !strings.Contains(e.logs.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, e.logs)
			}
			if tc.wantLog == "" && strings.Contains(e.logs.String(), "level=WARN") {
				t.Errorf("unexpected warning:\n%s", e.logs)
			}
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("Load = %+v, want an error", b)
				}
				if missing, ok := containsAll(err.Error(), tc.wantErr...); !ok {
					t.Errorf("error %q lacks %q", err, missing)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if b.Source != tc.wantSource || firstCN(b) != tc.wantCN || len(b.Certs) != 1 {
				t.Errorf("Load = source %q, CN %q, %d certs; want %q, %q, 1", b.Source, firstCN(b), len(b.Certs), tc.wantSource, tc.wantCN)
			}
			if want := t0.Add(tc.wantFetched); !b.FetchedAt.Equal(want) {
				t.Errorf("FetchedAt = %v, want %v", b.FetchedAt, want)
			}
			if b.Path != e.bundlePath() {
				t.Errorf("Path = %q, want %q", b.Path, e.bundlePath())
			}
			checkCache(t, b)
		})
	}
}

func TestLoadURLPolicy(t *testing.T) {
	ca := newCA(t, "Test RDS Root")
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(ca.pem)
	}))
	defer plain.Close()
	redirect := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://truststore.example.test/global/global-bundle.pem", http.StatusFound)
	}))
	defer redirect.Close()

	tests := []struct {
		name    string
		base    string
		client  *http.Client
		wantErr string
	}{
		{"http to a non-loopback host refused", "http://truststore.example.test", nil, "refusing to fetch the CA bundle over plain HTTP"},
		{"other schemes refused", "ftp://truststore.example.test/global-bundle.pem", nil, "only https:// URLs are allowed"},
		{"http to loopback allowed", plain.URL, plain.Client(), ""},
		{"redirect to plain http refused", redirect.URL, redirect.Client(), "refusing to fetch the CA bundle over plain HTTP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Getenv: noEnv, CacheDir: t.TempDir(), BaseURL: tc.base, HTTPClient: tc.client, Log: testLogger(&syncBuffer{})}
			b, err := Load(context.Background(), opts)
			if tc.wantErr == "" {
				if err != nil || b.Source != SourceDownload {
					t.Fatalf("Load = %+v, %v", b, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Load error = %v, want %q", err, tc.wantErr)
			}
			if entries, _ := os.ReadDir(opts.CacheDir); len(entries) != 0 {
				t.Errorf("cache written after a refused download: %v", entries)
			}
		})
	}
}

// TestConcurrentLoads runs Loads that all replace the cache at once, as
// several rdsgate processes would; none may see or leave a torn bundle.
func TestConcurrentLoads(t *testing.T) {
	e := newStoreEnv(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			if i%2 == 1 {
				e.st.set(e.caB.pem, "")
			} else {
				e.st.set(e.caA.pem, "")
			}
			// Each Load runs a day later than the last: always revalidates.
			b, err := Load(context.Background(), e.opts(t0.Add(time.Duration(i)*25*time.Hour)))
			if err != nil {
				errs <- err
				return
			}
			if len(b.Certs) != 1 {
				t.Errorf("Load %d got %d certificates", i, len(b.Certs))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Load: %v", err)
	}
	// Whatever pair of renames came last, the next Load finds or makes a
	// consistent cache.
	b, err := Load(context.Background(), e.opts(t0.Add(1000*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	checkCache(t, b)
}

// TestURLSecretsStayOut: a mirror URL's password and query (a presigned
// signature) reach neither the metadata file, nor the log, nor errors.
func TestURLSecretsStayOut(t *testing.T) {
	e := newStoreEnv(t)
	base := strings.Replace(e.st.srv.URL, "https://", "https://mirroruser:s3cr3tpw@", 1) + storePath + "?X-Amz-Signature=s1gn4ture"
	opts := e.opts(t0)
	opts.BaseURL = base
	if _, err := Load(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	mdata, err := os.ReadFile(e.bundlePath() + ".json")
	if err != nil {
		t.Fatal(err)
	}
	e.st.srv.Close()
	opts.Now = func() time.Time { return t0.Add(48 * time.Hour) }
	if _, err := Load(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	opts.CacheDir = t.TempDir()
	_, err = Load(context.Background(), opts)
	if err == nil {
		t.Fatal("Load without cache and server succeeded")
	}
	for what, text := range map[string]string{"metadata": string(mdata), "log": e.logs.String(), "error": err.Error()} {
		if strings.Contains(text, "s3cr3tpw") || strings.Contains(text, "s1gn4ture") {
			t.Errorf("%s shows a secret of the URL: %s", what, text)
		}
	}
	if !strings.Contains(e.logs.String(), "could not revalidate") {
		t.Errorf("no revalidation warning:\n%s", e.logs)
	}
}
