package testharness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/serverproc"
)

// CA is a throwaway certificate authority for tests. Servers get leaf
// certificates for RDS-like names (mydb.c0test.us-east-1.rds.amazonaws.com)
// and clients trust Pool or CertFile.
type CA struct {
	CertPEM  []byte            // the CA certificate, PEM
	Pool     *x509.CertPool    // a pool holding only this CA
	CertFile string            // CertPEM written to a file (mode 0644)
	Cert     *x509.Certificate // the parsed CA certificate
	Key      *ecdsa.PrivateKey // the CA's key, to sign more (e.g. bad) certificates
	Dir      string            // where the files live; removed at cleanup

	n atomic.Int64
}

// NewCA makes a CA named name (its subject CN). Its files live in a fresh
// directory under os.TempDir() that other OS users can traverse (t.TempDir()
// cannot be traversed by the postgres/mysql users), removed at cleanup.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testharness: NewCA: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"rdsgate tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testharness: NewCA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testharness: NewCA: %v", err)
	}
	ca := &CA{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Pool:    x509.NewCertPool(),
		Cert:    cert,
		Key:     key,
		Dir:     peerDir(t, "ca"),
	}
	ca.Pool.AddCert(cert)
	ca.CertFile = filepath.Join(ca.Dir, "ca.pem")
	writeFile(t, ca.CertFile, ca.CertPEM, 0o644, serverproc.Account{})
	return ca
}

// Leaf issues a certificate signed by ca for names (DNS SANs, or IP SANs
// for names that parse as IP addresses; the first name is also the CN),
// usable for server and client authentication, valid from an hour ago for
// a week. It writes certFile (0644) and keyFile (0600) to ca.Dir; when
// owner is not "" and the test runs as root both files are chowned to that
// OS user (PostgreSQL wants its key 0600 and owned by the server user).
// StartPostgres and StartMariaDB copy the files they are given, so owner
// matters only for other uses.
func (ca *CA) Leaf(t testing.TB, owner string, names ...string) (certFile, keyFile string, cert tls.Certificate) {
	t.Helper()
	if len(names) == 0 {
		t.Fatalf("testharness: Leaf needs at least one name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testharness: Leaf: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(t),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatalf("testharness: Leaf: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testharness: Leaf: %v", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})

	var u serverproc.Account
	if owner != "" && os.Geteuid() == 0 {
		var err error
		if u, err = serverproc.LookupAccount(owner); err != nil {
			t.Fatalf("testharness: Leaf: owner %q: %v", owner, err)
		}
	}
	base := filepath.Join(ca.Dir, "leaf"+strconv.FormatInt(ca.n.Add(1), 10))
	certFile, keyFile = base+".crt", base+".key"
	writeFile(t, certFile, certPEM, 0o644, u)
	writeFile(t, keyFile, keyPEM, 0o600, u)
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("testharness: Leaf: %v", err)
	}
	return certFile, keyFile, cert
}

func randSerial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("testharness: serial: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}
