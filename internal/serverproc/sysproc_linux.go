package serverproc

import "syscall"

// sysProcAttr runs a server or setup command in its own process group, as
// cred when set, and has the kernel kill it if rdsgate dies first.
func sysProcAttr(cred *Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: sysCred(cred)}
}
