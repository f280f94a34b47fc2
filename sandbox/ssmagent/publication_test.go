package ssmagent

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/rdsgate/rdsgate/tunnel/ssm/ssmwire"
)

// streamServer accepts one connection and writes to it until it fails.
func streamServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, 4096)
		for {
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	}()
	return ln.Addr().String()
}

// TestPausePublication: after pause_publication the agent sends nothing —
// no new data, no retransmissions — until start_publication, as AWS's
// agent does; then the stream resumes where it stopped.
func TestPausePublication(t *testing.T) {
	_, a, c, _ := setup(t)
	a.opts.Unpaced = true
	host, port, _ := net.SplitHostPort(streamServer(t))
	out, err := c.StartSession(context.Background(), &ssm.StartSessionInput{Target: aws.String("i-0sandbox00000000b1"),
		DocumentName: aws.String("AWS-StartPortForwardingSessionToRemoteHost"), Parameters: map[string][]string{"host": {host}, "portNumber": {port}}})
	if err != nil {
		t.Fatal(err)
	}
	ws := open(t, out, *out.TokenValue)
	_ = ws.SetReadDeadline(time.Time{})

	var (
		paused   atomic.Bool
		mu       sync.Mutex
		maxSeq   int64 = -1
		frames   int   // stream messages received, retransmissions included
		complete = make(chan struct{})
		ch       *ssmwire.Channel
	)
	ch = ssmwire.NewChannel(ssmwire.ChannelConfig{
		OutType: ssmwire.TypeInputStreamData,
		OnReceive: func(m *ssmwire.Message) {
			if m.Type == ssmwire.TypeOutputStreamData {
				mu.Lock()
				frames++
				maxSeq = max(maxSeq, m.SequenceNumber)
				mu.Unlock()
			}
		},
		Deliver: func(m *ssmwire.Message) error {
			switch m.PayloadType {
			case ssmwire.PayloadHandshakeRequest:
				// Basic mode: the agent dials the destination after the handshake.
				b, _ := json.Marshal(ssmwire.HandshakeResponse{ClientVersion: "0.0.1",
					ProcessedClientActions: []ssmwire.ProcessedAction{{ActionType: ssmwire.ActionSessionType, ActionStatus: ssmwire.StatusSuccess}}})
				go func() { _ = ch.Send(ssmwire.PayloadHandshakeResponse, b) }()
			case ssmwire.PayloadHandshakeComplete:
				close(complete)
			}
			return nil
		},
		// While paused the client sends nothing, acknowledgements included:
		// AWS's agent takes any of them as the end of the pause.
		DropAck: paused.Load,
	})
	t.Cleanup(func() { ch.Close(nil) })
	ch.SetTransport(ssmwire.WebsocketTransport(ws, true))
	select {
	case <-complete:
	case <-time.After(10 * time.Second):
		t.Fatal("no HandshakeComplete")
	}
	snapshot := func() (int64, int) {
		mu.Lock()
		defer mu.Unlock()
		return maxSeq, frames
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("data", func() bool { s, _ := snapshot(); return s > 20 })

	paused.Store(true)
	if err := ch.SendControl(&ssmwire.Message{Type: ssmwire.TypePausePublication, ID: ssmwire.NewUUID()}); err != nil {
		t.Fatal(err)
	}
	// What was on its way arrives; then silence, though nothing is
	// acknowledged (the agent would retransmit after ~200 ms otherwise).
	time.Sleep(300 * time.Millisecond)
	seq0, n0 := snapshot()
	time.Sleep(time.Second)
	seq1, n1 := snapshot()
	if seq1 != seq0 || n1 != n0 {
		t.Fatalf("paused agent sent %d messages (up to seq %d from %d) in 1 s", n1-n0, seq1, seq0)
	}
	t.Logf("paused at seq %d: nothing sent for 1 s", seq0)

	paused.Store(false)
	if err := ch.SendControl(&ssmwire.Message{Type: ssmwire.TypeStartPublication, ID: ssmwire.NewUUID()}); err != nil {
		t.Fatal(err)
	}
	waitFor("data after start_publication", func() bool { s, _ := snapshot(); return s > seq0+100 })
	if a.Stats().Sessions != 1 {
		t.Fatalf("stats %+v", a.Stats())
	}
}
