package ssmwire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Reliability constants (protocol notes §8.2), shared with AWS's parties.
const (
	initialRTT        = 100 * time.Millisecond
	initialRTO        = 200 * time.Millisecond
	clockGranularity  = 10 * time.Millisecond
	maxRTO            = time.Second
	maxBackoff        = 5 * time.Second
	defaultResendTick = 100 * time.Millisecond
	defaultWindow     = 1000
	defaultReorder    = 10000
	// maxResendPerTick bounds the retransmissions of one tick.
	maxResendPerTick = 256
	// DefaultMaxAttempts is how often one message is sent before the
	// channel gives up (about 5 minutes with the plugin's timing).
	DefaultMaxAttempts = 3000
)

// ErrClosed is returned by a Channel's Send after Close.
var ErrClosed = errors.New("ssmwire: channel closed")

// ClosedError is the reason a channel ended because the service sent
// channel_closed.
type ClosedError struct{ Payload ChannelClosed }

func (e *ClosedError) Error() string {
	if e.Payload.Output != "" {
		return "session " + e.Payload.SessionID + " closed by Session Manager: " + e.Payload.Output
	}
	return "session " + e.Payload.SessionID + " closed by Session Manager"
}

// ChannelConfig configures a Channel.
type ChannelConfig struct {
	// OutType is the type of the stream messages this side sends:
	// TypeInputStreamData for a client, TypeOutputStreamData for an agent.
	OutType string
	// Deliver receives the peer's stream messages in sequence order, one at
	// a time, on the reading goroutine. Blocking in it back-pressures the
	// websocket. An error closes the channel. The message and its payload
	// are valid only during the call: copy what must be kept.
	Deliver func(m *Message) error
	// OnDisconnect is called (on its own goroutine) when the current
	// transport fails while the channel is open; the owner may attach a
	// new one with SetTransport (resume) or Close the channel.
	OnDisconnect func(err error)
	// Window bounds unacknowledged outgoing messages (default 1000); Send
	// blocks while it is full, instead of dropping data as the plugin does.
	Window int
	// ReorderLimit bounds stored out-of-order incoming messages (default
	// 10000); beyond it they are dropped unacknowledged, to be resent.
	ReorderLimit int
	// ResendTick is how often unacknowledged messages are checked (default
	// 100 ms).
	ResendTick time.Duration
	// MaxAttempts bounds sends of one message (default DefaultMaxAttempts).
	MaxAttempts int
	// OnReceive, if set, sees every well-formed incoming message first
	// (activity tracking, fault injection). It must not block or keep m.
	OnReceive func(m *Message)
	// DropAck, if set, is asked before each acknowledgement is sent; true
	// loses it (fault injection).
	DropAck func() bool
	// Publication makes the channel honour pause_publication as AWS's
	// agent does: no new messages go out (Send blocks) and nothing is
	// retransmitted until start_publication, or any stream message or
	// acknowledgement from the peer, resumes it. Off, both are ignored
	// (AWS's plugin ignores them).
	Publication bool
	Log         *slog.Logger
}

// ackFlushCount sends pending acknowledgements once this many are
// pending, without waiting for the socket to drain.
const ackFlushCount = 64

type outMsg struct {
	seq      int64
	frame    []byte
	lastSent time.Time
	attempts int
	acked    bool
}

// Channel is the reliability layer of one session, end to end between
// client and agent: it numbers outgoing stream messages, keeps them until
// acknowledged and retransmits them, acknowledges incoming ones (duplicates
// too, unlike AWS's plugin), and delivers them in order through a bounded
// reorder buffer. Its state survives a change of transport, so a session
// can resume on a new websocket.
type Channel struct {
	cfg ChannelConfig
	log *slog.Logger

	sendMu sync.Mutex // serializes Send (sequence order on the wire)
	// recvMu serializes receive: after a resume, the old transport's reader
	// may still be inside Deliver while the new one reads the peer's
	// retransmission of the same message, which must then count as a
	// duplicate, not be delivered again.
	recvMu sync.Mutex
	mu     sync.Mutex
	cond   *sync.Cond
	tr     Transport
	gen    int
	seq    int64
	out    []*outMsg // unacked (and acked, not yet trimmed) in sequence order
	unack  map[int64]*outMsg
	srtt   time.Duration
	rttvar time.Duration
	rto    time.Duration
	next   int64
	reord  map[int64]*Message
	paused bool // pause_publication received (Publication only)
	err    error
	done   chan struct{}
	wg     sync.WaitGroup

	// The write queue: frames for the current transport, written by one
	// goroutine so that reading (and acknowledging) never blocks on a
	// peer that is slow to read — both ends blocking in writes would
	// deadlock. Acknowledgements wait in acks (their frames back to back)
	// until the reader has drained its socket, then go out in one write:
	// from the reader itself where the transport can write without ever
	// blocking (see inlineWriter), else through the writer.
	qmu         sync.Mutex
	queue       [][]byte
	acks        []byte
	nacks       int
	qwake       chan struct{}
	writing     atomic.Bool
	flushWanted atomic.Bool // the transport holds bytes an inline write left
	wmu         sync.Mutex  // held while writing to a transport
	inlineAcks  []byte      // spare ack buffer of flushAcksInline (under wmu)
	inlineFr    [][]byte    // frame list of flushAcksInline (under wmu)
}

// NewChannel returns a channel with no transport; attach one with
// SetTransport.
func NewChannel(cfg ChannelConfig) *Channel {
	if cfg.Window <= 0 {
		cfg.Window = defaultWindow
	}
	if cfg.ReorderLimit <= 0 {
		cfg.ReorderLimit = defaultReorder
	}
	if cfg.ResendTick <= 0 {
		cfg.ResendTick = defaultResendTick
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.OutType == "" {
		cfg.OutType = TypeInputStreamData
	}
	c := &Channel{cfg: cfg, log: cfg.Log, unack: map[int64]*outMsg{}, reord: map[int64]*Message{},
		srtt: initialRTT, rto: initialRTO, done: make(chan struct{}), qwake: make(chan struct{}, 1)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.cond = sync.NewCond(&c.mu)
	c.wg.Add(2)
	go c.resendLoop()
	go c.writeLoop()
	return c
}

// Done is closed when the channel is closed.
func (c *Channel) Done() <-chan struct{} { return c.done }

// Err is why the channel closed (nil while open).
func (c *Channel) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// SetTransport makes t the channel's transport, closing the previous one,
// starts reading it and resends everything unacknowledged.
func (c *Channel) SetTransport(t Transport) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		t.Close()
		return
	}
	old := c.tr
	c.tr = t
	c.gen++
	gen := c.gen
	var frames [][]byte
	now := time.Now()
	for _, m := range c.out {
		if !m.acked {
			m.lastSent = now
			m.attempts++
			frames = append(frames, m.frame)
		}
	}
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	c.qmu.Lock()
	c.queue = append(c.queue[:0], frames...)
	c.qmu.Unlock()
	c.wakeWriter()
	c.wg.Add(1)
	go c.readLoop(t, gen)
}

// Close ends the channel with err (ErrClosed if nil) and closes the
// transport. Blocked Sends return.
func (c *Channel) Close(err error) {
	if err == nil {
		err = ErrClosed
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	tr := c.tr
	c.tr = nil
	close(c.done)
	c.cond.Broadcast()
	c.mu.Unlock()
	if tr != nil {
		tr.Close()
	}
}

// Wait waits for the channel's goroutines after Close.
func (c *Channel) Wait() { c.wg.Wait() }

// Send numbers and sends one stream message, keeping it until the peer
// acknowledges it. It blocks while the window is full and fails only once
// the channel is closed; a broken transport keeps the message for resend.
func (c *Channel) Send(pt PayloadType, payload []byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.mu.Lock()
	for c.err == nil && (len(c.unack) >= c.cfg.Window || c.paused) {
		c.cond.Wait()
	}
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	var flags uint64
	if c.seq == 0 && c.cfg.OutType == TypeOutputStreamData {
		flags = FlagSYN
	}
	m := &Message{Type: c.cfg.OutType, SequenceNumber: c.seq, Flags: flags, ID: newMessageID(), PayloadType: pt, Payload: payload}
	frame, err := m.Encode()
	if err != nil {
		c.mu.Unlock()
		return err
	}
	om := &outMsg{seq: c.seq, frame: frame, lastSent: time.Now(), attempts: 1}
	c.seq++
	c.out = append(c.out, om)
	c.unack[om.seq] = om
	connected := c.tr != nil
	c.mu.Unlock()
	if connected {
		c.enqueue(frame)
	}
	return nil
}

// Unacked is the number of outgoing messages not yet acknowledged.
func (c *Channel) Unacked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.unack)
}

// maxQueue bounds queued retransmissions (acks and first sends are
// bounded by the windows).
const maxQueue = 4096

func (c *Channel) enqueue(frames ...[]byte) {
	c.qmu.Lock()
	c.queue = append(c.queue, frames...)
	c.qmu.Unlock()
	c.wakeWriter()
}

func (c *Channel) queueLen() int {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return len(c.queue)
}

func (c *Channel) wakeWriter() {
	select {
	case c.qwake <- struct{}{}:
	default:
	}
}

// writeLoop writes queued frames and pending acknowledgements to the
// current transport, all that is pending in one WriteFrames; a failure
// closes the transport, which ends its read loop and triggers
// OnDisconnect. Without a transport the queue is dropped: unacknowledged
// messages are resent on the next one.
func (c *Channel) writeLoop() {
	defer c.wg.Done()
	var batch, frames [][]byte
	var acks []byte
	for {
		select {
		case <-c.done:
			return
		case <-c.qwake:
		}
		for {
			c.qmu.Lock()
			batch, c.queue = c.queue, batch[:0]
			acks, c.acks = c.acks, acks[:0]
			c.nacks = 0
			flush := c.flushWanted.Swap(false)
			c.writing.Store(len(batch) > 0 || len(acks) > 0 || flush)
			c.qmu.Unlock()
			if len(batch) == 0 && len(acks) == 0 && !flush {
				break
			}
			c.mu.Lock()
			t := c.tr
			c.mu.Unlock()
			if t == nil {
				clear(batch)
				continue
			}
			frames = splitFrames(frames[:0], acks)
			frames = append(frames, batch...)
			c.wmu.Lock()
			err := t.WriteFrames(frames) // with no frames, flushes what an inline write left
			c.wmu.Unlock()
			if err != nil {
				t.Close()
			}
			clear(frames)
			clear(batch)
		}
	}
}

// splitFrames appends the frames laid back to back in b to dst.
func splitFrames(dst [][]byte, b []byte) [][]byte {
	for len(b) >= FrameOverhead {
		n := FrameOverhead + int(binary.BigEndian.Uint32(b[HeaderLength:]))
		if n > len(b) {
			break
		}
		dst = append(dst, b[:n:n])
		b = b[n:]
	}
	return dst
}

func (c *Channel) readLoop(t Transport, gen int) {
	defer c.wg.Done()
	m := new(Message) // reused: nothing keeps it past handle
	var hooked bool
	if iw, ok := t.(inlineWriter); ok {
		hooked = iw.notifyReadWait(func() { c.flushAcksInline(iw) })
	}
	for {
		b, err := t.ReadFrame()
		if err != nil {
			c.disconnected(t, gen, err)
			return
		}
		if err := m.decode(b); err != nil {
			c.log.Warn("ssm data channel: dropping malformed message", "err", err)
			continue
		}
		if c.cfg.OnReceive != nil {
			c.cfg.OnReceive(m)
		}
		if err := c.handle(m, hooked); err != nil {
			c.Close(err)
			return
		}
		select {
		case <-c.done:
			return
		default:
		}
	}
}

func (c *Channel) disconnected(t Transport, gen int, err error) {
	t.Close()
	c.mu.Lock()
	current := c.gen == gen && c.err == nil
	if current {
		c.tr = nil
	}
	c.mu.Unlock()
	if current && c.cfg.OnDisconnect != nil {
		go c.cfg.OnDisconnect(err)
	}
}

func (c *Channel) handle(m *Message, hooked bool) error {
	switch m.Type {
	case TypeAcknowledge:
		seq, err := ackedSequence(m.Payload)
		if err != nil {
			c.log.Warn("ssm data channel: bad acknowledgement", "err", err)
			return nil
		}
		c.resume()
		c.acked(seq)
	case TypeInputStreamData, TypeOutputStreamData:
		if m.Type == c.cfg.OutType {
			c.log.Debug("ssm data channel: ignoring a message of our own direction", "seq", m.SequenceNumber)
			return nil
		}
		c.resume()
		return c.receive(m, hooked)
	case TypeChannelClosed:
		var cc ChannelClosed
		_ = json.Unmarshal(m.Payload, &cc)
		return &ClosedError{Payload: cc}
	case TypePausePublication:
		if c.cfg.Publication {
			c.log.Debug("ssm data channel: pause_publication: sending paused")
			c.mu.Lock()
			c.paused = true
			c.mu.Unlock()
		}
	case TypeStartPublication:
		c.resume()
	case TypeAgentSessionState:
	default:
		c.log.Debug("ssm data channel: ignoring message", "type", m.Type)
	}
	return nil
}

// resume ends a pause (Publication only).
func (c *Channel) resume() {
	if !c.cfg.Publication {
		return
	}
	c.mu.Lock()
	if c.paused {
		c.paused = false
		c.cond.Broadcast()
	}
	c.mu.Unlock()
}

// Paused reports whether a pause_publication holds sending (Publication
// only).
func (c *Channel) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}

// ack queues the acknowledgement of m. When the transport tells the
// reader's waits (hooked), it goes out once the reader has drained its
// socket (flushAcksInline), with the others read meanwhile; otherwise at
// once through the writer.
func (c *Channel) ack(m *Message, hooked bool) {
	if c.cfg.DropAck != nil && c.cfg.DropAck() {
		return
	}
	c.qmu.Lock()
	c.acks = appendAck(c.acks, m)
	c.nacks++
	now := !hooked || c.nacks >= ackFlushCount
	c.qmu.Unlock()
	if now {
		c.wakeWriter()
	}
}

// flushAcks hands pending acknowledgements to the writer.
func (c *Channel) flushAcks() {
	c.qmu.Lock()
	pending := c.nacks > 0
	c.qmu.Unlock()
	if pending {
		c.wakeWriter()
	}
}

// flushAcksInline writes pending acknowledgements from the reading
// goroutine, which is about to wait for the network: no hand-off to the
// writer, no wake-up. The write cannot block (what the socket does not
// take at once stays with the transport, and the writer flushes it); if
// the writer is busy writing, the acknowledgements go with it instead.
func (c *Channel) flushAcksInline(t inlineWriter) {
	c.qmu.Lock()
	pending := c.nacks > 0
	c.qmu.Unlock()
	if !pending {
		return
	}
	if !c.wmu.TryLock() {
		c.wakeWriter()
		return
	}
	c.qmu.Lock()
	acks := c.acks
	c.acks, c.nacks = c.inlineAcks[:0], 0
	c.qmu.Unlock()
	c.inlineFr = splitFrames(c.inlineFr[:0], acks)
	left, err := t.writeFramesNoWait(c.inlineFr)
	clear(c.inlineFr)
	c.inlineAcks = acks
	c.wmu.Unlock()
	switch {
	case err != nil:
		t.Close()
	case left:
		c.flushWanted.Store(true)
		c.wakeWriter()
	}
}

func (c *Channel) receive(m *Message, hooked bool) error {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	c.mu.Lock()
	next := c.next
	switch {
	case m.SequenceNumber < next:
		c.mu.Unlock()
		c.ack(m, hooked) // duplicate: our ack was lost, re-acknowledge
		return nil
	case m.SequenceNumber > next:
		if _, dup := c.reord[m.SequenceNumber]; !dup {
			if len(c.reord) >= c.cfg.ReorderLimit {
				c.mu.Unlock()
				return nil // dropped unacknowledged: the peer resends it
			}
			cp := *m
			cp.Payload = append([]byte(nil), m.Payload...)
			c.reord[m.SequenceNumber] = &cp
		}
		c.mu.Unlock()
		c.ack(m, hooked)
		return nil
	}
	c.mu.Unlock()
	c.ack(m, hooked)
	for {
		if err := c.cfg.Deliver(m); err != nil {
			return err
		}
		c.mu.Lock()
		c.next++
		nm, ok := c.reord[c.next]
		if ok {
			delete(c.reord, c.next)
		}
		c.mu.Unlock()
		if !ok {
			return nil
		}
		m = nm
	}
}

func (c *Channel) acked(seq int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	om, ok := c.unack[seq]
	if !ok {
		return
	}
	delete(c.unack, seq)
	om.acked = true
	om.frame = nil
	if om.attempts == 1 { // Karn: only unambiguous samples
		c.sample(time.Since(om.lastSent))
	}
	i := 0
	for i < len(c.out) && c.out[i].acked {
		c.out[i] = nil
		i++
	}
	c.out = c.out[i:]
	c.cond.Broadcast()
}

// sample updates SRTT, RTTVAR and RTO as AWS's parties do (RFC 6298 gains,
// 10 ms granularity, 1 s cap).
func (c *Channel) sample(r time.Duration) {
	d := c.srtt - r
	if d < 0 {
		d = -d
	}
	c.rttvar = c.rttvar*3/4 + d/4
	c.srtt = c.srtt*7/8 + r/8
	c.rto = min(c.srtt+max(clockGranularity, 4*c.rttvar), maxRTO)
}

// resendLoop retransmits unacknowledged messages whose timer expired; each
// retransmission of a message doubles its timeout (up to 5 s).
func (c *Channel) resendLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(c.cfg.ResendTick)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-tick.C:
		}
		if c.queueLen() > maxQueue {
			continue
		}
		c.mu.Lock()
		if c.tr == nil || c.paused {
			c.mu.Unlock()
			continue
		}
		now := time.Now()
		var frames [][]byte
		var giveUp *outMsg
		for _, m := range c.out {
			if len(frames) >= maxResendPerTick {
				break
			}
			if m.acked {
				continue
			}
			timeout := min(c.rto<<min(m.attempts-1, 8), maxBackoff)
			if now.Sub(m.lastSent) < timeout {
				continue
			}
			if m.attempts >= c.cfg.MaxAttempts {
				giveUp = m
				break
			}
			m.attempts++
			m.lastSent = now
			frames = append(frames, m.frame)
		}
		c.mu.Unlock()
		if giveUp != nil {
			c.Close(fmt.Errorf("ssmwire: message %d was not acknowledged after %d attempts", giveUp.seq, giveUp.attempts))
			return
		}
		if len(frames) > 0 {
			c.enqueue(frames...)
		}
	}
}

// SendControl writes an unsequenced message (channel_closed, ...) on the
// current transport, if any. Nothing retransmits it.
func (c *Channel) SendControl(m *Message) error {
	f, err := m.Encode()
	if err != nil {
		return err
	}
	c.mu.Lock()
	tr := c.tr
	c.mu.Unlock()
	if tr == nil {
		return errors.New("ssmwire: no transport")
	}
	c.enqueue(f)
	return nil
}

// Connected reports whether the channel has a transport.
func (c *Channel) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tr != nil
}

// Flush waits up to d for queued frames to be written (before a Close
// that should not lose, say, channel_closed).
func (c *Channel) Flush(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c.qmu.Lock()
		idle := len(c.queue) == 0 && len(c.acks) == 0 && !c.writing.Load()
		c.qmu.Unlock()
		if idle {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}
