// Package tunnel defines how rdsgate reaches a database's network: a Dialer.
// The routes live in subpackages — tunnel/direct (plain TCP, optionally to a
// fixed address such as an existing tunnel), tunnel/ssm (Session Manager
// port forwarding) and tunnel/ssh (an SSH bastion) — and are chosen by
// configuration, never by sniffing. Dialers know nothing of database
// protocols: TLS to the database runs over whatever conn they return.
package tunnel

import (
	"context"
	"io"
	"net"
)

// Dialer opens connections to addresses reachable through a route. Close
// ends what the route holds (Session Manager sessions, the SSH connection);
// routes that hold nothing return nil.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
	io.Closer
}

// DialerFunc adapts a function to a Dialer.
type DialerFunc func(ctx context.Context, network, address string) (net.Conn, error)

// DialContext calls f.
func (f DialerFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}

// Close does nothing: a function holds no route.
func (DialerFunc) Close() error { return nil }

// SessionCounter is a Dialer whose route holds sessions (the ssm route's
// Session Manager sessions) and says how many, for doctor and session
// records. Routes that hold none (direct, ssh) do not implement it.
type SessionCounter interface {
	// PeakSessions is the most sessions the route has had open at once
	// so far; it does not drop when sessions end or the route closes.
	PeakSessions() int
}
