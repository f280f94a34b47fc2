package mysqlwire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
)

func TestPacketRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 250, 64 << 10, MaxChunk - 1, MaxChunk, MaxChunk + 1, 2 * MaxChunk} {
		payload := bytes.Repeat([]byte{0xAB}, n)
		if n > 0 {
			payload[n-1] = 0xCD
		}
		var buf bytes.Buffer
		next, err := WritePacket(&buf, 7, payload)
		if err != nil {
			t.Fatal(err)
		}
		chunks := n/MaxChunk + 1
		if want := byte(7 + chunks); next != want {
			t.Errorf("n=%d: next seq %d, want %d", n, next, want)
		}
		if want := n + HeaderSize*chunks; buf.Len() != want {
			t.Errorf("n=%d: wrote %d bytes, want %d", n, buf.Len(), want)
		}
		got, seq, err := ReadPacket(&buf, 0)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !bytes.Equal(got, payload) || seq != next-1 {
			t.Errorf("n=%d: read %d bytes seq %d; want %d bytes seq %d", n, len(got), seq, n, next-1)
		}
		if buf.Len() != 0 {
			t.Errorf("n=%d: %d bytes left unread", n, buf.Len())
		}
	}
}

func TestReadPacketBounds(t *testing.T) {
	// A header claiming MaxChunk bytes beyond the limit is refused before
	// anything is allocated for it.
	hdr := []byte{0xFF, 0xFF, 0xFF, 0}
	if _, _, err := ReadPacket(bytes.NewReader(hdr), DefaultHandshakeMax); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("oversized header: err = %v, want ErrPacketTooLarge", err)
	}
	// Two chunks that together exceed the limit.
	var buf bytes.Buffer
	WritePacket(&buf, 0, make([]byte, MaxChunk+10))
	if _, _, err := ReadPacket(&buf, MaxChunk+5); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("split packet: err = %v, want ErrPacketTooLarge", err)
	}
	// Truncated payload.
	if _, _, err := ReadPacket(bytes.NewReader([]byte{10, 0, 0, 0, 1, 2}), 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated: err = %v, want ErrUnexpectedEOF", err)
	}
	// Clean EOF before a packet.
	if _, _, err := ReadPacket(bytes.NewReader(nil), 0); !errors.Is(err, io.EOF) {
		t.Fatalf("empty: err = %v, want EOF", err)
	}
	// Continuation out of sequence.
	buf.Reset()
	WritePacket(&buf, 0, make([]byte, MaxChunk+1))
	b := buf.Bytes()
	b[HeaderSize+MaxChunk+3] = 9
	if _, _, err := ReadPacket(bytes.NewReader(b), 0); !errors.Is(err, ErrSequence) {
		t.Fatalf("continuation seq: err = %v, want ErrSequence", err)
	}
}

// A peer that announces 16 MiB and then sends a few bytes must not make
// the reader allocate 16 MiB.
func TestReadPacketAllocatesAsDataArrives(t *testing.T) {
	data := append([]byte{0xFE, 0xFF, 0xFF, 0}, make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 10; i++ {
		if _, _, err := ReadPacket(bytes.NewReader(data), 0); err == nil {
			t.Fatal("truncated 16 MiB packet accepted")
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Fatalf("10 reads of a lying 16 MiB header allocated %d bytes", got)
	}
}

func TestConnSequence(t *testing.T) {
	var buf bytes.Buffer
	rw := struct {
		io.Reader
		io.Writer
	}{&buf, &buf}
	c := NewConn(rw, DefaultHandshakeMax)
	if err := c.WritePacket([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if c.Seq() != 1 {
		t.Fatalf("seq after write = %d, want 1", c.Seq())
	}
	// Reading it back expects seq 1 but finds 0.
	if _, err := c.ReadPacket(); !errors.Is(err, ErrSequence) {
		t.Fatalf("err = %v, want ErrSequence", err)
	}
	c.ResetSeq()
	c.WritePacket([]byte("b"))
	c.ResetSeq()
	p, err := c.ReadPacket()
	if err != nil || string(p) != "b" || c.Seq() != 1 {
		t.Fatalf("ReadPacket = %q, %v, seq %d", p, err, c.Seq())
	}
	c.SetSeq(200)
	if c.Seq() != 200 {
		t.Fatal("SetSeq")
	}
}

func FuzzReadPacket(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 'x'}, 16)
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0, 1}, 1<<20)
	f.Add([]byte{0, 0, 0, 3}, 0)
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		p, seq, err := ReadPacket(bytes.NewReader(data), limit)
		if err != nil {
			return
		}
		if limit > 0 && len(p) > limit {
			t.Fatalf("payload %d > limit %d", len(p), limit)
		}
		if cap(p) > len(data)+growStep {
			t.Fatalf("cap %d for %d input bytes", cap(p), len(data))
		}
		// Re-framing gives the bytes back (a payload < MaxChunk is one packet).
		var buf bytes.Buffer
		WritePacket(&buf, seq-byte(len(p)/MaxChunk), p)
		if !bytes.Equal(buf.Bytes(), data[:buf.Len()]) {
			t.Fatalf("re-framed packet differs")
		}
	})
}
