package rdsca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/setting"
)

func TestExplainVerifyError(t *testing.T) {
	now := time.Now()
	leaf := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "db.abc.us-east-1.rds.amazonaws.com"},
		Issuer:      pkix.Name{CommonName: "Amazon RDS us-east-1 Subordinate CA RSA2048 G1.A.1"},
		DNSNames:    []string{"db.abc.us-east-1.rds.amazonaws.com", "*.abc.us-east-1.rds.amazonaws.com"},
		IPAddresses: []net.IP{net.ParseIP("10.0.0.5")},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(time.Hour),
	}
	cnOnly := &x509.Certificate{Subject: pkix.Name{CommonName: "legacy.example.test"}}
	expiredCA := &x509.Certificate{
		Subject:   pkix.Name{CommonName: "rds-ca-2019"},
		IsCA:      true,
		NotBefore: time.Date(2019, 8, 22, 17, 8, 50, 0, time.UTC),
		NotAfter:  time.Date(2024, 8, 22, 17, 8, 50, 0, time.UTC),
	}
	issuerNoCN := &x509.Certificate{Issuer: pkix.Name{Organization: []string{"Example Org"}}}
	verr := func(err error) error {
		return fmt.Errorf("TLS to db:5432: %w", &tls.CertificateVerificationError{Err: err})
	}
	unrelated := errors.New("connection refused")
	const name = "db.abc.us-east-1.rds.amazonaws.com"

	tests := []struct {
		name       string
		err        error
		serverName string
		want       []string // substrings; nil: the error comes back unchanged
	}{
		{name: "name mismatch lists DNS and IP names", err: verr(x509.HostnameError{Certificate: leaf, Host: "orders.internal"}),
			serverName: "orders.internal",
			want:       []string{`not valid for "orders.internal"`, `"db.abc.us-east-1.rds.amazonaws.com", "*.abc.us-east-1.rds.amazonaws.com", "10.0.0.5"`, "not an alias"}},
		{name: "name mismatch takes the host from the error", err: verr(x509.HostnameError{Certificate: leaf, Host: "10.0.0.9"}),
			want: []string{`not valid for "10.0.0.9"`}},
		{name: "common name only", err: verr(x509.HostnameError{Certificate: cnOnly, Host: "x"}), serverName: "x",
			want: []string{`no DNS names (only the legacy common name "legacy.example.test"`}},
		{name: "unknown authority names the issuer", err: verr(x509.UnknownAuthorityError{Cert: leaf}), serverName: name,
			want: []string{"unknown authority", `"Amazon RDS us-east-1 Subordinate CA RSA2048 G1.A.1"`, "ca_bundle=FILE", "region"}},
		{name: "unknown authority without a common name", err: verr(x509.UnknownAuthorityError{Cert: issuerNoCN}), serverName: name,
			want: []string{`unknown authority "O=Example Org"`}},
		{name: "unknown authority without a certificate", err: verr(x509.UnknownAuthorityError{}), serverName: name,
			want: []string{"unknown authority an unknown issuer"}},
		{name: "expired CA", err: verr(x509.CertificateInvalidError{Cert: expiredCA, Reason: x509.Expired}), serverName: name,
			want: []string{`CA certificate "rds-ca-2019" in the chain of "` + name + `" expired at 2024-08-22T17:08:50Z`, "valid from 2019-08-22T17:08:50Z"}},
		{name: "other invalid chain", err: verr(x509.CertificateInvalidError{Cert: leaf, Reason: x509.NotAuthorizedToSign}), serverName: name,
			want: []string{`certificate chain of "` + name + `" is invalid`, "not authorized to sign"}},
		{name: "not TLS", err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake", RecordHeader: [5]byte{'R', 0, 0, 0, 8}},
			serverName: name, want: []string{`did not answer TLS (its first bytes "R\x00\x00\x00\b"`}},
		{name: "EOF", err: fmt.Errorf("handshake: %w", io.EOF), serverName: name, want: []string{"hung up during the TLS handshake"}},
		{name: "reset", err: &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, serverName: name,
			want: []string{"hung up during the TLS handshake"}},
		{name: "timeout", err: &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, serverName: name, want: []string{"did not answer the TLS handshake in time"}},
		{name: "context deadline", err: context.DeadlineExceeded, serverName: name, want: []string{"in time"}},
		{name: "unrelated error unchanged", err: unrelated, serverName: name},
		{name: "nil", err: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ExplainVerifyError(tc.err, tc.serverName)
			if tc.want == nil {
				if got != tc.err {
					t.Fatalf("ExplainVerifyError(%v) = %v, want it unchanged", tc.err, got)
				}
				return
			}
			msg := got.Error()
			if missing, ok := containsAll(msg, tc.want...); !ok {
				t.Errorf("ExplainVerifyError = %q, lacks %q", msg, missing)
			}
			if !strings.HasPrefix(msg, "rdsca: ") || strings.Contains(msg, "\n") {
				t.Errorf("message %q is not one rdsca: line", msg)
			}
			if !errors.Is(got, tc.err) {
				t.Error("explained error does not wrap the original")
			}
			if again := ExplainVerifyError(fmt.Errorf("outer: %w", got), tc.serverName); !strings.HasSuffix(again.Error(), msg) {
				t.Errorf("explaining twice rewrote the message: %q", again)
			}
		})
	}
}

// The hint names the CA bundle setting, which a caller spells its own way
// (the command line: --ca-bundle), however the error is wrapped.
func TestExplainSpellsTheSetting(t *testing.T) {
	err := fmt.Errorf("connect: %w", ExplainVerifyError(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, "db"))
	flags := setting.Style{Assign: " ", Names: map[setting.Name]string{setting.CABundle: "--ca-bundle"}}
	if got := setting.Render(err, flags); !strings.Contains(got, "pass --ca-bundle FILE (or set RDSGATE_CA_BUNDLE)") {
		t.Errorf("rendered with flags: %q", got)
	}
	if got := err.Error(); !strings.Contains(got, "pass ca_bundle=FILE (or set RDSGATE_CA_BUNDLE)") {
		t.Errorf("neutral: %q", got)
	}
}
