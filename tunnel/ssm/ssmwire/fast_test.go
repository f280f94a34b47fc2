package ssmwire

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestAppendAck: the hand-built acknowledgement is AckFor's, byte for byte
// in the payload, field for field in the header.
func TestAppendAck(t *testing.T) {
	for _, seq := range []int64{0, 1, 42, 1 << 40, -1} {
		for _, typ := range []string{TypeOutputStreamData, TypeInputStreamData, `odd"type`} {
			m := &Message{Type: typ, SequenceNumber: seq, ID: NewUUID()}
			want := AckFor(m)
			got, err := Decode(appendAck([]byte("prefix"), m)[len("prefix"):])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Payload, want.Payload) || got.Type != TypeAcknowledge || got.Flags != want.Flags ||
				got.SequenceNumber != 0 || got.PayloadType != PayloadNone {
				t.Errorf("seq %d %s: got %s %+v, want %s", seq, typ, got.Payload, got, want.Payload)
			}
			if n, err := ackedSequence(got.Payload); err != nil || n != seq {
				t.Errorf("ackedSequence(%s) = %d, %v", got.Payload, n, err)
			}
		}
	}
}

func TestAckedSequence(t *testing.T) {
	for p, want := range map[string]int64{
		`{"AcknowledgedMessageSequenceNumber":7,"IsSequentialMessage":true}`:                               7,
		`{"IsSequentialMessage":true,"AcknowledgedMessageSequenceNumber":12}`:                              12,
		`{"acknowledgedmessagesequencenumber":5}`:                                                          5, // case-insensitive, as encoding/json
		`{"AcknowledgedMessageSequenceNumber": 9}`:                                                         9,
		`{"AcknowledgedMessageSequenceNumber":-3}`:                                                         -3,
		`{"AcknowledgedMessageSequenceNumber":1234567890123456789}`:                                        1234567890123456789,
		`{"AcknowledgedMessageSequenceNumber":1,"AcknowledgedMessageSequenceNumber":2}`:                    2, // last wins, as encoding/json
		`{"AcknowledgedMessageId":"x","AcknowledgedMessageSequenceNumber":300,"IsSequentialMessage":true}`: 300,
	} {
		if got, err := ackedSequence([]byte(p)); err != nil || got != want {
			t.Errorf("ackedSequence(%s) = %d, %v; want %d", p, got, err, want)
		}
	}
	for _, p := range []string{``, `{`, `{"AcknowledgedMessageSequenceNumber":"x"}`, `{"AcknowledgedMessageSequenceNumber":99999999999999999999}`} {
		if _, err := ackedSequence([]byte(p)); err == nil {
			t.Errorf("ackedSequence(%q) accepted", p)
		}
	}
}

// wsPair returns the two ends of a real websocket: the client's, dialled
// through FastConn (under TLS when secure), and the server's.
func wsPair(t *testing.T, secure bool) (client, server *websocket.Conn) {
	t.Helper()
	srvc := make(chan *websocket.Conn, 1)
	up := websocket.Upgrader{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		srvc <- c
	})
	var srv *httptest.Server
	var d websocket.Dialer
	if secure {
		srv = httptest.NewTLSServer(h)
		d.TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	var nd net.Dialer
	d.NetDial = func(network, addr string) (net.Conn, error) {
		c, err := nd.Dial(network, addr)
		if err != nil {
			return nil, err
		}
		return FastConn(c), nil
	}
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := <-srvc
	t.Cleanup(func() { c.Close(); s.Close() })
	if fastConnOf(c) == nil {
		t.Fatal("no FastConn under the client websocket")
	}
	return c, s
}

// TestWebsocketFraming: frames written in one batch by either end arrive
// as separate, intact messages at the other (gorilla reads them), for
// every length encoding, in plain and TLS websockets.
func TestWebsocketFraming(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 127, 1024, 65535, 65536, 200000, 300000}
	for _, secure := range []bool{false, true} {
		c, s := wsPair(t, secure)
		for _, dir := range []struct {
			name   string
			from   Transport
			reader *websocket.Conn
		}{{"client", WebsocketTransport(c, true), s}, {"server", WebsocketTransport(s, false), c}} {
			var frames [][]byte
			for _, n := range sizes {
				b := make([]byte, n)
				for i := range b {
					b[i] = byte(rand.IntN(256))
				}
				frames = append(frames, b)
			}
			errc := make(chan error, 1)
			go func() { errc <- dir.from.WriteFrames(frames) }()
			for i, want := range frames {
				typ, got, err := dir.reader.ReadMessage()
				if err != nil || typ != websocket.BinaryMessage || !bytes.Equal(got, want) {
					t.Fatalf("secure=%v %s frame %d (%d bytes): type %d, %d bytes, %v", secure, dir.name, i, len(want), typ, len(got), err)
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
		// And the transports read what gorilla writes.
		for _, p := range []struct {
			w *websocket.Conn
			r Transport
		}{{s, WebsocketTransport(c, true)}, {c, WebsocketTransport(s, false)}} {
			go func() { _ = p.w.WriteMessage(websocket.BinaryMessage, []byte("hello")) }()
			if b, err := p.r.ReadFrame(); err != nil || string(b) != "hello" {
				t.Fatalf("ReadFrame = %q, %v", b, err)
			}
		}
	}
}

// TestNoWaitWrites: a no-wait write never blocks, even when the peer reads
// nothing; what the socket does not take is written first by the next
// ordinary write, so the peer gets every byte in order.
func TestNoWaitWrites(t *testing.T) {
	for _, secure := range []bool{false, true} {
		c, s := wsPair(t, secure)
		tr := WebsocketTransport(c, true).(*wsTransport)
		if !tr.notifyReadWait(func() {}) {
			t.Skip("no raw socket path on this platform")
		}
		var want [][]byte
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		start := time.Now()
		left := false
		for i := 0; !left && i < 4096; i++ {
			f := append([]byte{byte(i), byte(i >> 8)}, chunk...)
			want = append(want, f)
			l, err := tr.writeFramesNoWait([][]byte{f})
			if err != nil {
				t.Fatal(err)
			}
			left = l
		}
		if !left {
			t.Fatal("the socket took 256 MiB without the peer reading")
		}
		// More no-wait writes only add to the backlog.
		for i := 0; i < 3; i++ {
			f := []byte{0xee, byte(i)}
			want = append(want, f)
			if l, err := tr.writeFramesNoWait([][]byte{f}); err != nil || !l {
				t.Fatalf("no-wait write with a backlog: %v %v", l, err)
			}
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Fatalf("no-wait writes took %s", el)
		}
		last := []byte("ordinary")
		want = append(want, last)
		errc := make(chan error, 1)
		go func() { errc <- tr.WriteFrames([][]byte{last}) }()
		for i, w := range want {
			_, got, err := s.ReadMessage()
			if err != nil || !bytes.Equal(got, w) {
				t.Fatalf("secure=%v message %d: %d bytes, %v; want %d bytes", secure, i, len(got), err, len(w))
			}
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func TestPipeReads(t *testing.T) {
	p := NewPipe(nil, PipeConfig{Buffer: 4 << 10})
	fr := p.FullReads()
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 3000)
		n, err := fr.Read(b)
		if err != nil {
			t.Error(err)
		}
		got <- b[:n]
	}()
	var sent []byte
	for i := 0; i < 5; i++ {
		b := bytes.Repeat([]byte{byte('a' + i)}, 700)
		sent = append(sent, b...)
		if err := p.Push(b); err != nil {
			t.Fatal(err)
		}
		if i < 4 {
			select {
			case b := <-got:
				t.Fatalf("a full read returned %d bytes with %d pushed", len(b), len(sent))
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if b := <-got; !bytes.Equal(b, sent[:3000]) {
		t.Fatalf("full read: %d bytes", len(b))
	}
	// An ordinary read returns what there is.
	b := make([]byte, 4096)
	if n, err := p.Read(b); err != nil || !bytes.Equal(b[:n], sent[3000:]) {
		t.Fatalf("read: %d %v", n, err)
	}
	// Back-pressure: Push blocks at the limit until a read makes room.
	pushed := make(chan error, 1)
	go func() {
		for i := 0; i < 3; i++ {
			if err := p.Push(make([]byte, 2<<10)); err != nil {
				pushed <- err
				return
			}
		}
		pushed <- nil
	}()
	select {
	case err := <-pushed:
		t.Fatalf("6 KiB pushed into a 4 KiB pipe: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if n, err := io.ReadFull(p, make([]byte, 6<<10)); n != 6<<10 || err != nil {
		t.Fatal(n, err)
	}
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}
	// Close: buffered bytes, then EOF; a full read gets what is left.
	_ = p.Push([]byte("tail"))
	p.Close()
	if n, err := fr.Read(b); string(b[:n]) != "tail" || err != nil {
		t.Fatalf("after close: %q %v", b[:n], err)
	}
	if _, err := p.Read(b); !errors.Is(err, io.EOF) {
		t.Fatalf("after close: %v", err)
	}
	if err := p.Push([]byte("x")); err == nil {
		t.Fatal("push after close")
	}
}
