package ssmwire

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Transport carries frames: one websocket of a session. A Channel reads
// from one goroutine and writes from another.
type Transport interface {
	// ReadFrame returns the next frame. The slice is valid until the next
	// ReadFrame.
	ReadFrame() ([]byte, error)
	// WriteFrames writes frames in order, each as one websocket message.
	WriteFrames(frames [][]byte) error
	Close() error
}

// writeTimeout bounds one websocket write, so that a stuck peer cannot hang
// a sender forever.
const writeTimeout = 30 * time.Second

// WebsocketTransport adapts a websocket: binary frames out, text or binary
// frames in (AWS's plugin accepts both), reads limited to MaxFrame. client
// says which end of the websocket c is: a client masks what it sends
// (RFC 6455 §5.3), a server does not.
//
// Writes bypass gorilla's writer: WriteFrames lays out all its messages in
// one buffer and hands it to the connection in a single Write (one
// syscall, or one TLS write), where gorilla would flush each message on
// its own. A single Write on a net.Conn or tls.Conn is atomic with respect
// to gorilla's own control-frame writes (pongs, close), so frames never
// interleave.
func WebsocketTransport(c *websocket.Conn, client bool) Transport {
	c.SetReadLimit(MaxFrame)
	return &wsTransport{c: c, client: client, fc: fastConnOf(c)}
}

type wsTransport struct {
	c      *websocket.Conn
	client bool
	fc     *fastConn // under c, if any
	once   sync.Once
	rbuf   []byte // ReadFrame's buffer, reused
	wbuf   []byte // WriteFrames' buffer, reused (one writer at a time)
	keys   []byte
}

func (t *wsTransport) ReadFrame() ([]byte, error) {
	for {
		typ, r, err := t.c.NextReader()
		if err != nil {
			return nil, err
		}
		if typ != websocket.BinaryMessage && typ != websocket.TextMessage {
			continue
		}
		b := t.rbuf[:0]
		for {
			if len(b) == cap(b) {
				b = append(b, 0)[:len(b)]
			}
			n, err := r.Read(b[len(b):cap(b)])
			b = b[:len(b)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
		}
		// Keep a buffer of ordinary size, not the largest frame ever seen.
		if cap(b) <= 256<<10 {
			t.rbuf = b
		}
		return b, nil
	}
}

// maxWrite bounds the bytes WriteFrames puts into one Write.
const maxWrite = 256 << 10

func (t *wsTransport) WriteFrames(frames [][]byte) error {
	_ = t.c.NetConn().SetWriteDeadline(time.Now().Add(writeTimeout))
	if len(frames) == 0 && t.fc != nil {
		return t.fc.flush()
	}
	return t.writeFrames(frames)
}

func (t *wsTransport) writeFrames(frames [][]byte) error {
	for len(frames) > 0 {
		b := t.wbuf[:0]
		if t.client {
			if cap(t.keys) < 4*len(frames) {
				t.keys = make([]byte, 4*len(frames))
			}
			t.keys = t.keys[:4*len(frames)]
			_, _ = rand.Read(t.keys)
		}
		i := 0
		for i < len(frames) && (i == 0 || len(b)+len(frames[i])+14 <= maxWrite) {
			var key []byte
			if t.client {
				key = t.keys[4*i:]
			}
			b = appendWSFrame(b, frames[i], key)
			i++
		}
		frames = frames[i:]
		_, err := t.c.NetConn().Write(b)
		if cap(b) <= 2*maxWrite {
			t.wbuf = b
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// appendWSFrame appends p as one final binary websocket frame, masked
// with key[:4] unless key is nil.
func appendWSFrame(b, p []byte, key []byte) []byte {
	const finBinary = 0x80 | websocket.BinaryMessage
	masked := key != nil
	var maskBit byte
	if masked {
		maskBit = 0x80
	}
	switch n := len(p); {
	case n < 126:
		b = append(b, finBinary, maskBit|byte(n))
	case n <= 0xffff:
		b = append(b, finBinary, maskBit|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, finBinary, maskBit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !masked {
		return append(b, p...)
	}
	b = append(b, key[:4]...)
	start := len(b)
	b = append(b, p...)
	maskBytes(key[:4], b[start:])
	return b
}

// maskBytes XORs b with the 4-byte key, 8 bytes at a time.
func maskBytes(key []byte, b []byte) {
	k := uint64(binary.LittleEndian.Uint32(key))
	k |= k << 32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k)
	}
	for ; i < len(b); i++ {
		b[i] ^= key[i&3]
	}
}

func (t *wsTransport) Close() error {
	var err error
	t.once.Do(func() { err = t.c.Close() })
	return err
}
