package ssmwire

import (
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Transport carries frames: one websocket of a session. A Channel reads
// from one goroutine and serializes writes.
type Transport interface {
	ReadFrame() ([]byte, error)
	WriteFrame(b []byte) error
	Close() error
}

// writeTimeout bounds one websocket write, so that a stuck peer cannot hang
// a sender forever.
const writeTimeout = 30 * time.Second

// WebsocketTransport adapts a websocket: binary frames out, text or binary
// frames in (AWS's plugin accepts both), reads limited to MaxFrame.
func WebsocketTransport(c *websocket.Conn) Transport {
	c.SetReadLimit(MaxFrame)
	return &wsTransport{c: c}
}

type wsTransport struct {
	c    *websocket.Conn
	once sync.Once
}

func (t *wsTransport) ReadFrame() ([]byte, error) {
	for {
		typ, b, err := t.c.ReadMessage()
		if err != nil {
			return nil, err
		}
		if typ == websocket.BinaryMessage || typ == websocket.TextMessage {
			return b, nil
		}
	}
}

func (t *wsTransport) WriteFrame(b []byte) error {
	_ = t.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	return t.c.WriteMessage(websocket.BinaryMessage, b)
}

func (t *wsTransport) Close() error {
	var err error
	t.once.Do(func() { err = t.c.Close() })
	return err
}
