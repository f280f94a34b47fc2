package rdsca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// serveTLS accepts connections on loopback and completes (or fails) the
// server side of a handshake with cert.
func serveTLS(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_ = c.(*tls.Conn).Handshake()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// servePlain accepts TCP connections and runs handle on each.
func servePlain(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// handshake dials addr and runs a client handshake with conf.
func handshake(t *testing.T, addr string, conf *tls.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tc := tls.Client(raw, conf)
	defer tc.Close()
	return tc.HandshakeContext(ctx)
}

func TestTLSConfigHandshake(t *testing.T) {
	rds, stranger := newCA(t, "Test RDS Root"), newCA(t, "Stranger Root CA")
	b := newBundle(mustParse(t, rds.pem), SourceFile, "", time.Time{})

	good, _ := rds.leaf(t, time.Time{}, time.Time{}, "db.example.test")
	unknown, _ := stranger.leaf(t, time.Time{}, time.Time{}, "db.example.test")
	expiredCert, expiredLeaf := rds.leaf(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), "db.example.test")
	futureCert, futureLeaf := rds.leaf(t, time.Now().Add(24*time.Hour), time.Now().Add(48*time.Hour), "db.example.test")

	goodAddr := serveTLS(t, good)
	notTLS := servePlain(t, func(c net.Conn) {
		_, _ = c.Write([]byte("HELLO I am not TLS\r\n"))
		_, _ = io.Copy(io.Discard, c)
	})
	hangUp := servePlain(t, func(c net.Conn) {
		buf := make([]byte, 5)
		_, _ = io.ReadFull(c, buf)
	})

	tests := []struct {
		name       string
		bundle     *Bundle
		addr       string
		serverName string
		wantOK     bool
		wantMsg    []string
	}{
		{name: "right CA and name", bundle: b, addr: goodAddr, serverName: "db.example.test", wantOK: true},
		{name: "host:port is cut to the host", bundle: b, addr: goodAddr, serverName: "db.example.test:5432", wantOK: true},
		{name: "name mismatch", bundle: b, addr: goodAddr, serverName: "other.example.test",
			wantMsg: []string{"rdsca: ", `not valid for "other.example.test"`, `it names "db.example.test"`}},
		{name: "unknown authority", bundle: b, addr: serveTLS(t, unknown), serverName: "db.example.test",
			wantMsg: []string{"unknown authority", `"Stranger Root CA"`, "ca_bundle=FILE", "RDSGATE_CA_BUNDLE", "region"}},
		{name: "nil bundle trusts nothing", bundle: nil, addr: goodAddr, serverName: "db.example.test",
			wantMsg: []string{"unknown authority", `"Test RDS Root"`}},
		{name: "empty server name fails", bundle: b, addr: goodAddr, serverName: "",
			wantMsg: []string{"ServerName"}},
		{name: "expired certificate", bundle: b, addr: serveTLS(t, expiredCert), serverName: "db.example.test",
			wantMsg: []string{`"db.example.test"`, "expired at " + stamp(expiredLeaf.NotAfter), "valid from " + stamp(expiredLeaf.NotBefore)}},
		{name: "not yet valid certificate", bundle: b, addr: serveTLS(t, futureCert), serverName: "db.example.test",
			wantMsg: []string{"not valid before " + stamp(futureLeaf.NotBefore), "clock"}},
		{name: "server does not speak TLS", bundle: b, addr: notTLS, serverName: "db.example.test",
			wantMsg: []string{`did not answer TLS`, `"HELLO"`}},
		{name: "server hangs up", bundle: b, addr: hangUp, serverName: "db.example.test",
			wantMsg: []string{"hung up during the TLS handshake", "did not answer TLS"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf := tc.bundle.TLSConfig(tc.serverName)
			if conf.InsecureSkipVerify || conf.MinVersion < tls.VersionTLS12 || conf.RootCAs == nil {
				t.Fatalf("TLSConfig = %+v: verification weakened", conf)
			}
			err := handshake(t, tc.addr, conf)
			if tc.wantOK {
				if err != nil {
					t.Fatalf("handshake: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("handshake succeeded, want a failure")
			}
			explained := ExplainVerifyError(err, conf.ServerName)
			msg := explained.Error()
			t.Logf("%s", msg)
			if missing, ok := containsAll(msg, tc.wantMsg...); !ok {
				t.Errorf("ExplainVerifyError = %q, lacks %q (handshake error: %v)", msg, missing, err)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("message is not one line: %q", msg)
			}
			if !errors.Is(explained, err) {
				t.Errorf("explained error does not wrap the handshake error")
			}
		})
	}
}

func TestTLSConfigFields(t *testing.T) {
	ca := newCA(t, "Test RDS Root")
	b := newBundle(mustParse(t, ca.pem), SourceFile, "", time.Time{})
	tests := []struct {
		in, want string
	}{
		{"db.abc.us-east-1.rds.amazonaws.com", "db.abc.us-east-1.rds.amazonaws.com"},
		{"db.abc.us-east-1.rds.amazonaws.com:5432", "db.abc.us-east-1.rds.amazonaws.com"},
		{"[::1]:5432", "::1"},
		{"", ""},
	}
	for _, tc := range tests {
		conf := b.TLSConfig(tc.in)
		if conf.ServerName != tc.want {
			t.Errorf("TLSConfig(%q).ServerName = %q, want %q", tc.in, conf.ServerName, tc.want)
		}
		if conf.RootCAs != b.Pool || conf.InsecureSkipVerify || conf.MinVersion != tls.VersionTLS12 || conf.VerifyPeerCertificate != nil {
			t.Errorf("TLSConfig(%q) = %+v", tc.in, conf)
		}
	}
	// Each call returns its own config: a caller's changes stay its own.
	if c1, c2 := b.TLSConfig("a"), b.TLSConfig("a"); c1 == c2 {
		t.Error("TLSConfig returned a shared config")
	}
}

func mustParse(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	certs, err := parseCerts(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}
