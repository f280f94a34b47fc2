package ssmwire

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// stallLimit bounds how long TestPartialMessageTail waits for a delivery
// that must happen with no further traffic: a safety net, not a timing.
const stallLimit = 10 * time.Second

// TestPartialMessageTail: when the reader already holds the head of a
// message in user space (gorilla's buffer, TLS's) and waits on the socket
// for its tail, the tail alone wakes it, however few bytes it is and
// however much the consumer waits for. The peer here is raw: it never
// retransmits, so nothing else can end a wait that the tail did not.
//
// It failed while FastConn raised SO_RCVLOWAT to the payload smux awaited
// (here 1000 bytes) with only the tail (224 bytes) still to come: the
// reader slept until something else arrived (in the sandbox, the agent's
// retransmission or its next message).
func TestPartialMessageTail(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(map[bool]string{false: "ws", true: "wss"}[secure], func(t *testing.T) {
			c, s := wsPair(t, secure)
			var pipe *Pipe
			ch := NewChannel(ChannelConfig{OutType: TypeInputStreamData, Deliver: func(m *Message) error { return pipe.Push(m.Payload) }})
			pipe = NewPipe(ch, PipeConfig{})
			defer ch.Close(nil)

			// The consumer waits for a 2000-byte frame, as smux for the body of
			// a frame the agent cut into two messages.
			want := make([]byte, 2000)
			for i := range want {
				want[i] = byte(i * 7)
			}
			got := make(chan error, 1)
			go func() {
				b := make([]byte, len(want))
				if _, err := io.ReadFull(pipe.FullReads(), b); err != nil {
					got <- err
					return
				}
				if !bytes.Equal(b, want) {
					got <- fmt.Errorf("wrong bytes")
					return
				}
				got <- nil
			}()
			ch.SetTransport(WebsocketTransport(c, true))

			// Message 0 whole and the head of message 1 in one write (one TLS
			// record), so that the reader takes both in one read.
			var wire []byte
			for seq, p := range [][]byte{want[:1000], want[1000:]} {
				m := &Message{Type: TypeOutputStreamData, SequenceNumber: int64(seq), ID: NewUUID(), PayloadType: PayloadOutput, Payload: p}
				f, err := m.Encode()
				if err != nil {
					t.Fatal(err)
				}
				wire = appendWSFrame(wire, f, nil)
			}
			cut := len(wire) - 224
			if _, err := s.NetConn().Write(wire[:cut]); err != nil {
				t.Fatal(err)
			}
			// The acknowledgement of message 0 shows it was delivered; then
			// the reader drains the socket and waits.
			if seq := readAck(t, s); seq != 0 {
				t.Fatalf("acknowledged %d, want 0", seq)
			}
			waitParked(t, "(*fastConn).Read")

			if _, err := s.NetConn().Write(wire[cut:]); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-got:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(stallLimit):
				t.Fatalf("the tail of a message (224 bytes) did not wake the reader (%s)", lowatOf(c))
			}
		})
	}
}

// readAck reads the next message from the client and returns the
// sequence number it acknowledges.
func readAck(t *testing.T, s *websocket.Conn) int64 {
	t.Helper()
	_ = s.SetReadDeadline(time.Now().Add(stallLimit))
	defer s.SetReadDeadline(time.Time{})
	_, b, err := s.ReadMessage()
	if err != nil {
		t.Fatalf("waiting for an acknowledgement: %v", err)
	}
	m, err := Decode(b)
	if err != nil || m.Type != TypeAcknowledge {
		t.Fatalf("want an acknowledgement, got %+v (%v)", m, err)
	}
	seq, err := ackedSequence(m.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// waitParked waits until a goroutine whose stack has fn waits in the
// network poller: the reader has drained its socket and sleeps.
func waitParked(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(stallLimit)
	for time.Now().Before(deadline) {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, fn) && strings.Contains(g, "runtime_pollWait") {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no goroutine in %s waits on the network", fn)
}
