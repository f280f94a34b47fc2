package serverproc

import (
	"os"
	"syscall"
)

// Windows has neither process groups nor signals: a process is ended, not
// asked to stop, and its children are not found (Descendants reads /proc).
// The sandbox finds no installed servers there and runs its embedded
// engine, so nothing rdsgate ships starts a process through this.

func killGroup(pid int, _ syscall.Signal) error { return kill(pid) }

func kill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func sysProcAttr(*Credential) *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
