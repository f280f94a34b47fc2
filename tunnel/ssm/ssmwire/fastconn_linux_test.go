package ssmwire

import (
	"fmt"
	"net"
	"syscall"

	"github.com/gorilla/websocket"
)

// lowatOf describes the receive low-water mark of c's socket, for a
// failure to show whether a raised mark held the reader.
func lowatOf(c *websocket.Conn) string {
	fc := fastConnOf(c)
	if fc == nil {
		return "no FastConn"
	}
	rc, err := fc.Conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err.Error()
	}
	v, gerr := 0, error(nil)
	if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT) }); err != nil {
		return err.Error()
	}
	if gerr != nil {
		return gerr.Error()
	}
	return fmt.Sprintf("SO_RCVLOWAT %d", v)
}
