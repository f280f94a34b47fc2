package pgwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgproto3"
)

func TestReadMessageExact(t *testing.T) {
	in := append(AuthenticationCleartextPassword(), ReadyForQuery('I')...)
	br := bufio.NewReader(bytes.NewReader(append(in, "rest"...)))
	typ, body, err := ReadMessage(br, 16)
	if err != nil || typ != MsgAuthentication || !bytes.Equal(body, []byte{0, 0, 0, 3}) {
		t.Fatalf("ReadMessage = %q %x %v", typ, body, err)
	}
	typ, body, err = ReadMessage(br, 16)
	if err != nil || typ != MsgReadyForQuery || !bytes.Equal(body, []byte{'I'}) {
		t.Fatalf("ReadMessage = %q %x %v", typ, body, err)
	}
	rest, _ := io.ReadAll(br)
	if string(rest) != "rest" {
		t.Errorf("after two messages the reader holds %q, want the bytes that follow them", rest)
	}
	if _, _, err := ReadMessage(bufio.NewReader(bytes.NewReader(nil)), 16); !errors.Is(err, io.EOF) {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
}

func TestReadMessageErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"short header", []byte{'p', 0, 0}, io.ErrUnexpectedEOF},
		{"length 3", []byte{'p', 0, 0, 0, 3}, ErrInvalidLength},
		{"too long", []byte{'p', 0, 0, 1, 5}, ErrTooLong},
		{"2^32-1", []byte{'p', 0xff, 0xff, 0xff, 0xff}, ErrTooLong},
		{"truncated", []byte{'p', 0, 0, 0, 10, 'a'}, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadMessage(bufio.NewReader(bytes.NewReader(tc.in)), 256)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadMessage = %v, want %v", err, tc.want)
			}
		})
	}
}

// A hostile length never makes ReadMessage allocate more than its bound.
func TestReadMessageAllocationBounded(t *testing.T) {
	const max, rounds = 1 << 10, 200
	hostile := []byte{'p', 0x7f, 0xff, 0xff, 0xff}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range rounds {
		br := bufio.NewReaderSize(bytes.NewReader(hostile), 16)
		if _, _, err := ReadMessage(br, max); !errors.Is(err, ErrTooLong) {
			t.Fatalf("ReadMessage = %v", err)
		}
		if _, err := ReadStartup(bytes.NewReader(hostile[1:])); !errors.Is(err, ErrTooLong) {
			t.Fatalf("ReadStartup = %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / rounds; per > 4<<10 {
		t.Errorf("%d bytes allocated per hostile header, want a few hundred", per)
	}
}

func TestBuildersAgreeWithPgproto3(t *testing.T) {
	var stream []byte
	stream = append(stream, AuthenticationOk()...)
	stream = append(stream, AuthenticationCleartextPassword()...)
	stream = append(stream, AuthenticationSASL("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")...)
	stream = append(stream, ParameterStatus("server_version", "15.8")...)
	stream = append(stream, BackendKeyData(4242, []byte{1, 2, 3, 4})...)
	stream = append(stream, NegotiateProtocolVersion(ProtocolVersion30, []string{"_pq_.test_grease"})...)
	stream = append(stream, ErrorResponse(&Error{Severity: SeverityFatal, Code: CodeInvalidAuthorization, Message: `PAM authentication failed for user "app_user"`, Detail: "d", Hint: "h"})...)
	stream = append(stream, ReadyForQuery('I')...)

	fe := pgproto3.NewFrontend(bytes.NewReader(stream), io.Discard)
	var got []string
	for range 8 {
		m, err := fe.Receive()
		if err != nil {
			t.Fatalf("pgproto3 after %v: %v", got, err)
		}
		switch m := m.(type) {
		case *pgproto3.AuthenticationOk:
			got = append(got, "ok")
		case *pgproto3.AuthenticationCleartextPassword:
			got = append(got, "cleartext")
		case *pgproto3.AuthenticationSASL:
			got = append(got, "sasl:"+m.AuthMechanisms[0]+","+m.AuthMechanisms[1])
		case *pgproto3.ParameterStatus:
			got = append(got, "ps:"+m.Name+"="+m.Value)
		case *pgproto3.BackendKeyData:
			got = append(got, "key:"+string(rune('0'+m.ProcessID%10)))
		case *pgproto3.NegotiateProtocolVersion:
			got = append(got, "npv:"+m.UnrecognizedOptions[0])
		case *pgproto3.ErrorResponse:
			got = append(got, "err:"+m.Severity+"/"+m.SeverityUnlocalized+"/"+m.Code+"/"+m.Message+"/"+m.Detail+"/"+m.Hint)
		case *pgproto3.ReadyForQuery:
			got = append(got, "rfq:"+string(m.TxStatus))
		default:
			t.Fatalf("unexpected %T", m)
		}
	}
	want := []string{"ok", "cleartext", "sasl:SCRAM-SHA-256-PLUS,SCRAM-SHA-256", "ps:server_version=15.8", "key:2",
		"npv:_pq_.test_grease", `err:FATAL/FATAL/28000/PAM authentication failed for user "app_user"/d/h`, "rfq:I"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParsers(t *testing.T) {
	e := &Error{Severity: SeverityFatal, Code: CodeInvalidPassword, Message: "m\x00x", Hint: "h"}
	msg := ErrorResponse(e)
	_, body, err := ReadMessage(bufio.NewReader(bytes.NewReader(msg)), 1024)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseErrorResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	if want := (&Error{Severity: "FATAL", Code: "28P01", Message: "mx", Hint: "h"}); !cmp.Equal(got, want) {
		t.Errorf("ParseErrorResponse = %+v", got)
	}
	if got.Error() != "FATAL: mx (SQLSTATE 28P01)" {
		t.Errorf("Error() = %q", got.Error())
	}

	pw, err := ParsePassword(PasswordMessage("tok")[5:])
	if err != nil || pw != "tok" {
		t.Errorf("ParsePassword = %q, %v", pw, err)
	}
	if _, err := ParsePassword([]byte("secret-token")); err == nil || bytes.Contains([]byte(err.Error()), []byte("secret")) {
		t.Errorf("ParsePassword of an unterminated body: %v (must fail without quoting it)", err)
	}
	minor, opts, err := ParseNegotiateProtocolVersion(NegotiateProtocolVersion(ProtocolVersion30, []string{"_pq_.a", "_pq_.b"})[5:])
	if err != nil || minor != ProtocolVersion30 || !cmp.Equal(opts, []string{"_pq_.a", "_pq_.b"}) {
		t.Errorf("ParseNegotiateProtocolVersion = %d %v %v", minor, opts, err)
	}
	if _, _, err := ParseNegotiateProtocolVersion([]byte{0, 3, 0, 0, 0xff, 0xff, 0xff, 0xff, 'a', 0}); !errors.Is(err, ErrMalformed) {
		t.Errorf("hostile option count: %v", err)
	}
	pid, key, err := ParseBackendKeyData(BackendKeyData(7, bytes.Repeat([]byte{9}, 32))[5:])
	if err != nil || pid != 7 || len(key) != 32 {
		t.Errorf("ParseBackendKeyData = %d %x %v", pid, key, err)
	}
	code, _, err := ParseAuthentication(AuthenticationSASLFinal([]byte("v=x"))[5:])
	if err != nil || code != AuthSASLFinal {
		t.Errorf("ParseAuthentication = %d %v", code, err)
	}
}

func FuzzReadMessage(f *testing.F) {
	f.Add(append(AuthenticationCleartextPassword(), ReadyForQuery('I')...))
	f.Add(PasswordMessage("host:5432/?Action=connect"))
	f.Add(ErrorResponse(&Error{Severity: "FATAL", Code: "28000", Message: "m"}))
	f.Add(NegotiateProtocolVersion(ProtocolVersion30, []string{"_pq_.x"}))
	f.Add(BackendKeyData(1, []byte{1, 2, 3, 4}))
	f.Add([]byte{'p', 0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{'E', 0, 0, 0, 4})
	const max = 512
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &countingReader{r: bytes.NewReader(data)}
		br := bufio.NewReaderSize(r, 16)
		var consumed int
		for range 16 {
			typ, body, err := ReadMessage(br, max)
			if err != nil {
				if errors.Is(err, ErrTooLong) && len(body) != 0 {
					t.Fatalf("body with ErrTooLong")
				}
				if errors.Is(err, io.EOF) && consumed != len(data) {
					t.Fatalf("clean EOF after %d of %d bytes", consumed, len(data))
				}
				return
			}
			if len(body) > max {
				t.Fatalf("body of %d bytes, bound %d", len(body), max)
			}
			enc := AppendMessage(nil, typ, body)
			if !bytes.Equal(enc, data[consumed:consumed+len(enc)]) {
				t.Fatalf("re-encoded %x, read %x", enc, data[consumed:consumed+len(enc)])
			}
			consumed += len(enc)
			// The body parsers must not panic on anything.
			_, _ = ParseErrorResponse(body)
			_, _, _ = ParseNegotiateProtocolVersion(body)
			_, _ = ParsePassword(body)
			_, _, _ = ParseAuthentication(body)
			_, _, _ = ParseBackendKeyData(body)
		}
		// 16 whole messages read: the rest is still there, nothing lost.
		if consumed+br.Buffered() != r.n {
			t.Fatalf("consumed %d + buffered %d != read %d: bytes lost", consumed, br.Buffered(), r.n)
		}
	})
}
