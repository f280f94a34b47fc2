package proxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rdsgate/rdsgate/session"
)

// relayBufSize is each direction's copy buffer: large enough for bulk
// transfers (COPY, big rows) to move in few syscalls and TLS records.
const relayBufSize = 32 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, relayBufSize); return &b }}

// Leg is one side of a relay: where to read (possibly a buffered reader
// that already holds bytes read ahead during the handshake — they must not
// be lost) and the connection to write to and close.
type Leg struct {
	R    io.Reader
	Conn net.Conn
}

// Inspector sees the client-to-database bytes as they pass, for statement
// capture. It must not retain b or block.
type Inspector func(b []byte)

// End reasons of a relay.
const (
	EndClientClosed   = "client closed"
	EndUpstreamClosed = "database closed"
	EndIdle           = "idle timeout"
	EndShutdown       = "proxy shutting down"
)

// Relay copies bytes both ways until either side ends, then closes both
// connections and returns why it ended. idle, when non-zero, ends a relay in
// which neither side sent anything for that long. done, when closed, ends
// the relay (shutdown).
func Relay(client, upstream Leg, c *session.Counter, inspect Inspector, idle time.Duration, done <-chan struct{}) string {
	type result struct {
		fromClient bool
		err        error
	}
	results := make(chan result, 2)
	var last lastActivity
	last.touch()
	copyDir := func(dst net.Conn, src io.Reader, fromClient bool) {
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		buf := *bp
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if idle > 0 { // a clock read per message only when something watches it
					last.touch()
				}
				if fromClient {
					c.AddIn(n)
					if inspect != nil {
						inspect(buf[:n])
					}
				} else {
					c.AddOut(n)
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					results <- result{fromClient, werr}
					return
				}
			}
			if err != nil {
				results <- result{fromClient, err}
				return
			}
		}
	}
	go copyDir(upstream.Conn, client.R, true)
	go copyDir(client.Conn, upstream.R, false)

	var tick <-chan time.Time
	if idle > 0 {
		t := time.NewTicker(idle / 4)
		defer t.Stop()
		tick = t.C
	}
	reason, received := "", 0
	for reason == "" {
		select {
		case r := <-results:
			received++
			reason = EndUpstreamClosed
			if r.fromClient {
				reason = EndClientClosed
			}
			if r.err != nil && !errors.Is(r.err, io.EOF) && !errors.Is(r.err, net.ErrClosed) {
				reason += ": " + r.err.Error()
			}
		case <-tick:
			if last.since() >= idle {
				reason = EndIdle
			}
		case <-done:
			reason = EndShutdown
		}
	}
	client.Conn.Close()
	upstream.Conn.Close()
	// Wait for both copies; closing the connections ends them.
	for ; received < 2; received++ {
		<-results
	}
	return reason
}

// lastActivity is the time of the last byte in either direction, kept as
// unix nanoseconds so both copiers can touch it without a lock.
type lastActivity struct{ ns atomic.Int64 }

func (l *lastActivity) touch() { l.ns.Store(time.Now().UnixNano()) }

func (l *lastActivity) since() time.Duration { return time.Since(time.Unix(0, l.ns.Load())) }
