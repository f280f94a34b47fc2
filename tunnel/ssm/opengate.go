package ssm

import (
	"io"
	"sync"

	"github.com/xtaci/smux"
)

// openGate sits between smux and the session's pipe and keeps a new
// stream's SYN from reaching the agent before smux knows the stream.
//
// smux's OpenStream writes the SYN and only then adds the stream to its
// table; data that arrives for a stream not in the table is dropped. A
// server that speaks first (MySQL's greeting) could answer through the
// agent in that gap when the opening goroutine was not scheduled in time
// (two CPU burners sufficed): the greeting was dropped, the server waited
// for a reply until its handshake limit, and the client saw EOF (issue 15
// §4). Through the gate, OpenStream's SYN is held, and sent only once the
// stream is in the table; smux's next frames wait behind it.
//
// Only smux's send loop calls Write, one frame per call (header and data
// together: the gate has no WriteBuffers), so a held SYN is always the
// frame of the one OpenStream in progress.
type openGate struct {
	io.ReadWriteCloser // the session's pipe, as smux reads and writes it

	openMu sync.Mutex // one open at a time: a held SYN is the current open's

	mu      sync.Mutex
	cond    *sync.Cond
	opening bool   // an open is in progress: hold its SYN
	syn     []byte // the held SYN
	sending bool   // the held SYN is being written
}

func newOpenGate(rw io.ReadWriteCloser) *openGate {
	g := &openGate{ReadWriteCloser: rw}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// smux frame layout (version 1 and 2): version, command, length, stream id.
const (
	smuxHeaderSize = 8
	smuxCmdSYN     = 0
)

// Write writes one smux frame. While an open is in progress its SYN is
// kept instead; the frames after it wait until it has been sent.
func (g *openGate) Write(b []byte) (int, error) {
	g.mu.Lock()
	for g.syn != nil || g.sending {
		g.cond.Wait()
	}
	if g.opening && len(b) == smuxHeaderSize && b[1] == smuxCmdSYN {
		g.syn = append([]byte(nil), b...)
		g.mu.Unlock()
		return len(b), nil
	}
	g.mu.Unlock()
	return g.ReadWriteCloser.Write(b)
}

// open opens a stream of sm (whose connection is g), sending its SYN only
// once sm can deliver the stream's data.
func (g *openGate) open(sm *smux.Session) (*smux.Stream, error) {
	g.openMu.Lock()
	defer g.openMu.Unlock()
	g.mu.Lock()
	g.opening = true
	g.mu.Unlock()

	st, err := sm.OpenStream()

	g.mu.Lock()
	g.opening = false
	syn := g.syn
	g.syn = nil
	g.sending = syn != nil && err == nil // a failed open's SYN is dropped
	g.mu.Unlock()
	var werr error
	if g.sending {
		_, werr = g.ReadWriteCloser.Write(syn)
	}
	g.mu.Lock()
	g.sending = false
	g.cond.Broadcast()
	g.mu.Unlock()
	if werr != nil && err == nil {
		st.Close() // after the gate opened: Close writes a FIN through it
		return nil, werr
	}
	return st, err
}
