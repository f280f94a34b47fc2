package ssm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// How a dialer spreads connections over sessions:
//
// The service paces each session's data (about 1 KiB/ms per direction),
// however many connections it carries, so parallel bulk transfers through
// one session share its budget. A destination therefore has a pool of up
// to Config.Sessions multiplexed sessions. A new connection goes to the
// least-loaded session if that one carries fewer than
// Config.StreamsPerSession connections; otherwise it joins a session being
// started that has room, or starts another one while the pool is below
// its bound; otherwise it goes to the least-loaded session anyway, ready
// or being started (so that a burst on a route whose first session is
// open does not pile its overflow on that one). A
// session beyond the last one left that carries no connection for
// Config.SessionIdle is terminated. When StartSession is refused because
// the account's session quota is reached (or fails for another reason)
// while the pool has sessions (ready or being started), it carries on with those for a while
// (growBackoff) and says so once.

// Defaults of the pool's knobs.
const (
	// DefaultSessions is the session count chosen for proxies and
	// tunnels from measurements (docs/benchmarks.md): 8 parallel 16 MiB
	// transfers through the paced sandbox agent ran 1.9x, 3.4x and 5.3x
	// faster over 2, 4 and 8 sessions than over one. Four gives each
	// worker of a `pg_dump -j 4` its own session and 8 parallel transfers
	// over 3x; beyond it every session costs one more of the account's
	// concurrent sessions and one more session-worker process on the
	// bastion, for less each. Extra sessions exist only while connections
	// overlap (and SessionIdle after).
	DefaultSessions = 4
	// DefaultSessionIdle is how long an extra session may stay idle.
	DefaultSessionIdle = time.Minute
)

// growBackoff is how long a pool does not try to grow after StartSession
// failed while it had sessions. Tests change it.
var growBackoff = 30 * time.Second

var errClosed = errors.New("ssm: dialer closed")

// pool is the sessions of one destination. Its fields and the sessions'
// active and idle fields are guarded by Dialer.mu.
type pool struct {
	live    []*session   // multiplexed sessions, ready
	pending []*startCall // sessions being started
	// basic: the agent does not multiplex, so every connection has a
	// session of its own and the pool is not used.
	basic bool
	// noGrowUntil: no new session is started before then.
	noGrowUntil time.Time
}

// startCall is one session start; the dials that will use the session
// wait for it.
type startCall struct {
	done    chan struct{}
	s       *session
	err     error
	waiters int // dials counted on the session when it is up
}

// prune drops sessions that ended (could not be resumed) from the pool
// and terminates them. d.mu must be held.
func (d *Dialer) pruneLocked(p *pool) {
	p.live = slices.DeleteFunc(p.live, func(s *session) bool {
		if s.alive() {
			return false
		}
		if _, ok := d.all[s]; ok {
			delete(d.all, s)
			d.terminateLocked(s)
		}
		return true
	})
}

// has says whether the pool has a session, ready or being started, for a
// connection to fall back on.
func (p *pool) has() bool { return len(p.live)+len(p.pending) > 0 }

func (p *pool) remove(s *session) {
	p.live = slices.DeleteFunc(p.live, func(x *session) bool { return x == s })
}

func (p *pool) leastLoaded() *session {
	var best *session
	for _, s := range p.live {
		if best == nil || s.active < best.active {
			best = s
		}
	}
	return best
}

// pick returns a session for a new connection to address, with the
// connection counted on it (release undoes that), or, for a basic-mode
// agent, a new session of its own.
func (d *Dialer) pick(ctx context.Context, address string) (*session, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("ssm: dial %s: %w", address, err)
		}
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return nil, errClosed
		}
		p := d.pools[address]
		if p == nil {
			p = &pool{}
			d.pools[address] = p
		}
		d.pruneLocked(p)
		if p.basic {
			d.mu.Unlock()
			return d.startBasic(ctx, address)
		}
		k := d.cfg.StreamsPerSession
		best := p.leastLoaded()
		if best != nil && best.active < k {
			d.reserveLocked(best)
			d.mu.Unlock()
			return best, nil
		}
		var join *startCall
		for _, c := range p.pending {
			if c.waiters < k && (join == nil || c.waiters < join.waiters) {
				join = c
			}
		}
		// A pool with no session at all always tries: its first session
		// is the route.
		if join == nil && len(p.live)+len(p.pending) < d.cfg.Sessions && (!p.has() || time.Now().After(p.noGrowUntil)) {
			call := &startCall{done: make(chan struct{}), waiters: 1}
			p.pending = append(p.pending, call)
			d.mu.Unlock()
			s, err := d.start(ctx, address)
			s, retry, err := d.finishStart(ctx, address, p, call, s, err)
			if !retry {
				return s, err
			}
			continue
		}
		if join == nil {
			// Every session, ready or being started, is full and the pool
			// may not grow: share the least loaded of them all (a start's
			// load is the dials waiting for it), the ready one on a tie.
			for _, c := range p.pending {
				if join == nil || c.waiters < join.waiters {
					join = c
				}
			}
			if best != nil && (join == nil || best.active <= join.waiters) {
				d.reserveLocked(best)
				d.mu.Unlock()
				return best, nil
			}
		}
		join.waiters++
		d.mu.Unlock()
		s, retry, err := d.await(ctx, address, join)
		if !retry {
			return s, err
		}
	}
}

// finishStart records the outcome of a start the caller ran for call and
// returns the caller's session, or says that the caller should pick again
// (the pool has other sessions to fall back on).
func (d *Dialer) finishStart(ctx context.Context, address string, p *pool, call *startCall, s *session, err error) (_ *session, retry bool, _ error) {
	d.mu.Lock()
	p.pending = slices.DeleteFunc(p.pending, func(c *startCall) bool { return c == call })
	closed := d.closed
	switch {
	case err == nil && closed:
		err = errClosed
	case err == nil:
		d.all[s] = struct{}{}
		d.stats.Started++
		d.stats.Open = len(d.all)
		d.stats.Peak = max(d.stats.Peak, d.stats.Open)
		if s.mux {
			p.live = append(p.live, s)
			s.active = call.waiters
		} else {
			p.basic = true
		}
	case ctx.Err() != nil:
		// The caller gave up; waiters start again on their own.
	case p.has() && errors.Is(err, ErrSessionLimit):
		d.stats.Limited++
		p.noGrowUntil = time.Now().Add(growBackoff)
		if !d.limitLogged {
			d.limitLogged = true
			d.log.Warn("ssm: the account's Session Manager session quota is reached; carrying on with the sessions open", "remote", address, "sessions", len(p.live)+len(p.pending), "err", err)
		}
		retry = true
	case p.has():
		p.noGrowUntil = time.Now().Add(growBackoff)
		d.log.Info("ssm: could not open another session; carrying on with the sessions open", "remote", address, "sessions", len(p.live)+len(p.pending), "err", err)
		retry = true
	}
	call.s, call.err = s, err
	close(call.done)
	d.mu.Unlock()
	if closed && s != nil {
		s.terminate()
	}
	if err != nil {
		return nil, retry, err
	}
	return s, false, nil
}

// await waits for a start that counted the caller among its waiters.
func (d *Dialer) await(ctx context.Context, address string, call *startCall) (_ *session, retry bool, _ error) {
	select {
	case <-call.done:
	case <-ctx.Done():
		d.mu.Lock()
		select {
		case <-call.done:
			if call.err == nil && call.s.mux {
				d.releaseLocked(call.s)
			}
		default:
			call.waiters--
		}
		d.mu.Unlock()
		return nil, false, fmt.Errorf("ssm: dial %s: %w", address, ctx.Err())
	}
	switch {
	case call.err == nil && call.s.mux:
		return call.s, false, nil
	case call.err == nil: // basic mode: each connection its own session
		return nil, true, nil
	case errors.Is(call.err, context.Canceled) || errors.Is(call.err, context.DeadlineExceeded):
		return nil, true, nil // the starter gave up, not us
	}
	d.mu.Lock()
	p := d.pools[address]
	fallback := p != nil && p.has()
	d.mu.Unlock()
	if fallback {
		return nil, true, nil
	}
	return nil, false, call.err
}

// startBasic starts the one session of a basic-mode connection.
func (d *Dialer) startBasic(ctx context.Context, address string) (*session, error) {
	s, err := d.start(ctx, address)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		s.terminate()
		return nil, errClosed
	}
	d.all[s] = struct{}{}
	d.stats.Started++
	d.stats.Open = len(d.all)
	d.stats.Peak = max(d.stats.Peak, d.stats.Open)
	d.mu.Unlock()
	return s, nil
}

// reserveLocked counts a connection on s. d.mu must be held.
func (d *Dialer) reserveLocked(s *session) {
	s.active++
	s.idleGen++
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
}

// release uncounts a connection of s (closed, or never opened).
func (d *Dialer) release(s *session) {
	d.mu.Lock()
	d.releaseLocked(s)
	d.mu.Unlock()
}

// releaseLocked uncounts a connection of s; a session left with none
// ends after SessionIdle unless it is the pool's last. d.mu must be held.
func (d *Dialer) releaseLocked(s *session) {
	s.active--
	if s.active > 0 || d.closed {
		return
	}
	s.idleGen++
	gen := s.idleGen
	if s.idle != nil {
		s.idle.Stop()
	}
	s.idle = time.AfterFunc(d.cfg.SessionIdle, func() { d.reap(s, gen) })
}

// reap terminates s if it is still idle since generation gen and the pool
// keeps another session.
func (d *Dialer) reap(s *session, gen int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || s.idleGen != gen || s.active > 0 {
		return
	}
	s.idle = nil
	p := d.pools[s.dest]
	if p == nil || !slices.Contains(p.live, s) || len(p.live) < 2 {
		return
	}
	p.remove(s)
	delete(d.all, s)
	d.terminateLocked(s)
	d.log.Debug("ssm: idle session ended", "session_id", s.id, "sessions", len(p.live))
}
