package proxy

import (
	"context"
	"errors"
	"time"
)

// ErrClientGone is the cause of a login context's end when the client hung
// up before its login finished.
var ErrClientGone = errors.New("client left before its login")

// HandshakeDeadline is when the session's handshake, local and upstream,
// must be done: HandshakeTimeout after the client was accepted.
func (s *Session) HandshakeDeadline() time.Time {
	start := s.accepted
	if start.IsZero() {
		start = time.Now()
	}
	return start.Add(s.HandshakeTimeout)
}

// LoginContext is the context for work done upstream on the client's
// behalf — the wait for the login rate limit, the route, the server's
// greeting and authentication — while the client waits for an answer: ctx
// bounded by HandshakeDeadline and cancelled, with cause ErrClientGone, as
// soon as the client hangs up, so that a client that is gone costs no
// upstream login. (Where the platform cannot watch a socket without reading
// it, only the deadline applies.)
//
// stop ends the watch and the context; it must be called before the client
// is read again, and it leaves the client's read deadline at
// HandshakeDeadline.
func (s *Session) LoginContext(ctx context.Context) (_ context.Context, stop func()) {
	dctx, cancelDeadline := context.WithDeadline(ctx, s.HandshakeDeadline())
	lctx, cancel := context.WithCancelCause(dctx)
	unwatch := watchHangup(s.sock, func() { cancel(ErrClientGone) }, s.HandshakeDeadline())
	return lctx, func() {
		unwatch()
		cancel(context.Canceled)
		cancelDeadline()
	}
}

// ClientGone reports whether ctx, from LoginContext, ended because the
// client hung up.
func ClientGone(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), ErrClientGone)
}
