package pgwire

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// The example exchange of RFC 7677 section 3 (user "user", password
// "pencil"); PostgreSQL sends an empty user name, the RFC does not.
const (
	rfcNonce       = "rOprNGfwEbeRWgbNEkqO"
	rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
)

// readPassword splits a 'p' message built by the client.
func readPassword(t *testing.T, msg []byte) []byte {
	t.Helper()
	typ, body, err := ReadMessage(bufio.NewReader(bytes.NewReader(msg)), 1<<16)
	if err != nil || typ != MsgPassword {
		t.Fatalf("message %q: %v", typ, err)
	}
	return body
}

func TestSCRAMRFC7677Example(t *testing.T) {
	c := newSCRAMClient("user", "pencil", rfcNonce)
	first := readPassword(t, c.ClientFirst())
	want := append([]byte("SCRAM-SHA-256\x00\x00\x00\x00\x20"), "n,,n=user,r="+rfcNonce...)
	if !bytes.Equal(first, want) {
		t.Errorf("SASLInitialResponse body = %q, want %q", first, want)
	}
	final, err := c.ClientFinal([]byte(rfcServerFirst))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(readPassword(t, final)); got != rfcClientFinal {
		t.Errorf("client final = %q, want %q", got, rfcClientFinal)
	}
	if err := c.VerifyServerFinal([]byte(rfcServerFinal)); err != nil {
		t.Errorf("the RFC's server signature: %v", err)
	}
	if err := c.VerifyServerFinal([]byte("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")); !errors.Is(err, ErrSCRAM) || !strings.Contains(err.Error(), "signature is wrong") {
		t.Errorf("a forged server signature: %v", err)
	}
	if err := c.VerifyServerFinal([]byte("e=invalid-proof")); err == nil || !strings.Contains(err.Error(), "invalid-proof") {
		t.Errorf("a server error: %v", err)
	}
}

func TestSCRAMClientFirstForPostgreSQL(t *testing.T) {
	c, err := NewSCRAMClient("pencil")
	if err != nil {
		t.Fatal(err)
	}
	body := string(readPassword(t, c.ClientFirst()))
	mech, data, _ := strings.Cut(body, "\x00")
	if mech != SCRAMSHA256 || !strings.HasPrefix(data[4:], "n,,n=,r=") || len(data[4:]) != len("n,,n=,r=")+24 {
		t.Errorf("SASLInitialResponse = %q", body)
	}
}

func TestSCRAMRefusesBadServerFirst(t *testing.T) {
	for _, tc := range []struct{ desc, msg, want string }{
		{"nonce not extended", "r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend"},
		{"nonce not extended at all", "r=" + rfcNonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend"},
		{"no salt", "r=" + rfcNonce + "x,s=,i=4096", "salt"},
		{"salt not base64", "r=" + rfcNonce + "x,s=%%%,i=4096", "base64"},
		{"too many iterations", "r=" + rfcNonce + "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100000000", "iteration count"},
		{"zero iterations", "r=" + rfcNonce + "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", "iteration count"},
		{"mandatory extension", "m=ext,r=" + rfcNonce + "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "extension"},
		{"too few fields", "r=" + rfcNonce + "x", "fields"},
		{"huge salt", "r=" + rfcNonce + "x,s=" + strings.Repeat("A", 4096) + ",i=4096", "salt"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := newSCRAMClient("", "pencil", rfcNonce)
			c.ClientFirst()
			_, err := c.ClientFinal([]byte(tc.msg))
			if !errors.Is(err, ErrSCRAM) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ClientFinal(%q) = %v, want an error about %q", tc.msg, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "pencil") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestSASLPrep(t *testing.T) {
	for _, tc := range []struct{ desc, in, want string }{
		{"printable ASCII is unchanged", "Xy7!~ {}=,", "Xy7!~ {}=,"},
		{"ASCII with a control character is used raw", "a\tb", "a\tb"},
		{"non-ASCII space maps to space, full width to ASCII (NFKC)", "ｐａｓｓ\u00a0wörd", "pass wörd"},
		{"soft hyphen is mapped to nothing", "pass\u00adword", "password"},
		{"private use is prohibited: raw", "pw\ue000", "pw\ue000"},
		{"mixed bidirectional text is prohibited: raw", "a\u05d0", "a\u05d0"},
		{"right-to-left text is fine", "\u05d0\u05d1", "\u05d0\u05d1"},
		{"invalid UTF-8 is used raw", "pw\xff", "pw\xff"},
	} {
		if got := saslPrep(tc.in); got != tc.want {
			t.Errorf("%s: saslPrep(%q) = %q, want %q", tc.desc, tc.in, got, tc.want)
		}
	}
}

func TestParseSASLMechanisms(t *testing.T) {
	body := AuthenticationSASL("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")
	code, data, err := ParseAuthentication(body[5:])
	if err != nil || code != AuthSASL {
		t.Fatal(code, err)
	}
	got, err := ParseSASLMechanisms(data)
	if err != nil || strings.Join(got, " ") != "SCRAM-SHA-256-PLUS SCRAM-SHA-256" {
		t.Errorf("mechanisms = %q, %v", got, err)
	}
	for _, bad := range []string{"", "SCRAM", "SCRAM\x00", "SCRAM\x00\x00x"} {
		if _, err := ParseSASLMechanisms([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseSASLMechanisms(%q) = %v", bad, err)
		}
	}
}

func TestMD5Password(t *testing.T) {
	// md5 + hex(md5(hex(md5("secret" + "alice")) + salt)), computed with Python's hashlib.
	got := readPassword(t, MD5Password("alice", "secret", []byte{1, 2, 3, 4}))
	if want := "md598a0412b9c31436fc53776e863350083\x00"; string(got) != want {
		t.Errorf("MD5Password = %q, want %q", got, want)
	}
}

// FuzzSCRAMServerMessages feeds arbitrary server messages to the client:
// no panic, and every refusal is an ErrSCRAM.
func FuzzSCRAMServerMessages(f *testing.F) {
	f.Add([]byte(rfcServerFirst), []byte(rfcServerFinal))
	f.Add([]byte("r="+rfcNonce+"x,s=,i=1"), []byte("v="))
	f.Add([]byte("r="+rfcNonce+"\x00,s=AA==,i=1,ext"), []byte("e=other-error"))
	f.Fuzz(func(t *testing.T, first, final []byte) {
		c := newSCRAMClient("user", "pencil", rfcNonce)
		c.Derive = func(pw, salt []byte, iter int) []byte { return make([]byte, 32) } // keep the fuzzer fast
		c.ClientFirst()
		if _, err := c.ClientFinal(first); err != nil {
			if !errors.Is(err, ErrSCRAM) {
				t.Fatalf("ClientFinal error %v is not ErrSCRAM", err)
			}
			return
		}
		if err := c.VerifyServerFinal(final); err != nil && !errors.Is(err, ErrSCRAM) {
			t.Fatalf("VerifyServerFinal error %v is not ErrSCRAM", err)
		}
	})
}
