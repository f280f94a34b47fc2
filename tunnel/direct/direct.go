// Package direct is the route with no tunnel: plain TCP to the database, or
// to a fixed address that stands in for it (an existing tunnel, a port
// forward), while TLS is still verified against the real endpoint name.
package direct

import (
	"context"
	"fmt"
	"net"
	"time"
)

// Named defaults for dialing.
const (
	DefaultDialTimeout = 30 * time.Second
	DefaultKeepAlive   = 30 * time.Second
)

// Dialer dials TCP, to Address when it is set and otherwise to the address
// asked for.
type Dialer struct {
	// Address replaces every dialled address, e.g. 127.0.0.1:15432.
	Address string
	// Timeout bounds each dial; default DefaultDialTimeout.
	Timeout time.Duration
}

// DialContext dials address (or d.Address).
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	to := address
	if d.Address != "" {
		to = d.Address
	}
	timeout := d.Timeout
	if timeout == 0 {
		timeout = DefaultDialTimeout
	}
	nd := net.Dialer{Timeout: timeout, KeepAlive: DefaultKeepAlive}
	c, err := nd.DialContext(ctx, network, to)
	if err != nil {
		if to != address {
			return nil, fmt.Errorf("dial %s (standing in for %s): %w", to, address, err)
		}
		return nil, fmt.Errorf("dial %s: %w", to, err)
	}
	return c, nil
}

// Close does nothing: a direct route holds no session.
func (d *Dialer) Close() error { return nil }
