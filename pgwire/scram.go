package pgwire

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/bidi"
	"golang.org/x/text/unicode/norm"
)

// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, client side.
//
// The exchange, after the server's AuthenticationSASL lists the mechanisms:
//
//	client: SASLInitialResponse  "SCRAM-SHA-256", "n,,n=,r=<cnonce>"
//	server: AuthenticationSASLContinue "r=<cnonce+snonce>,s=<salt>,i=<iterations>"
//	client: SASLResponse          "c=biws,r=<nonce>,p=<proof>"
//	server: AuthenticationSASLFinal    "v=<server signature>"
//	server: AuthenticationOk
//
// The user name inside SCRAM is empty: PostgreSQL takes the startup's user.
// No channel binding ("n,,": this client does not support it, so it must
// not pretend to think the server lacks it, which "y" would say). The
// server's signature is checked, so a server that does not know the
// password's verifier cannot complete the login.

// SCRAMSHA256 is the SASL mechanism name this client speaks.
const SCRAMSHA256 = "SCRAM-SHA-256"

// SCRAM bounds. PostgreSQL's default iteration count is 4096; the bound
// keeps a hostile server from making the client burn seconds of CPU per
// login.
const (
	scramNonceLen      = 18 // random bytes in the client nonce (24 base64 characters, like libpq)
	scramMinIterations = 1
	scramMaxIterations = 1 << 20
	scramMaxSalt       = 1024
)

// ErrSCRAM wraps every error of the SCRAM exchange; messages never contain
// the password or a key derived from it.
var ErrSCRAM = errors.New("pgwire: SCRAM")

// SCRAMClient runs one SCRAM-SHA-256 login. Use NewSCRAMClient, then
// ClientFirst, ClientFinal (with the server's first message) and
// VerifyServerFinal (with the server's final message), in that order.
type SCRAMClient struct {
	password    []byte
	user        string // "" for PostgreSQL
	clientNonce string
	firstBare   string
	authMessage string
	saltedPw    []byte
	// Derive, when set, replaces PBKDF2 (tests count calls; a proxy may
	// cache by salt and iterations). It receives the normalized password.
	Derive func(password, salt []byte, iterations int) []byte
}

// NewSCRAMClient prepares a login with password (normalized with SASLprep
// as PostgreSQL does; a password SASLprep refuses is used as is, as
// PostgreSQL does too).
func NewSCRAMClient(password string) (*SCRAMClient, error) {
	b := make([]byte, scramNonceLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("%w: client nonce: %v", ErrSCRAM, err)
	}
	return newSCRAMClient("", password, base64.StdEncoding.EncodeToString(b)), nil
}

func newSCRAMClient(user, password, nonce string) *SCRAMClient {
	return &SCRAMClient{password: []byte(saslPrep(password)), user: user, clientNonce: nonce}
}

// ClientFirst returns the SASLInitialResponse message (type 'p') choosing
// SCRAM-SHA-256.
func (c *SCRAMClient) ClientFirst() []byte {
	c.firstBare = "n=" + scramName(c.user) + ",r=" + c.clientNonce
	data := "n,," + c.firstBare
	body := append([]byte(SCRAMSHA256), 0)
	body = binary.BigEndian.AppendUint32(body, uint32(len(data)))
	body = append(body, data...)
	return AppendMessage(nil, MsgPassword, body)
}

// ClientFinal takes the data of the server's AuthenticationSASLContinue
// and returns the SASLResponse message (type 'p') with the client's proof.
func (c *SCRAMClient) ClientFinal(serverFirst []byte) ([]byte, error) {
	if c.firstBare == "" {
		return nil, fmt.Errorf("%w: ClientFinal before ClientFirst", ErrSCRAM)
	}
	nonce, salt, iter, err := parseServerFirst(string(serverFirst))
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(nonce, c.clientNonce) || len(nonce) == len(c.clientNonce) {
		return nil, fmt.Errorf("%w: the server's nonce does not extend the client's", ErrSCRAM)
	}
	if c.Derive != nil {
		c.saltedPw = c.Derive(c.password, salt, iter)
	} else if c.saltedPw, err = pbkdf2.Key(sha256.New, string(c.password), salt, iter, sha256.Size); err != nil {
		return nil, fmt.Errorf("%w: derive key: %v", ErrSCRAM, err)
	}
	finalBare := "c=biws,r=" + nonce // biws = base64("n,,")
	c.authMessage = c.firstBare + "," + string(serverFirst) + "," + finalBare
	clientKey := hmacSHA256(c.saltedPw, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	sig := hmacSHA256(storedKey[:], c.authMessage)
	proof := make([]byte, len(clientKey))
	for i := range clientKey {
		proof[i] = clientKey[i] ^ sig[i]
	}
	data := finalBare + ",p=" + base64.StdEncoding.EncodeToString(proof)
	return AppendMessage(nil, MsgPassword, []byte(data)), nil
}

// VerifyServerFinal checks the data of the server's AuthenticationSASLFinal:
// the server must prove it knows the password's verifier.
func (c *SCRAMClient) VerifyServerFinal(serverFinal []byte) error {
	if c.authMessage == "" {
		return fmt.Errorf("%w: VerifyServerFinal before ClientFinal", ErrSCRAM)
	}
	s := string(serverFinal)
	if e, ok := strings.CutPrefix(s, "e="); ok {
		return fmt.Errorf("%w: server error %q", ErrSCRAM, e)
	}
	v, ok := strings.CutPrefix(s, "v=")
	if !ok {
		return fmt.Errorf("%w: server final message has no verifier", ErrSCRAM)
	}
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i] // extensions, if any
	}
	got, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return fmt.Errorf("%w: server signature is not base64", ErrSCRAM)
	}
	serverKey := hmacSHA256(c.saltedPw, "Server Key")
	want := hmacSHA256(serverKey, c.authMessage)
	if !hmac.Equal(got, want) {
		return fmt.Errorf("%w: the server's signature is wrong: it does not know this password (not the real server?)", ErrSCRAM)
	}
	return nil
}

// parseServerFirst decodes "r=...,s=...,i=...[,ext...]". A leading "m="
// (mandatory extension) is refused, as RFC 5802 says.
func parseServerFirst(s string) (nonce string, salt []byte, iter int, err error) {
	fields := strings.Split(s, ",")
	if len(fields) < 3 {
		return "", nil, 0, fmt.Errorf("%w: server first message has %d fields, want r, s and i", ErrSCRAM, len(fields))
	}
	if strings.HasPrefix(fields[0], "m=") {
		return "", nil, 0, fmt.Errorf("%w: server requires an extension this client does not know", ErrSCRAM)
	}
	var ok bool
	if nonce, ok = strings.CutPrefix(fields[0], "r="); !ok || nonce == "" {
		return "", nil, 0, fmt.Errorf("%w: server first message lacks the nonce", ErrSCRAM)
	}
	for _, r := range nonce {
		if r < 0x21 || r > 0x7e || r == ',' {
			return "", nil, 0, fmt.Errorf("%w: server nonce has a character outside printable ASCII", ErrSCRAM)
		}
	}
	s64, ok := strings.CutPrefix(fields[1], "s=")
	if !ok || s64 == "" || len(s64) > base64.StdEncoding.EncodedLen(scramMaxSalt) {
		return "", nil, 0, fmt.Errorf("%w: server first message lacks a salt (or it is over %d bytes)", ErrSCRAM, scramMaxSalt)
	}
	if salt, err = base64.StdEncoding.DecodeString(s64); err != nil {
		return "", nil, 0, fmt.Errorf("%w: salt is not base64", ErrSCRAM)
	}
	is, ok := strings.CutPrefix(fields[2], "i=")
	if !ok {
		return "", nil, 0, fmt.Errorf("%w: server first message lacks the iteration count", ErrSCRAM)
	}
	if iter, err = strconv.Atoi(is); err != nil || iter < scramMinIterations || iter > scramMaxIterations {
		return "", nil, 0, fmt.Errorf("%w: iteration count %q is not between %d and %d", ErrSCRAM, is, scramMinIterations, scramMaxIterations)
	}
	return nonce, salt, iter, nil
}

// ParseSASLMechanisms decodes the data of an AuthenticationSASL request: a
// list of NUL-terminated mechanism names ended by an empty one.
func ParseSASLMechanisms(data []byte) ([]string, error) {
	var out []string
	for {
		s, rest, ok := cstring(data)
		if !ok {
			return nil, fmt.Errorf("%w: SASL mechanism list not NUL-terminated", ErrMalformed)
		}
		if s == "" {
			if len(rest) != 0 {
				return nil, fmt.Errorf("%w: %d bytes after the SASL mechanism list", ErrMalformed, len(rest))
			}
			return out, nil
		}
		out = append(out, s)
		data = rest
	}
}

// MD5Password returns the PasswordMessage answering AuthenticationMD5Password
// with salt: "md5" + hex(md5(hex(md5(password + user)) + salt)).
func MD5Password(user, password string, salt []byte) []byte {
	inner := md5.Sum([]byte(password + user))
	h := md5.New()
	h.Write([]byte(hex.EncodeToString(inner[:])))
	h.Write(salt)
	return PasswordMessage("md5" + hex.EncodeToString(h.Sum(nil)))
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// scramName escapes a SCRAM user name ('=' and ',').
func scramName(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// saslPrep normalizes a password as PostgreSQL's pg_saslprep (RFC 4013's
// SASLprep profile of stringprep) does before deriving SCRAM keys: non-ASCII
// spaces become spaces, characters "commonly mapped to nothing" go, then
// NFKC. A password that SASLprep prohibits (control and private-use
// characters, bad bidirectional text, ...) is used as it is, as PostgreSQL
// does. Printable ASCII, what RDS and Secrets Manager generate, is never
// changed. One known difference: PostgreSQL treats code points assigned
// after Unicode 3.2 as prohibited (password used raw), this normalizes them.
func saslPrep(pw string) string {
	ascii := true
	for i := 0; i < len(pw); i++ {
		if pw[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return pw // NFKC and the mappings leave ASCII alone; controls make it "prohibited": raw either way
	}
	if !utf8.ValidString(pw) {
		return pw
	}
	mapped := make([]rune, 0, len(pw))
	for _, r := range pw {
		switch {
		case mappedToNothing(r):
		case nonASCIISpace(r):
			mapped = append(mapped, ' ')
		default:
			mapped = append(mapped, r)
		}
	}
	out := norm.NFKC.String(string(mapped))
	var randAL, l bool
	for _, r := range out {
		if saslProhibited(r) {
			return pw
		}
		p, _ := bidi.LookupRune(r)
		switch p.Class() {
		case bidi.R, bidi.AL:
			randAL = true
		case bidi.L:
			l = true
		}
	}
	if randAL {
		first, _ := utf8.DecodeRuneInString(out)
		last, _ := utf8.DecodeLastRuneInString(out)
		if l || !isRandAL(first) || !isRandAL(last) {
			return pw
		}
	}
	return out
}

func isRandAL(r rune) bool {
	p, _ := bidi.LookupRune(r)
	return p.Class() == bidi.R || p.Class() == bidi.AL
}

// mappedToNothing is RFC 3454 table B.1.
func mappedToNothing(r rune) bool {
	switch {
	case r == 0x00AD, r == 0x034F, r == 0x1806, r >= 0x180B && r <= 0x180D,
		r >= 0x200B && r <= 0x200D, r == 0x2060, r >= 0xFE00 && r <= 0xFE0F, r == 0xFEFF:
		return true
	}
	return false
}

// nonASCIISpace is RFC 3454 table C.1.2.
func nonASCIISpace(r rune) bool {
	switch {
	case r == 0x00A0, r == 0x1680, r >= 0x2000 && r <= 0x200B, r == 0x202F, r == 0x205F, r == 0x3000:
		return true
	}
	return false
}

// saslProhibited is SASLprep's prohibited output (RFC 4013 section 2.3:
// RFC 3454 tables C.1.2 to C.9) and unassigned code points.
func saslProhibited(r rune) bool {
	switch {
	case nonASCIISpace(r),
		r < 0x20, r == 0x7F, r >= 0x80 && r <= 0x9F, // C.2.1, C.2.2
		r == 0x06DD, r == 0x070F, r == 0x180E, r == 0x200C, r == 0x200D, r == 0x2028, r == 0x2029,
		r >= 0x2060 && r <= 0x2063, r >= 0x206A && r <= 0x206F, r == 0xFEFF, r >= 0xFFF9 && r <= 0xFFFD,
		r >= 0x1D173 && r <= 0x1D17A,
		r >= 0xE000 && r <= 0xF8FF, r >= 0xF0000, // C.3 private use (and planes 15-16)
		r >= 0xFDD0 && r <= 0xFDEF, r&0xFFFE == 0xFFFE, // C.4 non-characters
		r >= 0xD800 && r <= 0xDFFF,                                                     // C.5
		r >= 0x2FF0 && r <= 0x2FFB,                                                     // C.7
		r == 0x0340, r == 0x0341, r == 0x200E, r == 0x200F, r >= 0x202A && r <= 0x202E, // C.8
		r == 0xE0001, r >= 0xE0020 && r <= 0xE007F: // C.9
		return true
	}
	return !assigned(r)
}

// assigned reports whether r has a Unicode category other than
// unassigned (Go's tables have no Cn).
func assigned(r rune) bool {
	for _, t := range unicode.Categories {
		if unicode.Is(t, r) {
			return true
		}
	}
	return false
}
