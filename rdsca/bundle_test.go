package rdsca

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPrecedence(t *testing.T) {
	fileCA, envCA := newCA(t, "File CA"), newCA(t, "Env CA")
	file := writeFile(t, "file.pem", fileCA.pem)
	envFile := writeFile(t, "env.pem", envCA.pem)
	missing := filepath.Join(t.TempDir(), "missing.pem")

	tests := []struct {
		name       string
		file       string
		env        string
		wantSource Source
		wantCN     string
		wantPath   string // "store": the trust store's cache file
		wantErr    []string
	}{
		{name: "file over env and trust store", file: file, env: envFile,
			wantSource: SourceFile, wantCN: "File CA", wantPath: file},
		{name: "env file over trust store", env: envFile,
			wantSource: SourceEnv, wantCN: "Env CA", wantPath: envFile},
		{name: "env PEM text", env: string(envCA.pem),
			wantSource: SourceEnv, wantCN: "Env CA"},
		{name: "blank env ignored", env: "  ",
			wantSource: SourceDownload, wantCN: "Test RDS Root A", wantPath: "store"},
		{name: "trust store when neither", wantSource: SourceDownload, wantCN: "Test RDS Root A", wantPath: "store"},
		{name: "unreadable file is an error, not a fallback", file: missing, env: envFile,
			wantErr: []string{"rdsca: CA bundle " + missing + " (from ca_bundle)", "no such file"}},
		{name: "unreadable env file is an error", env: missing,
			wantErr: []string{"rdsca: CA bundle " + missing + " (from RDSGATE_CA_BUNDLE)"}},
		{name: "bad env PEM text is an error", env: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
			wantErr: []string{"rdsca: RDSGATE_CA_BUNDLE: certificate 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newStoreEnv(t) // the trust store serves CA A
			if tc.wantPath == "store" {
				tc.wantPath = e.bundlePath()
			}
			opts := e.opts(t0)
			opts.File = tc.file
			opts.Getenv = envOf(map[string]string{EnvBundle: tc.env, "OTHER": "x"})
			b, err := Load(context.Background(), opts)
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
				t.Fatal(err)
			}
			if b.Source != tc.wantSource || firstCN(b) != tc.wantCN || b.Path != tc.wantPath {
				t.Errorf("Load = %q %q %q, want %q %q %q", b.Source, firstCN(b), b.Path, tc.wantSource, tc.wantCN, tc.wantPath)
			}
			if (b.Source == SourceFile || b.Source == SourceEnv) && e.st.requests.Load() != 0 {
				t.Errorf("the trust store was asked although %s was given", b.Source)
			}
			if b.Source == SourceFile || b.Source == SourceEnv {
				if !b.FetchedAt.IsZero() {
					t.Errorf("FetchedAt = %v for a user bundle", b.FetchedAt)
				}
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	caA, caB := newCA(t, "CA A"), newCA(t, "CA B")
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	two := append(append([]byte("# Amazon RDS bundle\n"), caA.pem...), append([]byte("\nsome text between\n"), caB.pem...)...)
	badDER := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})

	tests := []struct {
		name    string
		data    []byte
		wantCNs []string
		wantErr string
		wantLog string
	}{
		{name: "two CAs with text around them", data: two, wantCNs: []string{"CA A", "CA B"}},
		{name: "leaf only is accepted with a warning", data: caA.leafPEM(t, "db.example.test"),
			wantCNs: []string{"db.example.test"}, wantLog: "holds no CA certificate"},
		{name: "empty file", data: nil, wantErr: "no PEM certificates in it"},
		{name: "text, no PEM", data: []byte("hello\n"), wantErr: "no PEM certificates in it"},
		{name: "private key", data: append(append([]byte{}, caA.pem...), keyPEM...), wantErr: `PEM block 2 is a "EC PRIVATE KEY", not a CERTIFICATE`},
		{name: "bad DER", data: badDER, wantErr: "certificate 1: x509:"},
		{name: "truncated", data: two[:len(two)-60], wantErr: "malformed or truncated PEM block after certificate 1"},
		{name: "oversize", data: make([]byte, MaxBundleSize+1), wantErr: "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "bundle.pem", tc.data)
			logs := &syncBuffer{}
			b, err := Load(context.Background(), Options{File: path, Getenv: noEnv, Log: testLogger(logs)})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("Load error = %v, want one naming %s and saying %q", err, path, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var cns []string
			for _, c := range b.Certs {
				cns = append(cns, c.Subject.CommonName)
			}
			if diff := cmp.Diff(tc.wantCNs, cns); diff != "" {
				t.Errorf("certificates (-want +got):\n%s", diff)
			}
			if got := logs.String(); tc.wantLog == "" && got != "" || !strings.Contains(got, tc.wantLog) {
				t.Errorf("log = %q, want %q", got, tc.wantLog)
			}
			for _, c := range b.Certs {
				if _, err := c.Verify(x509.VerifyOptions{Roots: b.Pool}); err != nil {
					t.Errorf("%s does not verify against the pool: %v", c.Subject.CommonName, err)
				}
			}
		})
	}
}

func TestExpiring(t *testing.T) {
	mk := func(cn string, notAfter time.Time) *x509.Certificate {
		return &x509.Certificate{NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true, Raw: []byte(cn)}
	}
	now := t0
	expired := mk("expired", now.Add(-24*time.Hour))
	soon := mk("soon", now.Add(10*24*time.Hour))
	sooner := mk("sooner", now.Add(5*24*time.Hour))
	later := mk("later", now.Add(400*24*time.Hour))
	b := &Bundle{Certs: []*x509.Certificate{later, soon, expired, sooner}}

	tests := []struct {
		name string
		b    *Bundle
		at   time.Time
		want []*x509.Certificate
	}{
		{"within 30 days, soonest first", b, now.Add(30 * 24 * time.Hour), []*x509.Certificate{expired, sooner, soon}},
		{"already expired only", b, now, []*x509.Certificate{expired}},
		{"everything", b, now.Add(1000 * 24 * time.Hour), []*x509.Certificate{expired, sooner, soon, later}},
		{"nil bundle", nil, now, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.b.Expiring(tc.at)
			if len(got) != len(tc.want) {
				t.Fatalf("Expiring = %d certs, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("Expiring[%d] = %s, want %s", i, got[i].Raw, tc.want[i].Raw)
				}
			}
		})
	}
}
