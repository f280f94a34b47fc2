//go:build unix

package proxy

import "syscall"

// umask sets the process's file mode mask and returns the previous one, so
// that a unix socket is created 0600 with no window at a wider mode.
func umask(mask int) int { return syscall.Umask(mask) }
