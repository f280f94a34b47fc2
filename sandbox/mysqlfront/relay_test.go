package mysqlfront

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/rdsgate/rdsgate/mysqlwire"
)

// addrConn is a net.Conn that only knows its remote address (for logs).
type addrConn struct{ net.Conn }

func (addrConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func relaySession() *session {
	return &session{
		srv:    &Server{cfg: Config{Secret: testSecret}, log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		client: addrConn{},
	}
}

func frame(seq byte, p []byte) []byte {
	b, _ := mysqlwire.AppendPacket(nil, seq, p)
	return b
}

func query(q string) []byte { return frame(0, append([]byte{comQuery}, q...)) }

func TestRelayRewritesOnlyUserStatements(t *testing.T) {
	create := "CREATE USER 'bob'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL"
	want, _ := RewriteQuery(testSecret, create)
	var in, out bytes.Buffer
	in.Write(query("SELECT 1"))
	in.Write(frame(0, []byte{0x16, 'x'}))                             // COM_STMT_PREPARE
	in.Write(frame(2, []byte("CREATE USER AWSAuthenticationPlugin"))) // LOAD DATA LOCAL content: not a command
	in.Write(query(create))
	in.Write(frame(0, append([]byte{comQuery}, strings.Repeat("y", maxInspect)...))) // too long to inspect
	in.Write(query("INSERT INTO t VALUES ('CREATE USER x IDENTIFIED WITH AWSAuthenticationPlugin AS ''RDS''')"))
	var expect bytes.Buffer
	expect.Write(query("SELECT 1"))
	expect.Write(frame(0, []byte{0x16, 'x'}))
	expect.Write(frame(2, []byte("CREATE USER AWSAuthenticationPlugin")))
	expect.Write(query(want))
	expect.Write(frame(0, append([]byte{comQuery}, strings.Repeat("y", maxInspect)...)))
	expect.Write(query("INSERT INTO t VALUES ('CREATE USER x IDENTIFIED WITH AWSAuthenticationPlugin AS ''RDS''')"))

	for name, r := range map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	} {
		ss := relaySession()
		out.Reset()
		err := ss.copyClientToBackend(&out, r(bytes.NewReader(in.Bytes())))
		if err != io.EOF {
			t.Errorf("%s: err = %v, want EOF", name, err)
		}
		if !bytes.Equal(out.Bytes(), expect.Bytes()) {
			t.Errorf("%s: relayed %d bytes, want %d (differ)", name, out.Len(), expect.Len())
		}
		if n := ss.srv.rewrites.Load(); n != 1 {
			t.Errorf("%s: %d rewrites, want 1", name, n)
		}
	}
}

func TestRelayDoesNotAllocate(t *testing.T) {
	var in bytes.Buffer
	for i := 0; i < 50; i++ {
		in.Write(query("SELECT * FROM orders WHERE id = 42"))
		in.Write(frame(0, []byte{0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0})) // COM_STMT_EXECUTE
	}
	ss := relaySession()
	data := in.Bytes()
	r := bytes.NewReader(data)
	allocs := testing.AllocsPerRun(20, func() {
		r.Reset(data)
		ss.copyClientToBackend(io.Discard, r)
	})
	// The bufio.Reader and its 32 KiB buffer per session, nothing per packet.
	if allocs > 2 {
		t.Errorf("relaying 100 packets allocates %v times", allocs)
	}
}

func FuzzRelay(f *testing.F) {
	f.Add(query("SELECT 1"), false)
	f.Add(append(query("CREATE USER bob IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'"), 1, 0, 0, 0), true)
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0, 3, 'C'}, true)
	f.Fuzz(func(t *testing.T, data []byte, oneByte bool) {
		ss := relaySession()
		var r io.Reader = bytes.NewReader(data)
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		var out bytes.Buffer
		if err := ss.copyClientToBackend(&out, r); err != io.EOF && err != io.ErrUnexpectedEOF {
			t.Fatalf("err = %v", err)
		}
		if ss.srv.rewrites.Load() == 0 && !bytes.Equal(out.Bytes(), data[:out.Len()]) {
			t.Fatal("relay changed bytes without a rewrite")
		}
		if ss.srv.rewrites.Load() == 0 && len(data)-out.Len() > relayBuf {
			t.Fatalf("relay held back %d bytes", len(data)-out.Len())
		}
	})
}
