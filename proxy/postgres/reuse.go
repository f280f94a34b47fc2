package postgres

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rdsgate/rdsgate/pgwire"
	"github.com/rdsgate/rdsgate/proxy"
)

// Reuse of logins (off unless ReuseLogins is called: `proxy --reuse-logins`).
//
// A new PostgreSQL session costs the server a new process, and through a
// route a TLS handshake and an IAM login; for a client that connects for
// every query (pgbench -C, serverless handlers, some GUI tools) that is most
// of its time. With reuse on, a client that ends its session cleanly — a
// Terminate after every query it sent was answered, the last answer saying
// idle, outside any transaction, with nothing half-sent — leaves its
// upstream session behind: rdsgate resets it with DISCARD ALL and hands it to
// the next client whose startup packet is byte for byte the same (same
// user, database and every parameter), as the server would greet a new
// login: the parameters as the server reports them now, a new cancel key,
// ReadyForQuery. Anything else closes the upstream session as before.
//
// DISCARD ALL ends the previous client's transactions, settings (RESET
// ALL, including SET ROLE and SET SESSION AUTHORIZATION), prepared
// statements, cursors, temporary tables, LISTENs, advisory locks, sequence
// state and cached plans. It does not end the server process: the next
// client sees the same pg_backend_pid and backend_start, libraries loaded
// with LOAD, an extension's private memory and the server's per-process
// statistics. Every client of one proxy logs in as the proxy's AWS identity,
// so no privilege passes between clients; still, session semantics are not
// exactly a fresh login's, and so reuse is off by default.

// ReuseConfig bounds the logins kept for reuse. Zero fields take the
// defaults.
type ReuseConfig struct {
	// MaxIdle is how many idle logins are kept per startup packet
	// (default 8).
	MaxIdle int
	// IdleTimeout closes a login nobody took for that long (default 30 s).
	IdleTimeout time.Duration
	// MaxAge is how long after its login a session may be handed to
	// another client (default 10 min): a grant revoked in IAM or in the
	// database ends for new clients within that time.
	MaxAge time.Duration
}

// Defaults of ReuseConfig.
const (
	DefaultReuseMaxIdle     = 8
	DefaultReuseIdleTimeout = 30 * time.Second
	DefaultReuseMaxAge      = 10 * time.Minute
)

// reuseWait is how long a new client waits for a login being reset (one
// round trip) before logging in anew: a client that reconnects at once
// should get the session it just left.
const reuseWait = 2 * time.Second

// resetTimeout bounds DISCARD ALL.
const resetTimeout = 10 * time.Second

// maxParamStatus bounds a ParameterStatus body kept during the relay.
const maxParamStatus = 64 << 10

// ReuseLogins turns reuse of logins on for e's clients (see above). Call it
// before serving; Close ends the idle logins.
func (e *Engine) ReuseLogins(cfg ReuseConfig) {
	if cfg.MaxIdle <= 0 {
		cfg.MaxIdle = DefaultReuseMaxIdle
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultReuseIdleTimeout
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultReuseMaxAge
	}
	e.reuse = &reusePool{cfg: cfg, idle: map[string][]*idleLogin{}, resetting: map[string]int{},
		busy: map[net.Conn]struct{}{}, changed: make(chan struct{})}
}

// Close closes the logins kept for reuse and waits for their goroutines.
// Sessions being served are not touched.
func (e *Engine) Close() error {
	if e.reuse != nil {
		e.reuse.close()
	}
	return nil
}

// reuseKey is the key of the logins a client may reuse: its upstream
// startup packet with the parameters in name order (clients such as pgx
// send them in a random order), or "" when reuse is off or the session is
// a replication connection (its protocol is not reset by DISCARD ALL).
func (e *Engine) reuseKey(startup *pgwire.StartupMessage, principal string) string {
	if e.reuse == nil {
		return ""
	}
	if _, ok := startup.Param("replication"); ok {
		return ""
	}
	up := upstreamStartup(startup, principal)
	sorted := &pgwire.StartupMessage{ProtocolVersion: up.ProtocolVersion, Params: slices.Clone(up.Params)}
	slices.SortStableFunc(sorted.Params, func(a, b pgwire.Param) int { return strings.Compare(a.Name, b.Name) })
	pkt, err := sorted.AppendTo(nil)
	if err != nil {
		return ""
	}
	return string(pkt)
}

// param is one ParameterStatus the server reported.
type param struct{ name, value string }

// setParam records a ParameterStatus body in ps (in first-reported order).
func setParam(ps []param, body []byte) ([]param, error) {
	name, rest, ok := bytes.Cut(body, []byte{0})
	value, tail, ok2 := bytes.Cut(rest, []byte{0})
	if !ok || !ok2 || len(tail) != 0 {
		return ps, fmt.Errorf("%w: parameter status is not two NUL-terminated strings", pgwire.ErrMalformed)
	}
	for i := range ps {
		if ps[i].name == string(name) {
			ps[i].value = string(value)
			return ps, nil
		}
	}
	return append(ps, param{string(name), string(value)}), nil
}

// reusePool holds the idle logins, by reuseKey.
type reusePool struct {
	cfg       ReuseConfig
	mu        sync.Mutex
	idle      map[string][]*idleLogin
	resetting map[string]int
	busy      map[net.Conn]struct{} // being reset: closed by close
	changed   chan struct{}         // closed (and replaced) when idle or resetting change
	closed    bool
	wg        sync.WaitGroup
}

// idleLogin is a reset login waiting for a client. Its watcher waits for
// take, the idle timeout, or the server saying anything (an error, a
// termination by an admin), which ends it.
type idleLogin struct {
	up    *upstreamConn
	taken bool          // set under mu by take; the watcher then answers on done
	stop  chan struct{} // closed by take
	done  chan bool     // the watcher's verdict for take: still good
}

// broadcast wakes the clients waiting in take. Called with mu held.
func (r *reusePool) broadcast() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// take returns an idle login for key, waiting up to reuseWait (or ctx)
// for one being reset; nil means log in anew.
func (r *reusePool) take(ctx context.Context, key string) *upstreamConn {
	timer := time.NewTimer(reuseWait)
	defer timer.Stop()
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil
		}
		if ls := r.idle[key]; len(ls) > 0 {
			l := ls[len(ls)-1] // the newest: the oldest expire
			r.setIdle(key, ls[:len(ls)-1])
			l.taken = true
			r.mu.Unlock()
			close(l.stop)
			if <-l.done && time.Since(l.up.loggedIn) <= r.cfg.MaxAge {
				return l.up
			}
			l.up.close()
			continue
		}
		if r.resetting[key] == 0 {
			r.mu.Unlock()
			return nil
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// expect says a login for key may come back soon: its client sent
// Terminate. Until put or unexpect, take waits for it rather than log in
// anew (a client that reconnects at once is usually faster than the
// relay that sees it leave).
func (r *reusePool) expect(key string) {
	r.mu.Lock()
	r.addResetting(key, 1)
	r.mu.Unlock()
}

// unexpect withdraws an expect whose login is not coming back.
func (r *reusePool) unexpect(key string) {
	r.mu.Lock()
	r.addResetting(key, -1)
	r.broadcast()
	r.mu.Unlock()
}

// put takes up, whose client ended cleanly (after expect), resets it and
// keeps it for key.
func (r *reusePool) put(key string, up *upstreamConn) {
	r.mu.Lock()
	if r.closed {
		r.addResetting(key, -1)
		r.mu.Unlock()
		up.close()
		return
	}
	r.busy[up.conn] = struct{}{}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		err := reset(up)
		r.mu.Lock()
		r.addResetting(key, -1)
		delete(r.busy, up.conn)
		r.broadcast()
		if err != nil || r.closed || len(r.idle[key]) >= r.cfg.MaxIdle || time.Since(up.loggedIn) > r.cfg.MaxAge {
			r.mu.Unlock()
			up.close() // not under mu: close waits for the pump
			return
		}
		l := &idleLogin{up: up, stop: make(chan struct{}), done: make(chan bool, 1)}
		r.idle[key] = append(r.idle[key], l)
		r.wg.Add(1)
		go r.watch(key, l)
		r.mu.Unlock()
	}()
}

// watch waits for take to claim l, or for the idle timeout or anything
// from the server, in which case it closes l.
func (r *reusePool) watch(key string, l *idleLogin) {
	defer r.wg.Done()
	timer := time.NewTimer(r.cfg.IdleTimeout)
	defer timer.Stop()
	select {
	case <-l.stop:
		l.done <- true
		return
	case c, ok := <-l.up.pump.ch:
		if ok {
			l.up.pump.release(c)
		}
	case <-timer.C:
	}
	r.mu.Lock()
	if l.taken {
		r.mu.Unlock()
		l.done <- false
		return
	}
	r.setIdle(key, slices.DeleteFunc(r.idle[key], func(x *idleLogin) bool { return x == l }))
	r.mu.Unlock()
	l.up.close()
}

// setIdle sets key's idle logins, dropping the key when there are none
// (every distinct startup would otherwise leave one behind). Called with
// mu held.
func (r *reusePool) setIdle(key string, ls []*idleLogin) {
	if len(ls) == 0 {
		delete(r.idle, key)
		return
	}
	r.idle[key] = ls
}

// addResetting adds n to key's logins being reset or expected back,
// dropping the key at zero. Called with mu held.
func (r *reusePool) addResetting(key string, n int) {
	if r.resetting[key] += n; r.resetting[key] <= 0 {
		delete(r.resetting, key)
	}
}

// close closes every idle login and every login being reset, and waits.
func (r *reusePool) close() {
	r.mu.Lock()
	r.closed = true
	var ups []*upstreamConn
	for _, ls := range r.idle {
		for _, l := range ls {
			if !l.taken {
				l.taken = true
				ups = append(ups, l.up)
			}
		}
	}
	clear(r.idle)
	for c := range r.busy {
		c.Close() // ends its reset, which then closes it fully
	}
	r.broadcast()
	r.mu.Unlock()
	for _, up := range ups {
		up.close()
	}
	r.wg.Wait()
}

// reset runs DISCARD ALL on up and records the parameters the server
// reports on the way; the session must end idle, outside a transaction,
// with nothing after the answer.
func reset(up *upstreamConn) error {
	if err := up.conn.SetWriteDeadline(time.Now().Add(resetTimeout)); err != nil {
		return err
	}
	if _, err := up.conn.Write(pgwire.AppendMessage(nil, 'Q', []byte("DISCARD ALL\x00"))); err != nil {
		return fmt.Errorf("send DISCARD ALL: %w", err)
	}
	if err := up.conn.SetWriteDeadline(time.Time{}); err != nil {
		return err
	}
	stop := make(chan struct{})
	defer time.AfterFunc(resetTimeout, func() { close(stop) }).Stop()
	pr := &pumpReader{p: up.pump, stop: stop}
	defer pr.release()
	br := bufio.NewReaderSize(pr, 512)
	done := false
	for {
		typ, body, err := pgwire.ReadMessage(br, maxStartupMessage)
		if err != nil {
			return fmt.Errorf("read DISCARD ALL's answer: %w", err)
		}
		switch typ {
		case pgwire.MsgParameterStatus:
			if up.params, err = setParam(up.params, body); err != nil {
				return err
			}
		case pgwire.MsgNoticeResponse:
		case 'C':
			done = string(body) == "DISCARD ALL\x00"
		case pgwire.MsgReadyForQuery:
			if !done || len(body) != 1 || body[0] != 'I' || br.Buffered() > 0 || len(pr.cur) > 0 {
				return errors.New("DISCARD ALL did not end idle")
			}
			return nil
		default:
			return fmt.Errorf("DISCARD ALL answered with message %q", typ)
		}
	}
}

// greet sends the client of a reused login what the server sends a new
// one after authentication, with a new proxy-issued cancel key.
func (e *Engine) greet(s *proxy.Session, up *upstreamConn) (cancelKey, error) {
	out := append([]byte(nil), up.pending...)
	out = append(out, pgwire.AuthenticationOk()...)
	for _, p := range up.params {
		out = append(out, pgwire.ParameterStatus(p.name, p.value)...)
	}
	key := e.issue(up.pid, up.secret, s.Upstream)
	out = append(out, pgwire.BackendKeyData(key.pid, []byte(key.key))...)
	out = append(out, pgwire.ReadyForQuery('I')...)
	if _, err := s.Client.Write(out); err != nil {
		e.forget(key)
		return key, fmt.Errorf("write session start to client: %w", err)
	}
	return key, nil
}
