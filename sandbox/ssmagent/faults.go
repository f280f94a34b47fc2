package ssmagent

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rdsgate/rdsgate/tunnel/ssm/ssmwire"
)

// Faults break the data channel on purpose, for tests. Probabilities are
// per message, in [0, 1].
type Faults struct {
	// DropWebsocketAfter closes the websocket abruptly after this many
	// client stream messages arrived on it (0: never); at most
	// DropWebsocketTimes times per session (default 1 when set).
	DropWebsocketAfter int
	DropWebsocketTimes int
	// AckLoss loses this share of the acknowledgements either way: the
	// agent's are not sent, the client's are dropped on arrival.
	AckLoss float64
	// Duplicate sends this share of frames twice.
	Duplicate float64
	// Reorder holds back this share of frames until after the next one.
	Reorder float64
	// Delay is slept before each frame is written.
	Delay time.Duration
	// RefuseDestination makes every dial of the destination fail.
	RefuseDestination bool
	// Seed makes the random choices repeatable (0: random).
	Seed uint64
}

type faultState struct {
	f  Faults
	a  *Agent
	mu sync.Mutex
	rn *rand.Rand

	conn    *websocket.Conn
	count   int
	dropped int
	stopped bool
}

func newFaultState(f Faults, a *Agent) *faultState {
	seed := f.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	if f.DropWebsocketAfter > 0 && f.DropWebsocketTimes <= 0 {
		f.DropWebsocketTimes = 1
	}
	return &faultState{f: f, a: a, rn: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (fs *faultState) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.rn.Float64() < p
}

func (fs *faultState) dropAck() bool {
	if !fs.chance(fs.f.AckLoss) {
		return false
	}
	fs.a.countAckLost()
	return true
}

// received counts client stream messages and drops the websocket when due.
func (fs *faultState) received() {
	if fs.f.DropWebsocketAfter <= 0 {
		return
	}
	fs.mu.Lock()
	fs.count++
	var c *websocket.Conn
	if fs.count >= fs.f.DropWebsocketAfter && fs.dropped < fs.f.DropWebsocketTimes && fs.conn != nil {
		c = fs.conn
		fs.conn = nil
		fs.count = 0
		fs.dropped++
	}
	fs.mu.Unlock()
	if c != nil {
		fs.a.countDrop()
		c.NetConn().Close() // abrupt: no close frame, like a broken network
	}
}

func (fs *faultState) stop() {
	fs.mu.Lock()
	fs.stopped = true
	fs.mu.Unlock()
}

// wrap returns t with the write-side faults, and remembers c for drops.
func (fs *faultState) wrap(t ssmwire.Transport, c *websocket.Conn) ssmwire.Transport {
	fs.mu.Lock()
	fs.conn = c
	fs.count = 0
	fs.mu.Unlock()
	if fs.f.Duplicate <= 0 && fs.f.Reorder <= 0 && fs.f.Delay <= 0 && fs.f.AckLoss <= 0 {
		return t
	}
	return &faultTransport{Transport: t, fs: fs}
}

// ReadFrame drops AckLoss of the client's acknowledgements.
func (t *faultTransport) ReadFrame() ([]byte, error) {
	for {
		b, err := t.Transport.ReadFrame()
		if err != nil || !isAck(b) || !t.fs.chance(t.fs.f.AckLoss) {
			return b, err
		}
		t.fs.a.countAckLost()
	}
}

// isAck reports whether frame b is an acknowledge message.
func isAck(b []byte) bool {
	const typeField = 4 // offset of the 32-byte MessageType
	return len(b) >= typeField+len(ssmwire.TypeAcknowledge)+1 &&
		string(b[typeField:typeField+len(ssmwire.TypeAcknowledge)]) == ssmwire.TypeAcknowledge &&
		(b[typeField+len(ssmwire.TypeAcknowledge)] == ' ' || b[typeField+len(ssmwire.TypeAcknowledge)] == 0)
}

type faultTransport struct {
	ssmwire.Transport
	fs   *faultState
	mu   sync.Mutex
	held []byte
}

func (t *faultTransport) WriteFrames(frames [][]byte) error {
	for _, f := range frames {
		if err := t.writeFrame(f); err != nil {
			return err
		}
	}
	return nil
}

// writeFrame writes one frame, delaying, holding back or duplicating it.
// Frames are copied: the channel reuses the memory of those it passes.
func (t *faultTransport) writeFrame(b []byte) error {
	b = append([]byte(nil), b...)
	if d := t.fs.f.Delay; d > 0 {
		time.Sleep(d)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held == nil && t.fs.chance(t.fs.f.Reorder) {
		t.held = b
		time.AfterFunc(20*time.Millisecond, t.flush)
		return nil
	}
	if err := t.Transport.WriteFrames([][]byte{b}); err != nil {
		return err
	}
	if t.held != nil {
		h := t.held
		t.held = nil
		if err := t.Transport.WriteFrames([][]byte{h}); err != nil {
			return err
		}
	}
	if t.fs.chance(t.fs.f.Duplicate) {
		return t.Transport.WriteFrames([][]byte{b})
	}
	return nil
}

func (t *faultTransport) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held != nil {
		h := t.held
		t.held = nil
		_ = t.Transport.WriteFrames([][]byte{h})
	}
}
