package postgres

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/rdsgate/rdsgate/proxy"
)

// errTerminated ends the client's side of a relay at its Terminate.
var errTerminated = errors.New("client sent Terminate")

// relayKeeping relays like proxy.Relay, following the protocol's message
// boundaries both ways, and reports whether the upstream session may serve
// another client: the client sent Terminate (held back from the server)
// after every Query, Sync and FunctionCall it sent was answered with
// ReadyForQuery, the last saying idle, and nothing else after them. When
// it may, up is left open, its pump running; otherwise the client is
// closed and so is up's connection (Serve closes up). onTerminate is
// called as soon as the client's Terminate is read.
func relayKeeping(s *proxy.Session, client net.Conn, up *upstreamConn, inspect proxy.Inspector, onTerminate func()) (reason string, keep bool) {
	k := &keepRelay{s: s, client: client, up: up, inspect: inspect, results: make(chan relayResult, 2), stopServer: make(chan struct{})}
	k.sf.params = &up.params
	k.touch()
	go k.fromClient(onTerminate)
	go k.fromServer()
	return k.wait()
}

// keepRelay is one relayKeeping: its two copies and what they saw.
type keepRelay struct {
	s          *proxy.Session
	client     net.Conn
	up         *upstreamConn
	inspect    proxy.Inspector
	results    chan relayResult
	last       atomic.Int64 // unix nanoseconds of the last byte either way
	cf         clientFramer // fromClient's until it ends
	sf         serverFramer // fromServer's until it ends
	stopServer chan struct{}
}

// relayResult is how one copy ended.
type relayResult struct {
	fromClient bool
	err        error
	wrote      bool // the error is the write's, not the read's
}

func (k *keepRelay) touch() {
	if k.s.IdleTimeout > 0 {
		k.last.Store(time.Now().UnixNano())
	}
}

// fromClient copies the client's messages to the server up to its
// Terminate, which is not sent.
func (k *keepRelay) fromClient(onTerminate func()) {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	for {
		n, err := k.client.Read(*bp)
		if n > 0 {
			k.touch()
			m, term := k.cf.feed((*bp)[:n])
			k.s.Counter.AddIn(m)
			if k.inspect != nil {
				k.inspect((*bp)[:m])
			}
			if m > 0 {
				if _, werr := k.up.conn.Write((*bp)[:m]); werr != nil {
					k.results <- relayResult{true, werr, true}
					return
				}
			}
			if term {
				onTerminate()
				k.results <- relayResult{true, errTerminated, false}
				return
			}
		}
		if err != nil {
			k.results <- relayResult{true, err, false}
			return
		}
	}
}

// fromServer copies what the pump reads to the client until stopServer.
func (k *keepRelay) fromServer() {
	for {
		select {
		case c, ok := <-k.up.pump.ch:
			if !ok {
				k.results <- relayResult{false, k.up.pump.err, false}
				return
			}
			k.touch()
			k.sf.feed(c.b)
			k.s.Counter.AddOut(len(c.b))
			_, werr := k.client.Write(c.b)
			k.up.pump.release(c)
			if werr != nil {
				k.results <- relayResult{false, werr, true}
				return
			}
		case <-k.stopServer:
			k.results <- relayResult{false, errStopped, false}
			return
		}
	}
}

// wait ends the relay when either copy ends, it is idle too long, or the
// proxy shuts down, and decides whether the server's side is kept.
func (k *keepRelay) wait() (reason string, keep bool) {
	var tick <-chan time.Time
	if k.s.IdleTimeout > 0 {
		t := time.NewTicker(k.s.IdleTimeout / 4)
		defer t.Stop()
		tick = t.C
	}
	received := 0
	for reason == "" {
		select {
		case r := <-k.results:
			received++
			reason = proxy.EndUpstreamClosed
			if r.fromClient {
				reason = proxy.EndClientClosed
			}
			if r.fromClient && errors.Is(r.err, errTerminated) {
				// The server's side stays open: stop its copy, which may
				// be writing to the client (closing the client ends that).
				close(k.stopServer)
				k.client.Close()
				other := <-k.results
				keep = (other.wrote || errors.Is(other.err, errStopped)) && k.cf.clean() && k.sf.idleAfter(k.cf.syncs)
				return reason, keep
			}
			if r.err != nil && !errors.Is(r.err, io.EOF) && !errors.Is(r.err, net.ErrClosed) {
				reason += ": " + r.err.Error()
			}
		case <-tick:
			if time.Since(time.Unix(0, k.last.Load())) >= k.s.IdleTimeout {
				reason = proxy.EndIdle
			}
		case <-k.s.Done:
			reason = proxy.EndShutdown
		}
	}
	close(k.stopServer)
	k.client.Close()
	k.up.conn.Close()
	for ; received < 2; received++ {
		<-k.results
	}
	return reason, false
}

// framer follows a stream of typed messages (type byte, int32 length
// including itself, body) fed in pieces of any size. A length below 4, or
// a hook's refusal, breaks it: it then follows nothing more.
type framer struct {
	hdr    [5]byte
	nh     int // header bytes seen of the current message
	left   int // body bytes still to come
	keep   bool
	body   []byte
	broken bool
}

// frameHooks are what a framer's user does at each message: stop (may be
// nil) ends the walk before a message, at its type byte; start says
// whether to keep the body (false, false: break); end gets a kept body
// (false: break).
type frameHooks struct {
	stop  func(typ byte) bool
	start func(typ byte, length int) (keep, ok bool)
	end   func(typ byte, body []byte) bool
}

// feed walks b and returns how many bytes it walked: all of b, or those
// before the message stop ended the walk at.
func (f *framer) feed(b []byte, h frameHooks) (n int, stopped bool) {
	for i := 0; i < len(b); {
		if f.broken {
			return len(b), false
		}
		if f.nh < 5 {
			if f.nh == 0 && h.stop != nil && h.stop(b[i]) {
				return i, true
			}
			f.hdr[f.nh] = b[i]
			f.nh++
			i++
			if f.nh < 5 {
				continue
			}
			length := int(int32(binary.BigEndian.Uint32(f.hdr[1:]))) - 4
			keep, ok := false, length >= 0
			if ok {
				keep, ok = h.start(f.hdr[0], length)
			}
			if !ok {
				f.broken = true
				continue
			}
			f.left, f.keep, f.body = length, keep, f.body[:0]
		} else {
			k := min(f.left, len(b)-i)
			if f.keep {
				f.body = append(f.body, b[i:i+k]...)
			}
			i += k
			f.left -= k
		}
		if f.left == 0 {
			f.nh = 0
			if f.keep && !h.end(f.hdr[0], f.body) {
				f.broken = true
			}
		}
	}
	return len(b), false
}

// between reports whether the stream is between two messages.
func (f *framer) between() bool { return !f.broken && f.nh == 0 && f.left == 0 }

// clientFramer follows the frontend's messages as they pass.
type clientFramer struct {
	framer
	syncs int // Query, Sync and FunctionCall messages: each is answered by one ReadyForQuery
	after bool
}

// feed walks b and returns how many bytes to pass on: all of b, or those
// before a Terminate, which ends the client's side.
func (f *clientFramer) feed(b []byte) (n int, terminated bool) {
	return f.framer.feed(b, frameHooks{
		stop: func(typ byte) bool { return typ == 'X' },
		start: func(typ byte, _ int) (bool, bool) {
			switch typ {
			case 'Q', 'S', 'F':
				f.syncs++
				f.after = false
			case 'd', 'c', 'f': // COPY data belongs to the Query or Execute before it
			default:
				f.after = true
			}
			return false, true
		},
	})
}

// clean reports whether the client ended at a message boundary with
// nothing sent after its last Query, Sync or FunctionCall.
func (f *clientFramer) clean() bool { return f.between() && !f.after }

// serverFramer follows the backend's messages as they pass, counting
// ReadyForQuery and keeping each ParameterStatus in params.
type serverFramer struct {
	framer
	readies int
	idle    bool // the last message was ReadyForQuery 'I'
	params  *[]param
}

func (f *serverFramer) feed(b []byte) {
	f.framer.feed(b, frameHooks{
		start: func(typ byte, length int) (bool, bool) {
			f.idle = false
			return typ == 'Z' || typ == 'S', typ != 'S' || length <= maxParamStatus
		},
		end: func(typ byte, body []byte) bool {
			if typ == 'Z' {
				f.readies++
				f.idle = len(body) == 1 && body[0] == 'I'
				return true
			}
			var err error
			*f.params, err = setParam(*f.params, body)
			return err == nil
		},
	})
}

// idleAfter reports whether the server answered all of the client's syncs
// and is idle, at a message boundary.
func (f *serverFramer) idleAfter(syncs int) bool {
	return f.between() && f.idle && f.readies == syncs
}
