package mysqlwire

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
)

// Auth plugin names.
const (
	PluginNativePassword = "mysql_native_password"
	PluginClearPassword  = "mysql_clear_password"
	PluginCachingSHA2    = "caching_sha2_password"
	PluginSHA256         = "sha256_password"
	PluginEd25519        = "client_ed25519"
	PluginDialog         = "dialog"
)

// Packet headers of the authentication exchange.
const (
	// AuthSwitchHeader starts an AuthSwitchRequest (the same byte as an EOF
	// packet; in the connection phase it means auth switch).
	AuthSwitchHeader = 0xFE
	// AuthMoreDataHeader starts an AuthMoreData packet.
	AuthMoreDataHeader = 0x01
)

// AuthSwitchRequest asks the client to authenticate again with another
// plugin, giving that plugin's data (for the password plugins: a scramble
// followed by a NUL).
type AuthSwitchRequest struct {
	Plugin string
	Data   []byte
}

// IsAuthSwitchRequest reports whether a connection-phase server packet is
// an AuthSwitchRequest. (A lone 0xFE is the pre-4.1 "old password" switch,
// which is not supported and not reported as one.)
func IsAuthSwitchRequest(p []byte) bool { return len(p) > 1 && p[0] == AuthSwitchHeader }

// DecodeAuthSwitchRequest decodes an AuthSwitchRequest payload.
func DecodeAuthSwitchRequest(p []byte) (*AuthSwitchRequest, error) {
	if !IsAuthSwitchRequest(p) {
		return nil, fmt.Errorf("%w: not an auth switch request", ErrMalformed)
	}
	d := &decoder{b: p, pos: 1, what: "auth switch request"}
	a := &AuthSwitchRequest{Plugin: d.nulString("plugin name", false)}
	if d.err != nil {
		return nil, d.err
	}
	a.Data = clone(d.rest())
	return a, nil
}

// Encode returns the AuthSwitchRequest payload.
func (a *AuthSwitchRequest) Encode() []byte {
	b := make([]byte, 0, 2+len(a.Plugin)+len(a.Data))
	b = append(b, AuthSwitchHeader)
	b = append(append(b, a.Plugin...), 0)
	return append(b, a.Data...)
}

// Scramble returns the switch's data as a password scramble: without the
// trailing NUL the password plugins append.
func (a *AuthSwitchRequest) Scramble() []byte {
	return bytes.TrimSuffix(a.Data, []byte{0})
}

// IsAuthMoreData reports whether a connection-phase server packet is
// AuthMoreData.
func IsAuthMoreData(p []byte) bool { return len(p) > 0 && p[0] == AuthMoreDataHeader }

// DecodeAuthMoreData returns the data of an AuthMoreData payload (a copy).
func DecodeAuthMoreData(p []byte) ([]byte, error) {
	if !IsAuthMoreData(p) {
		return nil, fmt.Errorf("%w: not an auth-more-data packet", ErrMalformed)
	}
	return clone(p[1:]), nil
}

// EncodeAuthMoreData returns an AuthMoreData payload carrying data.
func EncodeAuthMoreData(data []byte) []byte {
	return append([]byte{AuthMoreDataHeader}, data...)
}

// ClearPassword returns the mysql_clear_password auth response: the
// password and a NUL. Send it only over TLS.
func ClearPassword(password string) []byte {
	return append([]byte(password), 0)
}

// DecodeClearPassword returns the password of a mysql_clear_password auth
// response, without its terminating NUL (clients always send one; it is
// optional here).
func DecodeClearPassword(p []byte) string {
	return string(bytes.TrimSuffix(p, []byte{0}))
}

// NativePassword returns the mysql_native_password auth response for a
// password and the server's scramble:
// SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))).
// An empty password gives an empty response, as clients send it.
func NativePassword(scramble []byte, password string) []byte {
	if password == "" {
		return []byte{}
	}
	stage1 := sha1.Sum([]byte(password))
	stage2 := sha1.Sum(stage1[:])
	h := sha1.New()
	h.Write(scramble)
	h.Write(stage2[:])
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= stage1[i]
	}
	return out
}

// NativePasswordHash returns the mysql_native_password hash the server
// stores for a password, as PASSWORD() and mysql.user's
// authentication_string show it: "*" and the upper-case hex of
// SHA1(SHA1(password)). An empty password has the empty hash.
func NativePasswordHash(password string) string {
	if password == "" {
		return ""
	}
	stage1 := sha1.Sum([]byte(password))
	stage2 := sha1.Sum(stage1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(stage2[:]))
}
