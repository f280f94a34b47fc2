//go:build !unix

package proxy

import (
	"net"
	"time"
)

// clientSocket is not watched on this platform: a login waits for its
// deadline even when its client is gone.
type clientSocket struct{}

func newClientSocket(net.Conn) *clientSocket { return nil }

func watchHangup(*clientSocket, func(), time.Time) (stop func()) { return func() {} }
