package mysqlwire

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestErrPacket(t *testing.T) {
	e := AccessDenied("app_user", "10.0.0.1", true)
	if got, want := e.Error(), "ERROR 1045 (28000): Access denied for user 'app_user'@'10.0.0.1' (using password: YES)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	p := e.Encode()
	if !bytes.HasPrefix(p, []byte("\xff\x15\x04#28000Access denied")) {
		t.Errorf("Encode = %q", p)
	}
	got, err := DecodeErr(p, ClientProtocol41)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, got); diff != "" {
		t.Error(diff)
	}
	// Without the marker (pre-4.1 style, or an early server refusal).
	got, err = DecodeErr([]byte("\xff\x10\x04Too many connections"), ClientProtocol41)
	if err != nil || got.SQLState != "" || got.Message != "Too many connections" || got.Code != 1040 {
		t.Errorf("no marker: %+v %v", got, err)
	}
	if _, err := DecodeErr([]byte{0xFF, 1}, ClientProtocol41); err == nil {
		t.Error("truncated ERR accepted")
	}
	if AccessDenied("u", "h", false).Message[len("Access denied for user 'u'@'h' (using password: "):] != "NO)" {
		t.Error("using password: NO")
	}
}

func TestOKPacket(t *testing.T) {
	caps := ClientProtocol41 | ClientSessionTrack
	for _, ok := range []*OKPacket{
		{Header: OKHeader, Status: StatusAutocommit},
		{Header: OKHeader, AffectedRows: 300, LastInsertID: 1 << 20, Status: StatusAutocommit | StatusSessionStateChange, Warnings: 2, Info: "Rows matched", SessionState: []byte{0, 5, 4, 'a', 'b', 'c', 'd'}},
		{Header: EOFHeader, Status: StatusInTrans},
	} {
		p := ok.Encode(caps)
		got, err := DecodeOK(p, caps)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ok, got); diff != "" {
			t.Error(diff)
		}
	}
	ok := &OKPacket{Status: StatusAutocommit, Info: "hello"}
	got, err := DecodeOK(ok.Encode(ClientProtocol41), ClientProtocol41)
	if err != nil || got.Info != "hello" || got.Header != OKHeader {
		t.Errorf("no session track: %+v %v", got, err)
	}
	if !IsOK([]byte{0, 0, 0, 2, 0, 0, 0}) || IsOK([]byte{0, 0}) {
		t.Error("IsOK")
	}
}

func TestEOFPacket(t *testing.T) {
	e := &EOFPacket{Warnings: 1, Status: StatusMoreResultsExists}
	p := e.Encode()
	if !IsEOF(p) {
		t.Fatal("IsEOF")
	}
	got, err := DecodeEOF(p)
	if err != nil || *got != *e {
		t.Errorf("%+v %v", got, err)
	}
	if IsEOF(append([]byte{0xFE}, make([]byte, 8)...)) {
		t.Error("9-byte 0xFE packet is a row, not EOF")
	}
}

func FuzzErrOKEOF(f *testing.F) {
	f.Add(AccessDenied("u", "h", true).Encode())
	f.Add((&OKPacket{AffectedRows: 1, Status: StatusSessionStateChange, SessionState: []byte{1, 2}}).Encode(ClientProtocol41 | ClientSessionTrack))
	f.Add((&EOFPacket{}).Encode())
	f.Fuzz(func(t *testing.T, p []byte) {
		if e, err := DecodeErr(p, ClientProtocol41); err == nil {
			e2, err := DecodeErr(e.Encode(), ClientProtocol41)
			if err != nil || e2.Code != e.Code || (e.SQLState != "" && e2.SQLState != e.SQLState) {
				t.Fatalf("ERR round trip: %+v %+v %v", e, e2, err)
			}
		}
		for _, caps := range []Capability{0, ClientProtocol41, ClientTransactions, ClientProtocol41 | ClientSessionTrack} {
			ok, err := DecodeOK(p, caps)
			if err != nil {
				continue
			}
			if len(ok.SessionState) > len(p) || len(ok.Info) > len(p) {
				t.Fatal("decoded more than the input")
			}
			ok2, err := DecodeOK(ok.Encode(caps), caps)
			if err != nil {
				t.Fatalf("OK re-decode (caps %v): %v", caps, err)
			}
			if ok.SessionState == nil && ok2.SessionState != nil && len(ok2.SessionState) == 0 {
				ok2.SessionState = nil
			}
			if diff := cmp.Diff(ok, ok2); diff != "" {
				t.Fatalf("OK round trip (caps %v):\n%s", caps, diff)
			}
		}
		if e, err := DecodeEOF(p); err == nil {
			if _, err := DecodeEOF(e.Encode()); err != nil {
				t.Fatal(err)
			}
		}
	})
}
