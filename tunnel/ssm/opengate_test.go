package ssm

import (
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/xtaci/smux"
)

// eagerPeer is the far side of an smux client as a server that speaks
// first, answering a SYN at once: before Write returns, its greeting (and
// a NOP after it) has been read and dispatched by the client's receive
// loop. That is the order a starved opening goroutine meets.
type eagerPeer struct {
	r *io.PipeReader // the client's receive side
	w *io.PipeWriter
}

func smuxFrame(cmd byte, sid uint32, data []byte) []byte {
	b := []byte{1, cmd, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint16(b[2:], uint16(len(data)))
	binary.LittleEndian.PutUint32(b[4:], sid)
	return append(b, data...)
}

func (p *eagerPeer) Read(b []byte) (int, error) { return p.r.Read(b) }
func (p *eagerPeer) Close() error               { p.r.Close(); return p.w.Close() }

func (p *eagerPeer) Write(b []byte) (int, error) {
	if len(b) == smuxHeaderSize && b[1] == smuxCmdSYN {
		sid := binary.LittleEndian.Uint32(b[4:])
		// io.Pipe hands over synchronously: when the NOP is taken, the
		// greeting's frame has been dispatched.
		if _, err := p.w.Write(smuxFrame(2, sid, []byte("greeting"))); err != nil {
			return 0, err
		}
		if _, err := p.w.Write(smuxFrame(3, 0, nil)); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// TestOpenGate: a server that speaks first is heard, even when its answer
// comes before smux's OpenStream has put the stream in its table (smux
// drops data for streams it does not know). Opening with smux alone, the
// stream read EOF with no greeting: what MySQL logins through the proxy
// met, once in thousands, under load (issue 15 §4).
func TestOpenGate(t *testing.T) {
	r, w := io.Pipe()
	peer := &eagerPeer{r: r, w: w}
	g := newOpenGate(peer)
	cfg := smux.DefaultConfig()
	cfg.KeepAliveDisabled = true
	sm, err := smux.Client(g, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()

	for i := range 3 { // the gate reopens after each open
		st, err := g.open(sm)
		if err != nil {
			t.Fatal(err)
		}
		// Then the server ends the stream, so that a lost greeting shows as
		// EOF rather than as a wait.
		go func() { _, _ = w.Write(smuxFrame(1, st.ID(), nil)) }()
		_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(st)
		if string(got) != "greeting" || err != nil {
			t.Fatalf("open %d: read %q, %v; want the greeting", i, got, err)
		}
		st.Close()
	}
}
