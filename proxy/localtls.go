package proxy

import (
	"crypto/tls"
	"fmt"

	"github.com/rdsgate/rdsgate/setting"
)

// LocalTLSConfig loads a certificate and key (PEM files) for TLS on the
// local leg: for clients that insist on TLS (sslmode=require or
// verify-full, mysql --ssl-mode=REQUIRED) or a policy that wants loopback
// encrypted too. TLS 1.2 or newer. With neither file it is nil: the local
// leg declines TLS.
func LocalTLSConfig(certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil // no TLS on the local leg
	case certFile == "" || keyFile == "":
		return nil, setting.Invalidf("%s and %s go together", setting.LocalCert, setting.LocalKey)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("proxy: local TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
