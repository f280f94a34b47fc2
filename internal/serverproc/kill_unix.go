//go:build unix

package serverproc

import "syscall"

// killGroup sends sig to the process group led by pid.
func killGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }

// kill ends one process.
func kill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

func sysCred(c *Credential) *syscall.Credential {
	if c == nil {
		return nil
	}
	return &syscall.Credential{Uid: c.Uid, Gid: c.Gid}
}
