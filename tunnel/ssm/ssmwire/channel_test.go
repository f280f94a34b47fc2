package ssmwire

import (
	"sync"
	"testing"
	"time"
)

// memTransport is one end of an in-memory transport pair.
type memTransport struct {
	in, out chan []byte
	once    sync.Once
	done    chan struct{}
}

func memPair() (*memTransport, *memTransport) {
	a2b, b2a := make(chan []byte, 1024), make(chan []byte, 1024)
	return &memTransport{in: b2a, out: a2b, done: make(chan struct{})}, &memTransport{in: a2b, out: b2a, done: make(chan struct{})}
}

func (t *memTransport) ReadFrame() ([]byte, error) {
	select {
	case b := <-t.in:
		return b, nil
	case <-t.done:
		return nil, ErrClosed
	}
}

func (t *memTransport) WriteFrames(frames [][]byte) error {
	for _, f := range frames {
		select {
		case t.out <- append([]byte(nil), f...):
		case <-t.done:
			return ErrClosed
		}
	}
	return nil
}

func (t *memTransport) Close() error {
	t.once.Do(func() { close(t.done) })
	return nil
}

// TestPublication: a channel with Publication (the agent) stops sending on
// pause_publication until start_publication; one without (the client, as
// AWS's plugin) ignores both.
func TestPublication(t *testing.T) {
	got := map[string]chan []byte{"client": make(chan []byte, 16), "agent": make(chan []byte, 16)}
	deliver := func(name string) func(m *Message) error {
		return func(m *Message) error {
			got[name] <- append([]byte(nil), m.Payload...)
			return nil
		}
	}
	client := NewChannel(ChannelConfig{OutType: TypeInputStreamData, Deliver: deliver("client")})
	agent := NewChannel(ChannelConfig{OutType: TypeOutputStreamData, Deliver: deliver("agent"), Publication: true})
	defer client.Close(nil)
	defer agent.Close(nil)
	ct, at := memPair()
	client.SetTransport(ct)
	agent.SetTransport(at)
	recv := func(name, want string) {
		t.Helper()
		select {
		case b := <-got[name]:
			if string(b) != want {
				t.Fatalf("%s got %q, want %q", name, b, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s got nothing, want %q", name, want)
		}
	}
	pause := &Message{Type: TypePausePublication, ID: NewUUID()}
	start := &Message{Type: TypeStartPublication, ID: NewUUID()}

	// The client ignores pause_publication.
	if err := agent.SendControl(pause); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := client.Send(PayloadOutput, []byte("up")); err != nil {
		t.Fatal(err)
	}
	recv("agent", "up")
	if client.Paused() {
		t.Fatal("the client paused")
	}

	// The agent pauses until start_publication.
	if err := client.SendControl(pause); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !agent.Paused(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the agent did not pause")
		}
	}
	sent := make(chan error, 1)
	go func() { sent <- agent.Send(PayloadOutput, []byte("down")) }()
	select {
	case err := <-sent:
		t.Fatalf("a paused agent sent: %v", err)
	case b := <-got["client"]:
		t.Fatalf("a paused agent delivered %q", b)
	case <-time.After(300 * time.Millisecond):
	}
	if err := client.SendControl(start); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	recv("client", "down")

	// Any stream message from the peer also ends a pause, as with AWS's agent.
	if err := client.SendControl(pause); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !agent.Paused(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the agent did not pause")
		}
	}
	if err := client.Send(PayloadOutput, []byte("up2")); err != nil {
		t.Fatal(err)
	}
	recv("agent", "up2")
	if agent.Paused() {
		t.Fatal("stream data did not end the pause")
	}
}

// TestNoDuplicateAfterResume: when the transport changes while the old
// one's reader is still delivering a message, the peer's retransmission
// of that message on the new transport is a duplicate, not delivered
// twice.
func TestNoDuplicateAfterResume(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	var mu sync.Mutex
	var got []int64
	ch := NewChannel(ChannelConfig{OutType: TypeInputStreamData, Deliver: func(m *Message) error {
		mu.Lock()
		got = append(got, m.SequenceNumber)
		first := len(got) == 1
		mu.Unlock()
		if first {
			close(started)
			<-release // the destination is slow to take the first message
		}
		return nil
	}})
	defer ch.Close(nil)
	frame := func(seq int64) []byte {
		f, _ := (&Message{Type: TypeOutputStreamData, SequenceNumber: seq, ID: NewUUID(), PayloadType: PayloadOutput, Payload: []byte{byte(seq)}}).Encode()
		return f
	}
	a, peer := memPair()
	ch.SetTransport(a)
	_ = peer.WriteFrames([][]byte{frame(0)})
	<-started
	// The websocket drops; the client resumes, and the peer resends 0 (its
	// acknowledgement was lost with the old websocket), then sends 1.
	a2, peer2 := memPair()
	ch.SetTransport(a2)
	_ = peer2.WriteFrames([][]byte{frame(0), frame(1)})
	time.Sleep(100 * time.Millisecond)
	close(release)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Fatalf("delivered %v, want [0 1]", got)
	}
}
