package ssmwire

import (
	"io"
	"sync"
	"time"
)

// Pipe is the byte stream a port session carries in Output payloads: raw
// TCP bytes in basic mode, smux frames in multiplexed mode. Writes are cut
// into payloads of at most MaxPayload bytes (1 KiB like AWS's parties by
// default), optionally paced; reads return delivered payloads in order.
type Pipe struct {
	ch    *Channel
	max   int
	pace  time.Duration
	limit int

	readMu  sync.Mutex
	writeMu sync.Mutex

	mu       sync.Mutex
	bufs     [][]byte // received bytes in order, bufs[0][off:] first
	off      int
	size     int
	spare    []byte // an emptied chunk kept for reuse
	want     int    // bytes a blocked reader waits for; 0 if none waits
	full     bool   // Push waits for room
	isClosed bool
	rwake    chan struct{}
	wwake    chan struct{}
	closed   chan struct{}
	once     sync.Once
}

// PipeConfig configures a Pipe.
type PipeConfig struct {
	// MaxPayload bounds one message's payload (default 1024).
	MaxPayload int
	// Pace is slept after each message sent (AWS's agent and plugin sleep
	// 1 ms); zero sends as fast as the window allows.
	Pace time.Duration
	// Buffer is how many received bytes wait for Read (default 1024
	// payloads of MaxPayload, at least 1 MiB); when it is full, Push
	// blocks and so back-pressures the websocket.
	Buffer int
}

// pipeChunk is the size of the chunks received bytes are kept in.
const pipeChunk = 16 << 10

// NewPipe returns a pipe writing to ch. Feed it with Push from the
// channel's Deliver.
func NewPipe(ch *Channel, cfg PipeConfig) *Pipe {
	if cfg.MaxPayload <= 0 || cfg.MaxPayload > MaxPayload {
		cfg.MaxPayload = 1024
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = max(1024*cfg.MaxPayload, 1<<20)
	}
	return &Pipe{ch: ch, max: cfg.MaxPayload, pace: cfg.Pace, limit: cfg.Buffer,
		rwake: make(chan struct{}, 1), wwake: make(chan struct{}, 1), closed: make(chan struct{})}
}

// Push hands a received payload to the reader (it copies b), blocking
// while the buffer is full. It returns io.ErrClosedPipe once the pipe is
// closed. A reader is woken only when it has what it waits for.
func (p *Pipe) Push(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	p.mu.Lock()
	for p.size >= p.limit && !p.isClosed {
		p.full = true
		p.mu.Unlock()
		// The channel's reader blocks here: what it acknowledges must not
		// wait for the reader to drain the pipe.
		if p.ch != nil {
			p.ch.flushAcks()
		}
		select {
		case <-p.wwake:
		case <-p.closed:
		}
		p.mu.Lock()
	}
	if p.isClosed {
		p.mu.Unlock()
		return io.ErrClosedPipe
	}
	for len(b) > 0 {
		n := len(p.bufs)
		if n == 0 || len(p.bufs[n-1]) == cap(p.bufs[n-1]) {
			c := p.spare
			p.spare = nil
			if c == nil {
				c = make([]byte, 0, pipeChunk)
			}
			p.bufs = append(p.bufs, c)
			n++
		}
		tail := p.bufs[n-1]
		k := copy(tail[len(tail):cap(tail)], b)
		p.bufs[n-1] = tail[:len(tail)+k]
		p.size += k
		b = b[k:]
	}
	wake := p.want > 0 && p.size >= p.want
	if wake {
		p.want = 0
	}
	p.mu.Unlock()
	if wake {
		signal(p.rwake)
	}
	return nil
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Read returns received bytes in order, as soon as there are any.
func (p *Pipe) Read(b []byte) (int, error) { return p.read(b, false) }

// FullReads returns the pipe as a stream whose Read waits until it can
// fill b (or the pipe closes), as io.ReadFull would. It suits a reader
// that only ever reads whole frames — smux reads each frame header and
// body with io.ReadFull — which is then woken once per frame instead of
// once per message.
func (p *Pipe) FullReads() io.ReadWriteCloser { return fullPipe{p} }

type fullPipe struct{ *Pipe }

func (f fullPipe) Read(b []byte) (int, error) { return f.read(b, true) }

func (p *Pipe) read(b []byte, full bool) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.readMu.Lock()
	defer p.readMu.Unlock()
	need := 1
	if full {
		need = min(len(b), p.limit)
	}
	p.mu.Lock()
	for p.size < need && !p.isClosed {
		p.want = need
		p.mu.Unlock()
		select {
		case <-p.rwake:
		case <-p.closed:
		}
		p.mu.Lock()
	}
	p.want = 0
	if p.size == 0 {
		p.mu.Unlock()
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && p.size > 0 {
		head := p.bufs[0]
		k := copy(b[n:], head[p.off:])
		n += k
		p.off += k
		p.size -= k
		if p.off == len(head) {
			p.off = 0
			if len(p.bufs) == 1 {
				p.bufs[0] = head[:0] // the tail: keep filling it
				break
			}
			p.bufs[0] = nil
			p.bufs = p.bufs[1:]
			if cap(head) == pipeChunk {
				p.spare = head[:0]
			}
		}
	}
	wake := p.full && p.size < p.limit
	if wake {
		p.full = false
	}
	p.mu.Unlock()
	if wake {
		signal(p.wwake)
	}
	return n, nil
}

// Write sends b as one or more Output messages.
func (p *Pipe) Write(b []byte) (int, error) {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	n := 0
	for n < len(b) {
		select {
		case <-p.closed:
			return n, io.ErrClosedPipe
		default:
		}
		k := min(len(b)-n, p.max)
		// Send encodes the payload into its frame at once; b is not kept.
		if err := p.ch.Send(PayloadOutput, b[n:n+k]); err != nil {
			return n, err
		}
		n += k
		if p.pace > 0 {
			time.Sleep(p.pace)
		}
	}
	return n, nil
}

// Close ends the pipe: Read returns io.EOF once buffered data is read,
// Write and Push fail. It does not close the channel.
func (p *Pipe) Close() error {
	p.once.Do(func() {
		p.mu.Lock()
		p.isClosed = true
		p.mu.Unlock()
		close(p.closed)
	})
	return nil
}
