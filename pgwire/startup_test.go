package pgwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgproto3"
)

// countingReader counts the bytes its reader handed out.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func packet(code uint32, body ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	b = binary.BigEndian.AppendUint32(b, code)
	return append(b, body...)
}

func startupBytes(version uint32, kv ...string) []byte {
	var body []byte
	for _, s := range kv {
		body = append(append(body, s...), 0)
	}
	return packet(version, append(body, 0)...)
}

func TestReadStartupKinds(t *testing.T) {
	key32 := bytes.Repeat([]byte{0xAB}, 32)
	tests := []struct {
		name string
		in   []byte
		want Startup
	}{
		{"ssl", []byte{0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F}, &SSLRequest{}},
		{"gssenc", []byte{0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x30}, &GSSENCRequest{}},
		{"cancel 3.0", packet(CancelRequestCode, 0, 0, 0x30, 0x39, 1, 2, 3, 4), &CancelRequest{ProcessID: 12345, SecretKey: []byte{1, 2, 3, 4}}},
		{"cancel 3.2", packet(CancelRequestCode, append([]byte{0, 0, 0, 7}, key32...)...), &CancelRequest{ProcessID: 7, SecretKey: key32}},
		{"startup 3.0", startupBytes(ProtocolVersion30, "user", "app_user", "database", "orders", "application_name", ""),
			&StartupMessage{ProtocolVersion: ProtocolVersion30, Params: []Param{{"user", "app_user"}, {"database", "orders"}, {"application_name", ""}}}},
		{"startup 3.2", startupBytes(ProtocolVersion32, "user", "u"), &StartupMessage{ProtocolVersion: ProtocolVersion32, Params: []Param{{"user", "u"}}}},
		{"grease 3.9999", startupBytes(3<<16|9999, "user", "u", "_pq_.test_grease", "1", "database", "d"),
			&StartupMessage{ProtocolVersion: 3<<16 | 9999, Params: []Param{{"user", "u"}, {"_pq_.test_grease", "1"}, {"database", "d"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			trailer := []byte("NEXT")
			r := &countingReader{r: bytes.NewReader(append(append([]byte(nil), tc.in...), trailer...))}
			got, err := ReadStartup(r)
			if err != nil {
				t.Fatalf("ReadStartup: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ReadStartup (-want +got):\n%s", diff)
			}
			if r.n != len(tc.in) {
				t.Errorf("consumed %d bytes, want exactly the packet's %d", r.n, len(tc.in))
			}
			enc, err := EncodeStartup(got)
			if err != nil {
				t.Fatalf("EncodeStartup: %v", err)
			}
			if !bytes.Equal(enc, tc.in) {
				t.Errorf("re-encoded\n%x\nwant\n%x", enc, tc.in)
			}
		})
	}
}

// pgproto3's backend reads what we encode (for the versions it knows), so
// the encoding agrees with an independent implementation.
func TestStartupAgreesWithPgproto3(t *testing.T) {
	m := &StartupMessage{ProtocolVersion: ProtocolVersion32, Params: []Param{{"user", "app_user"}, {"database", "db"}, {"options", "-c x=y"}}}
	enc, err := EncodeStartup(m)
	if err != nil {
		t.Fatal(err)
	}
	be := pgproto3.NewBackend(bytes.NewReader(enc), io.Discard)
	got, err := be.ReceiveStartupMessage()
	if err != nil {
		t.Fatalf("pgproto3: %v", err)
	}
	sm, ok := got.(*pgproto3.StartupMessage)
	if !ok {
		t.Fatalf("pgproto3 read %T", got)
	}
	want := map[string]string{"user": "app_user", "database": "db", "options": "-c x=y"}
	if sm.ProtocolVersion != ProtocolVersion32 || !cmp.Equal(sm.Parameters, want) {
		t.Errorf("pgproto3 read %d %v", sm.ProtocolVersion, sm.Parameters)
	}

	c := &CancelRequest{ProcessID: 99, SecretKey: bytes.Repeat([]byte{7}, 32)}
	enc, err = EncodeStartup(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err = pgproto3.NewBackend(bytes.NewReader(enc), io.Discard).ReceiveStartupMessage()
	if err != nil {
		t.Fatalf("pgproto3: %v", err)
	}
	if cr, ok := got.(*pgproto3.CancelRequest); !ok || cr.ProcessID != 99 || !bytes.Equal(cr.SecretKey, c.SecretKey) {
		t.Errorf("pgproto3 read %#v", got)
	}
}

func TestReadStartupErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"short header", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"truncated body", startupBytes(ProtocolVersion30, "user", "u")[:12], io.ErrUnexpectedEOF},
		{"length 0", []byte{0, 0, 0, 0}, ErrInvalidLength},
		{"length 7", []byte{0, 0, 0, 7, 1, 2, 3}, ErrInvalidLength},
		{"length 10001", []byte{0, 0, 0x27, 0x11}, ErrTooLong},
		{"length 2^31", []byte{0x80, 0, 0, 0}, ErrTooLong},
		{"ssl with extra", packet(SSLRequestCode, 0), ErrMalformed},
		{"cancel key 3", packet(CancelRequestCode, 0, 0, 0, 1, 1, 2, 3), ErrMalformed},
		{"cancel key 257", packet(CancelRequestCode, make([]byte, 4+257)...), ErrMalformed},
		{"protocol 2.0", startupBytes(2<<16, "user", "u"), ErrUnsupportedProtocol},
		{"protocol 4.0", startupBytes(4<<16, "user", "u"), ErrUnsupportedProtocol},
		{"unknown 1234.5681", packet(80877105), ErrUnsupportedProtocol},
		{"no user", startupBytes(ProtocolVersion30, "database", "d"), ErrMalformed},
		{"empty user", startupBytes(ProtocolVersion30, "user", ""), ErrMalformed},
		{"duplicate user", startupBytes(ProtocolVersion30, "user", "a", "user", "postgres"), ErrMalformed},
		{"no terminator", packet(ProtocolVersion30, []byte("user\x00u\x00")...), ErrMalformed},
		{"value unterminated", packet(ProtocolVersion30, []byte("user\x00u")...), ErrMalformed},
		{"name unterminated", packet(ProtocolVersion30, []byte("user")...), ErrMalformed},
		{"trailing after terminator", packet(ProtocolVersion30, []byte("user\x00u\x00\x00x")...), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &countingReader{r: bytes.NewReader(append(tc.in, bytes.Repeat([]byte{0}, 20000)...))}
			if tc.in == nil || tc.want == io.ErrUnexpectedEOF {
				r = &countingReader{r: bytes.NewReader(tc.in)}
			}
			_, err := ReadStartup(r)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadStartup = %v, want %v", err, tc.want)
			}
			if errors.Is(err, ErrTooLong) && r.n != 4 {
				t.Errorf("read %d bytes of an oversized packet, want only its 4-byte length", r.n)
			}
		})
	}
}

func TestEncodeStartupRefuses(t *testing.T) {
	tests := []struct {
		name string
		p    Startup
	}{
		{"short key", &CancelRequest{SecretKey: []byte{1, 2, 3}}},
		{"long key", &CancelRequest{SecretKey: make([]byte, 257)}},
		{"major 2", &StartupMessage{ProtocolVersion: 2 << 16, Params: []Param{{"user", "u"}}}},
		{"no user", &StartupMessage{ProtocolVersion: ProtocolVersion30}},
		{"NUL in value", &StartupMessage{ProtocolVersion: ProtocolVersion30, Params: []Param{{"user", "u\x00postgres"}}}},
		{"NUL in name", &StartupMessage{ProtocolVersion: ProtocolVersion30, Params: []Param{{"user", "u"}, {"a\x00b", "c"}}}},
		{"empty name", &StartupMessage{ProtocolVersion: ProtocolVersion30, Params: []Param{{"user", "u"}, {"", "c"}}}},
		{"too long", &StartupMessage{ProtocolVersion: ProtocolVersion30, Params: []Param{{"user", "u"}, {"options", strings.Repeat("x", MaxStartupLen)}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := EncodeStartup(tc.p); err == nil {
				t.Fatalf("EncodeStartup = %x, want an error", b)
			}
		})
	}
}

func TestStartupAccessors(t *testing.T) {
	m := &StartupMessage{ProtocolVersion: 3<<16 | 9999, Params: []Param{{"user", "u"}, {"_pq_.a", "1"}, {"x", "y"}, {"_pq_.b", ""}}}
	if m.Major() != 3 || m.Minor() != 9999 {
		t.Errorf("version %d.%d", m.Major(), m.Minor())
	}
	if m.Database() != "u" {
		t.Errorf("Database() = %q, want the user name", m.Database())
	}
	if got := m.ProtocolOptions(); !cmp.Equal(got, []string{"_pq_.a", "_pq_.b"}) {
		t.Errorf("ProtocolOptions() = %v", got)
	}
	m.Params = append(m.Params, Param{"database", "d"})
	if m.Database() != "d" {
		t.Errorf("Database() = %q", m.Database())
	}
}

func FuzzReadStartup(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F})
	f.Add([]byte{0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x30})
	f.Add(packet(CancelRequestCode, 0, 0, 0, 1, 1, 2, 3, 4))
	f.Add(packet(CancelRequestCode, append([]byte{0, 0, 0, 1}, make([]byte, 32)...)...))
	f.Add(startupBytes(ProtocolVersion30, "user", "app_user", "database", "d"))
	f.Add(startupBytes(ProtocolVersion32, "user", "u", "options", "-c a=b"))
	f.Add(startupBytes(3<<16|9999, "user", "u", "_pq_.test_grease", "1"))
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0})
	f.Add([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &countingReader{r: bytes.NewReader(data)}
		p, err := ReadStartup(r)
		if r.n > MaxStartupLen {
			t.Fatalf("consumed %d bytes, more than the bound", r.n)
		}
		if err != nil {
			if p != nil {
				t.Fatalf("non-nil %T with error %v", p, err)
			}
			if errors.Is(err, ErrTooLong) && r.n != 4 {
				t.Fatalf("read %d bytes of an oversized packet", r.n)
			}
			return
		}
		enc, err := EncodeStartup(p)
		if err != nil {
			t.Fatalf("cannot re-encode what was read (%T): %v", p, err)
		}
		if !bytes.Equal(enc, data[:r.n]) {
			t.Fatalf("re-encoded %x, read %x", enc, data[:r.n])
		}
	})
}
