package mysqlwire

import (
	"errors"
	"fmt"
	"io"
)

// Every decoder of this package takes a packet payload (without the 4-byte
// header), never panics on malformed input and allocates no more than the
// input's size; each is fuzzed next to its encoder. Decoders copy what they
// keep, so the payload buffer may be reused after a call. The package keeps
// no global state.

// Packet framing limits.
const (
	// HeaderSize is the size of a packet header: a 3-byte little-endian
	// payload length and a 1-byte sequence id.
	HeaderSize = 4
	// MaxChunk is the largest payload one physical packet carries. A payload
	// of exactly MaxChunk bytes means "more follows" in the next packet; a
	// logical packet of n*MaxChunk bytes ends with an empty packet.
	MaxChunk = 1<<24 - 1
	// DefaultHandshakeMax is a sensible bound for logical packets during the
	// connection phase: greetings, handshake responses with connect
	// attributes and auth data (an IAM token with a session token is ~1.3 kB)
	// are far below it.
	DefaultHandshakeMax = 64 << 10
)

// Errors of the framing layer. They are wrapped with context; test with
// errors.Is.
var (
	// ErrPacketTooLarge: a logical packet is longer than the reader's bound.
	ErrPacketTooLarge = errors.New("mysqlwire: packet too large")
	// ErrSequence: a packet came with an unexpected sequence id.
	ErrSequence = errors.New("mysqlwire: packet out of sequence")
	// ErrMalformed: a payload does not decode as the expected packet.
	ErrMalformed = errors.New("mysqlwire: malformed packet")
)

// growStep bounds how much ReadPacket allocates ahead of the bytes actually
// received, so that a header claiming 16 MiB costs at most this much memory
// until the peer really sends the data.
const growStep = 64 << 10

// ReadPacket reads one logical packet from r: it joins physical packets of
// MaxChunk bytes with their continuations and returns the payload and the
// sequence id of the last physical packet (the next packet in either
// direction carries seq+1). Continuation packets must carry consecutive
// sequence ids. A logical packet longer than limit bytes is refused with
// ErrPacketTooLarge before its payload is read; limit <= 0 means no bound
// beyond memory (use it only after authentication). ReadPacket reads exactly
// the packet's bytes, never ahead, so r may be a raw connection that is
// upgraded to TLS afterwards.
func ReadPacket(r io.Reader, limit int) (payload []byte, seq byte, err error) {
	var hdr [HeaderSize]byte
	first := true
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if !first && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, 0, fmt.Errorf("mysqlwire: reading packet header: %w", err)
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		if !first && hdr[3] != seq+1 {
			return nil, 0, fmt.Errorf("%w: continuation has sequence id %d after %d", ErrSequence, hdr[3], seq)
		}
		seq = hdr[3]
		if limit > 0 && len(payload)+n > limit {
			return nil, 0, fmt.Errorf("%w: more than %d bytes", ErrPacketTooLarge, limit)
		}
		if payload, err = readN(r, payload, n); err != nil {
			return nil, 0, fmt.Errorf("mysqlwire: reading %d-byte packet payload: %w", n, err)
		}
		first = false
		if n < MaxChunk {
			if payload == nil {
				payload = []byte{}
			}
			return payload, seq, nil
		}
	}
}

// readN appends exactly n bytes from r to buf, growing buf at most growStep
// bytes ahead of what has arrived.
func readN(r io.Reader, buf []byte, n int) ([]byte, error) {
	for n > 0 {
		step := min(n, growStep)
		if cap(buf)-len(buf) < step {
			nb := make([]byte, len(buf), len(buf)+max(step, min(n, len(buf))))
			copy(nb, buf)
			buf = nb
		}
		start := len(buf)
		buf = buf[:start+step]
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		n -= step
	}
	return buf, nil
}

// AppendPacket appends payload framed as one logical packet starting at
// sequence id seq (split into MaxChunk pieces, with a final empty piece
// when the length is a multiple of MaxChunk) and returns the buffer and the
// sequence id the next packet must carry.
func AppendPacket(dst []byte, seq byte, payload []byte) ([]byte, byte) {
	for {
		n := min(len(payload), MaxChunk)
		dst = append(dst, byte(n), byte(n>>8), byte(n>>16), seq)
		dst = append(dst, payload[:n]...)
		seq++
		payload = payload[n:]
		if n < MaxChunk {
			return dst, seq
		}
	}
}

// WritePacket writes payload as one logical packet starting at sequence id
// seq, in a single Write (so a TLS connection sends it in as few records as
// possible), and returns the sequence id the next packet must carry.
func WritePacket(w io.Writer, seq byte, payload []byte) (byte, error) {
	buf, next := AppendPacket(make([]byte, 0, len(payload)+HeaderSize*(1+len(payload)/MaxChunk)), seq, payload)
	if _, err := w.Write(buf); err != nil {
		return seq, fmt.Errorf("mysqlwire: writing %d-byte packet: %w", len(payload), err)
	}
	return next, nil
}

// Conn reads and writes the packets of one leg of a connection phase and
// keeps its sequence id: the greeting is 0 and every packet, in either
// direction, carries the previous one's id plus one. It is not safe for
// concurrent use.
type Conn struct {
	rw    io.ReadWriter
	limit int
	seq   byte
}

// NewConn returns a Conn over rw whose logical packets may be at most limit
// bytes (see ReadPacket), with the next sequence id 0.
func NewConn(rw io.ReadWriter, limit int) *Conn { return &Conn{rw: rw, limit: limit} }

// SetTransport replaces the underlying reader/writer, e.g. by its TLS
// upgrade, keeping the sequence id.
func (c *Conn) SetTransport(rw io.ReadWriter) { c.rw = rw }

// Seq returns the sequence id the next packet must carry.
func (c *Conn) Seq() byte { return c.seq }

// SetSeq sets the sequence id the next packet must carry.
func (c *Conn) SetSeq(seq byte) { c.seq = seq }

// ResetSeq starts a new command: the next packet carries sequence id 0.
func (c *Conn) ResetSeq() { c.seq = 0 }

// ReadPacket reads a logical packet that must carry the expected sequence
// id, and advances it. The payload of a packet out of sequence is read
// (within the bound) and dropped, and ErrSequence returned.
func (c *Conn) ReadPacket() ([]byte, error) {
	p, seq, err := ReadPacket(c.rw, c.limit)
	if err != nil {
		return nil, err
	}
	if first := seq - byte(len(p)/MaxChunk); first != c.seq {
		return nil, fmt.Errorf("%w: got %d, want %d", ErrSequence, first, c.seq)
	}
	c.seq = seq + 1
	return p, nil
}

// WritePacket writes payload with the current sequence id and advances it.
func (c *Conn) WritePacket(payload []byte) error {
	next, err := WritePacket(c.rw, c.seq, payload)
	if err != nil {
		return err
	}
	c.seq = next
	return nil
}
