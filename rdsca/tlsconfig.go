package rdsca

import (
	"crypto/tls"
	"crypto/x509"
	"net"
)

// TLSConfig returns a client TLS config that verifies the server's chain
// against b's certificates and its name against serverName (the endpoint's
// host name; a "host:port" is cut to the host), with TLS 1.2 or later.
// Verification is never skipped: a nil Bundle yields an empty pool, which
// trusts nothing, and an empty serverName makes the handshake fail.
//
// The config is the caller's to adjust (ALPN, session cache), but setting
// InsecureSkipVerify on it would be a bug.
func (b *Bundle) TLSConfig(serverName string) *tls.Config {
	if host, _, err := net.SplitHostPort(serverName); err == nil {
		serverName = host
	}
	pool := x509.NewCertPool()
	if b != nil && b.Pool != nil {
		pool = b.Pool
	}
	return &tls.Config{
		ServerName: serverName,
		RootCAs:    pool,
		MinVersion: tls.VersionTLS12,
	}
}
