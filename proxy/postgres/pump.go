package postgres

import (
	"errors"
	"io"
	"sync"
)

// pump reads a reusable upstream session for as long as it lives and
// hands over what it reads, so that a relay, a reset or an idle watch can
// stop reading without a read deadline: a Session Manager connection
// without multiplexing does not survive one.
type pump struct {
	ch   chan chunk // closed when the read fails; err is then set
	err  error
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

// chunk is one read, in a buffer from chunkPool.
type chunk struct {
	b  []byte
	bp *[]byte
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// errStopped ends a read of the pump that its reader stopped.
var errStopped = errors.New("read stopped")

func startPump(r io.Reader) *pump {
	p := &pump{ch: make(chan chunk), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			bp := chunkPool.Get().(*[]byte)
			n, err := r.Read(*bp)
			if n > 0 {
				select {
				case p.ch <- chunk{(*bp)[:n], bp}:
				case <-p.quit:
					return
				}
			} else {
				chunkPool.Put(bp)
			}
			if err != nil {
				p.err = err
				close(p.ch)
				return
			}
		}
	}()
	return p
}

// release returns c's buffer once its bytes are written.
func (p *pump) release(c chunk) { chunkPool.Put(c.bp) }

// stop ends the pump; closeConn must make its read return.
func (p *pump) stop(closeConn func()) {
	p.once.Do(func() { close(p.quit) })
	closeConn()
	<-p.done
}

// pumpReader reads a pump as an io.Reader until stop is closed.
type pumpReader struct {
	p    *pump
	stop <-chan struct{}
	cur  []byte
	c    chunk
}

func (r *pumpReader) Read(b []byte) (int, error) {
	if len(r.cur) == 0 {
		r.release()
		select {
		case c, ok := <-r.p.ch:
			if !ok {
				return 0, r.p.err
			}
			r.c, r.cur = c, c.b
		case <-r.stop:
			return 0, errStopped
		}
	}
	n := copy(b, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// release returns the buffer of the chunk being read, if any.
func (r *pumpReader) release() {
	if r.c.bp != nil {
		r.p.release(r.c)
		r.c = chunk{}
	}
}
