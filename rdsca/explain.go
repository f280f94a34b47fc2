package rdsca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/rdsgate/rdsgate/setting"
)

// explained is an error rewritten for people; it unwraps to the original,
// so errors.As still finds the x509 or tls error.
type explained struct {
	msg setting.Text
	err error
}

func (e *explained) Error() string { return e.msg.String() }
func (e *explained) Unwrap() error { return e.err }

// Render spells the settings the message names in s.
func (e *explained) Render(s setting.Style) string { return e.msg.Render(s) }

// ServerCertExpired reports whether err is the server's own certificate
// (not a CA's) being past its end: the server needs a new one, and no CA
// bundle on this side changes that.
func ServerCertExpired(err error) bool {
	var invErr x509.CertificateInvalidError
	return errors.As(err, &invErr) && invErr.Reason == x509.Expired && invErr.Cert != nil && !invErr.Cert.IsCA &&
		time.Now().After(invErr.Cert.NotAfter)
}

// ExplainVerifyError turns a TLS handshake error into a one-line message
// that names the cause:
//
//   - the chain ends in an unknown authority: the issuer's name, and the hint
//     to set the CA bundle (setting.CABundle) or to check the region's bundle;
//   - the name does not match: the names the certificate has and the one
//     expected;
//   - a certificate expired or not yet valid: which one, with its dates;
//   - the server did not speak TLS (a non-TLS answer, or a hang-up during
//     the handshake).
//
// serverName is the name the certificate was checked against. The result
// wraps err. nil stays nil; other errors come back unchanged.
func ExplainVerifyError(err error, serverName string) error {
	if err == nil {
		return nil
	}
	var done *explained
	if errors.As(err, &done) {
		return err
	}
	var (
		hostErr x509.HostnameError
		authErr x509.UnknownAuthorityError
		invErr  x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
		netErr  net.Error
	)
	var msg setting.Text
	switch {
	case errors.As(err, &hostErr):
		want := serverName
		if want == "" {
			want = hostErr.Host
		}
		msg = setting.Textf("rdsca: the server's certificate is not valid for %q: it names %s; connect with a name the certificate has (the RDS endpoint, not an alias or an IP address)",
			want, certNames(hostErr.Certificate))
	case errors.As(err, &authErr):
		issuer := "an unknown issuer"
		if authErr.Cert != nil {
			issuer = fmt.Sprintf("%q", nameOf(authErr.Cert.Issuer.CommonName, authErr.Cert.Issuer.String()))
		}
		msg = setting.Textf("rdsca: the certificate of %q is signed by unknown authority %s, which is not in the CA bundle; pass %s (or set %s) with that CA, or check that the bundle is the one for the database's region",
			serverName, issuer, setting.CABundle.Is("FILE"), EnvBundle)
	case errors.As(err, &invErr) && invErr.Reason == x509.Expired && invErr.Cert != nil:
		c := invErr.Cert
		what := fmt.Sprintf("the certificate of %q", serverName)
		if c.IsCA {
			what = fmt.Sprintf("CA certificate %q in the chain of %q", nameOf(c.Subject.CommonName, c.Subject.String()), serverName)
		}
		if now := time.Now(); now.Before(c.NotBefore) {
			msg = setting.Textf("rdsca: %s is not valid before %s (now %s); check this machine's clock",
				what, stamp(c.NotBefore), stamp(now))
		} else {
			msg = setting.Textf("rdsca: %s expired at %s (valid from %s; now %s)",
				what, stamp(c.NotAfter), stamp(c.NotBefore), stamp(now))
		}
	case errors.As(err, &invErr):
		msg = setting.Textf("rdsca: the certificate chain of %q is invalid: %v", serverName, invErr)
	case errors.As(err, &recErr):
		msg = setting.Textf("rdsca: the server for %q did not answer TLS (its first bytes %q are not a TLS record); is this the database's port, with TLS turned on?",
			serverName, string(recErr.RecordHeader[:]))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		msg = setting.Textf("rdsca: the server for %q hung up during the TLS handshake, so it did not answer TLS; is this the database's port, with TLS turned on?", serverName)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		msg = setting.Textf("rdsca: the server for %q did not answer the TLS handshake in time", serverName)
	default:
		return err
	}
	return &explained{msg: msg, err: err}
}

// certNames lists the names a certificate is valid for.
func certNames(c *x509.Certificate) string {
	if c == nil {
		return "no names"
	}
	var names []string
	for _, n := range c.DNSNames {
		names = append(names, fmt.Sprintf("%q", n))
	}
	for _, ip := range c.IPAddresses {
		names = append(names, fmt.Sprintf("%q", ip.String()))
	}
	if len(names) == 0 {
		if c.Subject.CommonName != "" {
			return fmt.Sprintf("no DNS names (only the legacy common name %q, which is not used for verification)", c.Subject.CommonName)
		}
		return "no names"
	}
	return strings.Join(names, ", ")
}

func nameOf(cn, full string) string {
	if cn != "" {
		return cn
	}
	return full
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
