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
	ch      *Channel
	max     int
	pace    time.Duration
	in      chan []byte
	cur     []byte
	closed  chan struct{}
	once    sync.Once
	readMu  sync.Mutex
	writeMu sync.Mutex
}

// PipeConfig configures a Pipe.
type PipeConfig struct {
	// MaxPayload bounds one message's payload (default 1024).
	MaxPayload int
	// Pace is slept after each message sent (AWS's agent and plugin sleep
	// 1 ms); zero sends as fast as the window allows.
	Pace time.Duration
	// Buffer is how many received payloads wait for Read (default 1024);
	// when it is full, Push blocks and so back-pressures the websocket.
	Buffer int
}

// NewPipe returns a pipe writing to ch. Feed it with Push from the
// channel's Deliver.
func NewPipe(ch *Channel, cfg PipeConfig) *Pipe {
	if cfg.MaxPayload <= 0 || cfg.MaxPayload > MaxPayload {
		cfg.MaxPayload = 1024
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 1024
	}
	return &Pipe{ch: ch, max: cfg.MaxPayload, pace: cfg.Pace, in: make(chan []byte, cfg.Buffer), closed: make(chan struct{})}
}

// Push hands a received payload to the reader, blocking while the buffer
// is full. It returns io.ErrClosedPipe once the pipe is closed.
func (p *Pipe) Push(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	b = append([]byte(nil), b...)
	select {
	case p.in <- b:
		return nil
	case <-p.closed:
		return io.ErrClosedPipe
	}
}

// Read returns received bytes in order.
func (p *Pipe) Read(b []byte) (int, error) {
	p.readMu.Lock()
	defer p.readMu.Unlock()
	if len(p.cur) == 0 {
		select {
		case p.cur = <-p.in:
		case <-p.closed:
			select {
			case p.cur = <-p.in:
			default:
				return 0, io.EOF
			}
		}
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
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
		chunk := append([]byte(nil), b[n:n+k]...)
		if err := p.ch.Send(PayloadOutput, chunk); err != nil {
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
	p.once.Do(func() { close(p.closed) })
	return nil
}
