package mysqlwire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sampleResponse() *HandshakeResponse {
	return &HandshakeResponse{
		Capabilities: ClientLongFlag | ClientProtocol41 | ClientSecureConnection | ClientPluginAuth |
			ClientPluginAuthLenEncClientData | ClientConnectAttrs | ClientConnectWithDB |
			ClientDeprecateEOF | ClientSessionTrack | ClientTransactions | ClientMultiResults,
		MariaDBCaps:   MariaDBClientCacheMetadata,
		MaxPacketSize: 1 << 24,
		Collation:     224,
		User:          "app_user",
		AuthResponse:  bytes.Repeat([]byte{0x5A}, 20),
		Database:      "appdb",
		AuthPlugin:    PluginNativePassword,
		Attrs:         []Attr{{"_client_name", "libmariadb"}, {"_pid", "1234"}, {"", ""}},
	}
}

func TestHandshakeResponseRoundTrip(t *testing.T) {
	for name, mod := range map[string]func(r *HandshakeResponse){
		"mariadb":     func(r *HandshakeResponse) {},
		"mysql":       func(r *HandshakeResponse) { r.Capabilities |= ClientMySQL; r.MariaDBCaps = 0 },
		"1-byte auth": func(r *HandshakeResponse) { r.Capabilities &^= ClientPluginAuthLenEncClientData },
		"long auth":   func(r *HandshakeResponse) { r.AuthResponse = bytes.Repeat([]byte{1}, 1300) },
		"no db":       func(r *HandshakeResponse) { r.Capabilities &^= ClientConnectWithDB; r.Database = "" },
		"no attrs":    func(r *HandshakeResponse) { r.Capabilities &^= ClientConnectAttrs; r.Attrs = nil },
		"zstd":        func(r *HandshakeResponse) { r.Capabilities |= ClientZstdCompression; r.ZstdLevel = 3 },
		"empty auth":  func(r *HandshakeResponse) { r.AuthResponse = []byte{} },
		"nul-term auth": func(r *HandshakeResponse) {
			r.Capabilities &^= ClientPluginAuthLenEncClientData | ClientSecureConnection
			r.AuthResponse = []byte("old")
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := sampleResponse()
			mod(r)
			p, err := r.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeHandshakeResponse(p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(r, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if IsSSLRequest(p) {
				t.Error("full response taken for an SSLRequest")
			}
		})
	}
}

func TestHandshakeResponseEncodeErrors(t *testing.T) {
	r := sampleResponse()
	r.Capabilities &^= ClientPluginAuthLenEncClientData
	r.AuthResponse = make([]byte, 256)
	if _, err := r.Encode(); err == nil {
		t.Error("256-byte auth response with a 1-byte length encoded")
	}
	r = sampleResponse()
	r.User = "a\x00b"
	if _, err := r.Encode(); err == nil {
		t.Error("NUL in user encoded")
	}
	r = sampleResponse()
	r.Capabilities &^= ClientProtocol41
	if _, err := r.Encode(); err == nil {
		t.Error("pre-4.1 response encoded")
	}
}

func TestHandshakeResponseDecodeErrors(t *testing.T) {
	p, _ := sampleResponse().Encode()
	for i := 0; i < len(p); i++ {
		r, err := DecodeHandshakeResponse(p[:i])
		// Trailing optional parts may be cut; the fixed part, the user and
		// the auth response may not.
		if err == nil && i < SSLRequestLen+len("app_user")+1+1+20 {
			t.Errorf("truncated at %d accepted: %+v", i, r)
		}
	}
	// Attributes longer than the packet.
	r := sampleResponse()
	p, _ = r.Encode()
	p[len(p)-len("\x0c_client_name\x0alibmariadb\x04_pid\x041234\x00\x00")-1] = 200
	if _, err := DecodeHandshakeResponse(p); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized attrs: err = %v", err)
	}
}

func TestSSLRequest(t *testing.T) {
	r := sampleResponse()
	s := r.SSLRequest()
	p := s.Encode()
	if len(p) != SSLRequestLen || !IsSSLRequest(p) {
		t.Fatalf("SSLRequest %x", p)
	}
	full, _ := r.Encode()
	// The SSLRequest is the response's first 32 bytes (with CLIENT_SSL).
	want := append([]byte{}, full[:SSLRequestLen]...)
	want[1] |= byte(ClientSSL >> 8)
	if !bytes.Equal(p, want) {
		t.Errorf("SSLRequest %x, want %x", p, want)
	}
	got, err := DecodeSSLRequest(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Error(diff)
	}
	if _, err := DecodeSSLRequest(p[:31]); err == nil {
		t.Error("31 bytes accepted")
	}
	p[1] &^= byte(ClientSSL >> 8)
	if _, err := DecodeSSLRequest(p); err == nil || IsSSLRequest(p) {
		t.Error("SSLRequest without CLIENT_SSL accepted")
	}
}

func FuzzHandshakeResponse(f *testing.F) {
	p, _ := sampleResponse().Encode()
	f.Add(p)
	r := sampleResponse()
	r.Capabilities |= ClientMySQL | ClientZstdCompression
	p, _ = r.Encode()
	f.Add(p)
	f.Add(sampleResponse().SSLRequest().Encode())
	f.Fuzz(func(t *testing.T, p []byte) {
		if IsSSLRequest(p) {
			s, err := DecodeSSLRequest(p)
			if err != nil {
				t.Fatalf("IsSSLRequest but %v", err)
			}
			if !bytes.Equal(s.Encode()[:9], p[:9]) {
				t.Fatal("SSLRequest round trip")
			}
		}
		r, err := DecodeHandshakeResponse(p)
		if err != nil {
			return
		}
		if len(r.AuthResponse) > len(p) || len(r.Attrs) > len(p) {
			t.Fatal("decoded more than the input")
		}
		q, err := r.Encode()
		if err != nil {
			// Decodable but not encodable happens only for NUL-terminated
			// auth data, which cannot hold a NUL anyway.
			t.Fatalf("re-encode: %v", err)
		}
		r2, err := DecodeHandshakeResponse(q)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if diff := cmp.Diff(r, r2); diff != "" {
			t.Fatalf("round trip:\n%s", diff)
		}
	})
}
