package proxy

import (
	"crypto/tls"
	"fmt"
)

// LocalTLSConfig loads a certificate and key (PEM files) for TLS on the
// local leg: for clients that insist on TLS (sslmode=require or
// verify-full, mysql --ssl-mode=REQUIRED) or a policy that wants loopback
// encrypted too. TLS 1.2 or newer.
func LocalTLSConfig(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("proxy: local TLS needs both a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("proxy: local TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
