package mysqlwire

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"testing"
)

func TestNativePassword(t *testing.T) {
	// PASSWORD('password') in MySQL/MariaDB (documented widely, and checked
	// against a real server in TestAgainstMariaDB).
	if got, want := NativePasswordHash("password"), "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"; got != want {
		t.Errorf("NativePasswordHash = %s, want %s", got, want)
	}
	if NativePasswordHash("") != "" || len(NativePassword([]byte("x"), "")) != 0 {
		t.Error("empty password must give empty hash and response")
	}
	scramble := []byte("01234567890123456789")
	r := NativePassword(scramble, "secret")
	if len(r) != 20 {
		t.Fatalf("len = %d", len(r))
	}
	// The server's check: SHA1(scramble + stored) XOR response = SHA1(pw),
	// whose SHA1 is the stored hash.
	stored, _ := hex.DecodeString(NativePasswordHash("secret")[1:])
	if !checkNative(scramble, stored, r) {
		t.Error("server-side check fails")
	}
	if checkNative([]byte("01234567890123456780"), stored, r) {
		t.Error("check passes for another scramble")
	}
}

func FuzzAuthSwitchRequest(f *testing.F) {
	f.Add((&AuthSwitchRequest{Plugin: PluginClearPassword, Data: []byte("scramble\x00")}).Encode())
	f.Add([]byte{0xFE})
	f.Add([]byte{0xFE, 'a'})
	f.Fuzz(func(t *testing.T, p []byte) {
		a, err := DecodeAuthSwitchRequest(p)
		if err != nil {
			return
		}
		if !bytes.Equal(a.Encode(), p) {
			t.Fatalf("round trip %x -> %x", p, a.Encode())
		}
	})
}

func FuzzAuthMoreData(f *testing.F) {
	f.Add(EncodeAuthMoreData([]byte{3}))
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := DecodeAuthMoreData(p)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeAuthMoreData(d), p) {
			t.Fatal("round trip")
		}
		_ = DecodeClearPassword(p)
	})
}

func TestAuthSwitch(t *testing.T) {
	a := &AuthSwitchRequest{Plugin: PluginClearPassword, Data: []byte("abc\x00")}
	p := a.Encode()
	if string(p) != "\xfemysql_clear_password\x00abc\x00" {
		t.Fatalf("Encode = %q", p)
	}
	got, err := DecodeAuthSwitchRequest(p)
	if err != nil || got.Plugin != a.Plugin || string(got.Scramble()) != "abc" {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	if IsAuthSwitchRequest([]byte{0xFE}) {
		t.Error("old-password switch reported as auth switch")
	}
	if _, err := DecodeAuthSwitchRequest([]byte{0xFE, 'x'}); err == nil {
		t.Error("unterminated plugin name accepted")
	}
	if string(ClearPassword("tok")) != "tok\x00" || DecodeClearPassword([]byte("tok\x00")) != "tok" {
		t.Error("clear password")
	}
}

// checkNative is the server's side of mysql_native_password: stored is
// SHA1(SHA1(pw)); the response XOR SHA1(scramble + stored) must be a
// value whose SHA1 is stored.
func checkNative(scramble, stored, response []byte) bool {
	h := sha1.New()
	h.Write(scramble)
	h.Write(stored)
	x := h.Sum(nil)
	for i := range x {
		x[i] ^= response[i]
	}
	s := sha1.Sum(x)
	return bytes.Equal(s[:], stored)
}
