package postgres

import (
	"testing"

	"github.com/rdsgate/rdsgate/pgwire"
)

func TestStatementCaptureAcrossChunks(t *testing.T) {
	var stream []byte
	stream = pgwire.AppendMessage(stream, 'Q', []byte("select 1\x00"))
	stream = pgwire.AppendMessage(stream, 'P', []byte("s1\x00select $1\x00\x00\x00"))
	stream = pgwire.AppendMessage(stream, 'B', []byte("secret-bind-parameter"))
	stream = pgwire.AppendMessage(stream, 'd', make([]byte, 100000)) // COPY data
	stream = pgwire.AppendMessage(stream, 'Q', []byte("select 2\x00"))
	for _, chunk := range []int{1, 3, 7, 4096, len(stream)} {
		var got []string
		c := newStatementCapture(func(s string) { got = append(got, s) })
		for i := 0; i < len(stream); i += chunk {
			c.feed(stream[i:min(i+chunk, len(stream))])
		}
		want := []string{"select 1", "select $1", "select 2"}
		if len(got) != len(want) {
			t.Fatalf("chunk %d: got %q", chunk, got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("chunk %d: statement %d = %q, want %q", chunk, i, got[i], want[i])
			}
		}
	}
}

func FuzzStatementCapture(f *testing.F) {
	f.Add(pgwire.AppendMessage(nil, 'Q', []byte("select 1\x00")), 3)
	f.Add([]byte{'Q', 0xff, 0xff, 0xff, 0xff, 'x'}, 1)
	f.Fuzz(func(t *testing.T, b []byte, chunk int) {
		if chunk <= 0 || chunk > 1<<16 {
			chunk = 1
		}
		c := newStatementCapture(func(s string) {
			if len(s) > maxCaptured {
				t.Fatalf("captured %d bytes", len(s))
			}
		})
		for i := 0; i < len(b); i += chunk {
			c.feed(b[i:min(i+chunk, len(b))])
		}
		if cap(c.body) > maxCaptured*2 {
			t.Fatalf("buffer grew to %d", cap(c.body))
		}
	})
}
