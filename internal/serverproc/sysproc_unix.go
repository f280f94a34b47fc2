//go:build unix && !linux

package serverproc

import "syscall"

// sysProcAttr runs a server or setup command in its own process group, as
// cred when set. These systems have no parent-death signal: a server
// outlives an rdsgate that is killed with SIGKILL (Close and a cancelled
// context still stop it).
func sysProcAttr(cred *Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: sysCred(cred)}
}
