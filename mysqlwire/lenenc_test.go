package mysqlwire

import (
	"bytes"
	"testing"
)

func TestLenEnc(t *testing.T) {
	for _, c := range []struct {
		v    uint64
		wire []byte
	}{
		{0, []byte{0}},
		{250, []byte{250}},
		{251, []byte{0xFC, 251, 0}},
		{0xFFFF, []byte{0xFC, 0xFF, 0xFF}},
		{0x10000, []byte{0xFD, 0, 0, 1}},
		{0xFFFFFF, []byte{0xFD, 0xFF, 0xFF, 0xFF}},
		{0x1000000, []byte{0xFE, 0, 0, 0, 1, 0, 0, 0, 0}},
		{1<<64 - 1, []byte{0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
	} {
		if got := AppendLenEncInt(nil, c.v); !bytes.Equal(got, c.wire) {
			t.Errorf("AppendLenEncInt(%d) = %x, want %x", c.v, got, c.wire)
		}
		v, n, ok := ReadLenEncInt(c.wire)
		if !ok || v != c.v || n != len(c.wire) {
			t.Errorf("ReadLenEncInt(%x) = %d, %d, %v", c.wire, v, n, ok)
		}
		if _, _, ok := ReadLenEncInt(c.wire[:len(c.wire)-1]); ok && len(c.wire) > 1 {
			t.Errorf("truncated %x accepted", c.wire)
		}
	}
	for _, bad := range [][]byte{nil, {0xFB}, {0xFF}} {
		if _, _, ok := ReadLenEncInt(bad); ok {
			t.Errorf("ReadLenEncInt(%x) ok", bad)
		}
	}
	s, n, ok := ReadLenEncString([]byte{3, 'a', 'b', 'c', 'd'})
	if !ok || string(s) != "abc" || n != 4 {
		t.Errorf("ReadLenEncString = %q %d %v", s, n, ok)
	}
	if _, _, ok := ReadLenEncString([]byte{4, 'a'}); ok {
		t.Error("short string accepted")
	}
}

func FuzzLenEnc(f *testing.F) {
	f.Add([]byte{0xFC, 1, 2})
	f.Add([]byte{0xFE, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{5, 'h', 'e', 'l', 'l', 'o'})
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, n, ok := ReadLenEncInt(b); ok {
			if n > len(b) {
				t.Fatal("n beyond input")
			}
			v2, _, ok2 := ReadLenEncInt(AppendLenEncInt(nil, v))
			if !ok2 || v2 != v {
				t.Fatalf("round trip %d -> %d", v, v2)
			}
		}
		if s, n, ok := ReadLenEncString(b); ok {
			if n > len(b) || len(s) > len(b) {
				t.Fatal("string beyond input")
			}
			s2, _, _ := ReadLenEncString(AppendLenEncString(nil, s))
			if !bytes.Equal(s, s2) {
				t.Fatal("string round trip")
			}
		}
	})
}
