package rawsock

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

func wrap(c net.Conn) net.Conn {
	var rc syscall.RawConn
	var err error
	switch sc := c.(type) {
	case *net.TCPConn:
		rc, err = sc.SyscallConn()
	case *net.UnixConn:
		rc, err = sc.SyscallConn()
	default:
		return c
	}
	if err != nil {
		return c
	}
	return &conn{Conn: c, rc: rc}
}

type conn struct {
	net.Conn
	rc syscall.RawConn
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := Read(c.rc, b)
	if err != nil && err != io.EOF {
		err = &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	n, err := Write(c.rc, b, true)
	if err != nil {
		err = &net.OpError{Op: "write", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return n, err
}

// Read reads into b from rc's non-blocking socket with a raw system call,
// letting rc's poller wait while there is nothing to read. It returns
// io.EOF at the end of the stream.
func Read(rc syscall.RawConn, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := rc.Read(func(fd uintptr) bool {
		for {
			m, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			}
			n, errno = int(m), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, errno
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes b to rc's non-blocking socket with raw system calls. With
// wait it writes all of b, letting rc's poller wait for room; without, it
// writes what the socket buffer takes now and returns that count.
func Write(rc syscall.RawConn, b []byte, wait bool) (int, error) {
	var n int
	var errno syscall.Errno
	err := rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[n])), uintptr(len(b)-n))
			switch e {
			case 0:
				n += int(m)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return !wait // false: the poller waits for room and calls again
			default:
				errno = e
				return true
			}
		}
		return true
	})
	if err == nil && errno != 0 {
		err = errno
	}
	return n, err
}
