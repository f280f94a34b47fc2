package mysql

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/mysqlwire"
)

// pkt frames payload as one logical packet starting at seq.
func pkt(seq byte, payload []byte) []byte {
	b, _ := mysqlwire.AppendPacket(nil, seq, payload)
	return b
}

func cmd(c byte, text string) []byte { return pkt(0, append([]byte{c}, text...)) }

// walk feeds stream to a walker in chunks of the given sizes (cycled), the
// way clientReader does (held-back bytes first), and returns what it
// forwards and the statements it captured.
func walk(w *commandWalker, stream []byte, chunks []int) (out []byte, stmts []string) {
	w.emit = func(s string) { stmts = append(stmts, s) }
	var held []byte
	for pos, c := 0, 0; pos < len(stream); c++ {
		n := 1
		if len(chunks) > 0 {
			n = max(1, chunks[c%len(chunks)])
		}
		n = min(n, len(stream)-pos)
		buf := append(append([]byte{}, held...), stream[pos:pos+n]...)
		pos += n
		o, k := w.filter(buf)
		if o+k > len(buf) {
			panic("filter: out+keep > len")
		}
		out = append(out, buf[:o]...)
		held = append([]byte{}, buf[len(buf)-k:]...)
	}
	return out, stmts
}

func TestWalkerDropsChangeUserAndCaptures(t *testing.T) {
	changeUser := cmd(comChangeUser, "root\x00\x14"+strings.Repeat("x", 20)+"appdb\x00")
	bigQuery := "SELECT '" + strings.Repeat("q", mysqlwire.MaxChunk) + "'" // two chunks on the wire
	execute := pkt(0, append([]byte{0x17, 1, 0, 0, 0}, "secret-param"...))
	var stream, want []byte
	add := func(p []byte, keep bool) {
		stream = append(stream, p...)
		if keep {
			want = append(want, p...)
		}
	}
	add(cmd(comQuery, "SELECT 1"), true)
	add(changeUser, false)
	add(cmd(comStmtPrepare, "SELECT ?"), true)
	add(execute, true)
	add(cmd(comQuery, bigQuery), true)
	add(pkt(0, []byte{comChangeUser}), false)
	add(cmd(0x0e, ""), true) // COM_PING
	add(cmd(comQuery, "SELECT 2"), true)
	// (Byte-sized chunks of a 16 MiB stream are slow under the race detector.)
	for _, chunks := range [][]int{{1 << 16, 1, 2, 3, 4, 5}, {4096}, {len(stream)}} {
		w := &commandWalker{}
		out, stmts := walk(w, stream, chunks)
		if !bytes.Equal(out, want) {
			t.Fatalf("chunks %v: forwarded %d bytes, want %d", chunks, len(out), len(want))
		}
		if w.refused != 2 {
			t.Errorf("chunks %v: refused %d, want 2", chunks, w.refused)
		}
		if len(stmts) != 4 || stmts[0] != "SELECT 1" || stmts[1] != "SELECT ?" || stmts[3] != "SELECT 2" {
			t.Fatalf("chunks %v: statements %.40q", chunks, stmts)
		}
		if len(stmts[2]) != maxCaptured-1 || !strings.HasPrefix(stmts[2], "SELECT 'qqq") {
			t.Errorf("chunks %v: big statement captured as %d bytes", chunks, len(stmts[2]))
		}
		for _, s := range stmts {
			if strings.Contains(s, "secret-param") {
				t.Error("a COM_STMT_EXECUTE parameter was captured")
			}
		}
		if cap(w.body) > maxCaptured*2 {
			t.Errorf("capture buffer kept %d bytes", cap(w.body))
		}
	}
}

// TestWalkerLocalInfile: with LOAD DATA LOCAL, file data passes through
// sequence id 0 every 256 packets; such a packet is data, not a command.
func TestWalkerLocalInfile(t *testing.T) {
	var stream []byte
	stream = append(stream, cmd(comQuery, "LOAD DATA LOCAL INFILE 'f' INTO TABLE t")...)
	// The server asks for the file (seq 1); the client sends 300 packets
	// from seq 2, each starting with 0x11, then an empty one.
	seq := byte(2)
	for range 300 {
		stream = append(stream, pkt(seq, []byte{comChangeUser, 'd', 'a', 't', 'a'})...)
		seq++
	}
	stream = append(stream, pkt(seq, nil)...)
	stream = append(stream, cmd(comChangeUser, "root\x00")...)
	stream = append(stream, cmd(comQuery, "SELECT 3")...)
	w := &commandWalker{localInfile: true}
	out, stmts := walk(w, stream, []int{7})
	wantLen := len(stream) - len(cmd(comChangeUser, "root\x00"))
	if len(out) != wantLen || w.refused != 1 {
		t.Fatalf("forwarded %d of %d bytes (want %d), refused %d (want 1)", len(out), len(stream), wantLen, w.refused)
	}
	if len(stmts) != 2 || stmts[1] != "SELECT 3" {
		t.Errorf("statements %q", stmts)
	}
	// Without LOAD DATA LOCAL negotiated, a sequence-0 packet is always a command.
	w = &commandWalker{}
	walk(w, stream, []int{7})
	if w.refused < 2 {
		t.Errorf("without local infile: refused %d", w.refused)
	}
}

func TestStatementTextWithQueryAttributes(t *testing.T) {
	// COM_QUERY with two attributes: a string and a NULL, then the text.
	p := []byte{comQuery, 2, 1, 0b10, 1}
	p = append(p, 0xfe, 0, 4, 't', 'r', 'a', 'c')    // VAR_STRING "trac"
	p = append(p, 0x06, 0, 3, 'n', 'i', 'l')         // NULL "nil"
	p = append(p, 5, 'v', 'a', 'l', 'u', 'e')        // the string's value
	p = append(p, "SELECT * FROM t WHERE id = 1"...) // (the NULL has no value)
	got, ok := statementText(p, true)
	if !ok || got != "SELECT * FROM t WHERE id = 1" {
		t.Errorf("statementText = %q, %v", got, ok)
	}
	// No attributes: two zero counts.
	if got, ok := statementText(append([]byte{comQuery, 0, 1}, "SELECT 1"...), true); !ok || got != "SELECT 1" {
		t.Errorf("no attributes: %q, %v", got, ok)
	}
	// Every fixed-size type.
	p = []byte{comQuery, 6, 1, 0, 1}
	for _, typ := range []byte{0x01, 0x02, 0x03, 0x08, 0x0c, 0x05} {
		p = append(p, typ, 0x80, 1, 'a')
	}
	p = append(p, 7)                           // TINY
	p = binary.LittleEndian.AppendUint16(p, 7) // SHORT
	p = binary.LittleEndian.AppendUint32(p, 7) // LONG
	p = binary.LittleEndian.AppendUint64(p, 7) // LONGLONG
	p = append(p, 4, 0xe8, 0x07, 1, 2)         // DATETIME
	p = binary.LittleEndian.AppendUint64(p, 7) // DOUBLE
	p = append(p, "SELECT 2"...)
	if got, ok := statementText(p, true); !ok || got != "SELECT 2" {
		t.Errorf("typed attributes: %q, %v", got, ok)
	}
	for _, bad := range [][]byte{{comQuery}, {comQuery, 1, 1, 0, 0}, {comQuery, 1, 1, 0, 1, 0x42, 0, 0}, {comQuery, 0xfc}} {
		if _, ok := statementText(bad, true); ok && len(bad) > 1 {
			t.Errorf("statementText(%x) accepted a malformed attribute block", bad)
		}
	}
}

// fakeClient is a client connection that yields the given chunks and
// records what is written to it.
type fakeClient struct {
	net.Conn
	chunks [][]byte
	wrote  bytes.Buffer
}

func (c *fakeClient) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

func (c *fakeClient) Write(p []byte) (int, error) { return c.wrote.Write(p) }

func TestClientReaderAnswersChangeUser(t *testing.T) {
	q := cmd(comQuery, "SELECT 1")
	cu := cmd(comChangeUser, "root\x00")
	// A read that holds only the refused packet must not return (0, nil).
	c := &fakeClient{chunks: [][]byte{q[:2], append(q[2:], cu[:3]...), cu[3:], q}}
	refusals := 0
	r := &clientReader{conn: c, onRefuse: func() { refusals++ }}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]byte{}, q...), q...); !bytes.Equal(got, want) {
		t.Errorf("forwarded %x, want %x", got, want)
	}
	if refusals != 1 || !bytes.Equal(c.wrote.Bytes(), changeUserRefusal) {
		t.Fatalf("client got %x (%d refusals)", c.wrote.Bytes(), refusals)
	}
	p, seq, err := mysqlwire.ReadPacket(bytes.NewReader(c.wrote.Bytes()), 0)
	if err != nil || seq != 1 {
		t.Fatal(seq, err)
	}
	e, err := mysqlwire.DecodeErr(p, mysqlwire.ClientProtocol41)
	if err != nil || e.Code != 1227 || e.SQLState != "42000" || !strings.Contains(e.Message, "COM_CHANGE_USER is not allowed") {
		t.Errorf("refusal %v, %v", e, err)
	}
}

// FuzzCommandWalker checks that the walker never panics, keeps its buffers
// bounded, forwards the same bytes however the stream is cut, and drops
// exactly the COM_CHANGE_USER packets a whole-stream parse finds.
func FuzzCommandWalker(f *testing.F) {
	seed := append(cmd(comQuery, "SELECT 1"), cmd(comChangeUser, "root\x00")...)
	seed = append(seed, pkt(0, append([]byte{comQuery, 1, 1, 0, 1, 0xfe, 0, 1, 'a', 1, 'b'}, "SELECT 2"...))...)
	f.Add(seed, uint16(3), uint16(7), false, true)
	f.Add(append(cmd(comQuery, "LOAD DATA"), pkt(2, []byte{comChangeUser})...), uint16(1), uint16(2), true, false)
	f.Add([]byte{0xff, 0xff, 0xff, 0, comQuery, 'x'}, uint16(5), uint16(1), false, false)
	f.Fuzz(func(t *testing.T, stream []byte, c1, c2 uint16, localInfile, queryAttrs bool) {
		whole := &commandWalker{localInfile: localInfile, queryAttrs: queryAttrs}
		wantOut, wantStmts := walk(whole, stream, []int{len(stream)})
		cut := &commandWalker{localInfile: localInfile, queryAttrs: queryAttrs}
		out, stmts := walk(cut, stream, []int{int(c1), int(c2)})
		if !bytes.Equal(out, wantOut) || cut.refused != whole.refused || len(stmts) != len(wantStmts) {
			t.Fatalf("cutting the stream changed the result: %d/%d bytes, %d/%d refusals, %d/%d statements",
				len(out), len(wantOut), cut.refused, whole.refused, len(stmts), len(wantStmts))
		}
		for i := range stmts {
			if stmts[i] != wantStmts[i] || len(stmts[i]) > maxCaptured {
				t.Fatalf("statement %d differs or is too long (%d bytes)", i, len(stmts[i]))
			}
		}
		if cap(cut.body) > 2*maxCaptured {
			t.Fatalf("capture buffer grew to %d", cap(cut.body))
		}
		if localInfile {
			return
		}
		// Without LOAD DATA LOCAL: a reference parse of the whole stream.
		var ref []byte
		refused := 0
		drop, cont := false, false
		for b := stream; len(b) >= 4; {
			n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
			if !cont {
				if b[3] == 0 && n > 0 && len(b) < 5 {
					break // classified only with its command byte
				}
				drop = b[3] == 0 && n > 0 && b[4] == comChangeUser
			}
			end := min(4+n, len(b))
			if !drop {
				ref = append(ref, b[:end]...)
			}
			cont = n == mysqlwire.MaxChunk
			if end == 4+n && drop && !cont {
				refused++
			}
			b = b[end:]
		}
		if !bytes.Equal(ref, wantOut) || refused != whole.refused {
			t.Fatalf("walker forwarded %d bytes with %d refusals; a whole-stream parse says %d and %d", len(wantOut), whole.refused, len(ref), refused)
		}
	})
}
