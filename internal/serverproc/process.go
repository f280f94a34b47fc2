// Package serverproc runs local server processes (database servers, sshd,
// moto_server) for the sandbox and for tests: binaries, free loopback ports,
// setup as the server's OS account, readiness by probing, and a stop that
// leaves nothing behind. Package dbserver and the test harness build on it.
package serverproc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Limits of starting and stopping. Every wait is bounded.
const (
	// StartTimeout bounds one WaitReady.
	StartTimeout = 60 * time.Second
	// ProbeTimeout bounds one readiness probe.
	ProbeTimeout = 2 * time.Second
	// StopGrace is how long Stop waits after the polite signal before it
	// SIGKILLs the process group.
	StopGrace = 20 * time.Second
	maxProbes = 3000
	killWait  = 10 * time.Second
	// portAttempts is how often StartOnPort tries when the port is taken.
	portAttempts = 3
	logTailBytes = 4096
)

// A server starts in its own process group with its output appended to a
// log; readiness is detected by probing (bounded in attempts and time, never
// a fixed sleep); StartOnPort moves to another port when the one picked was
// taken before the server bound it; Stop sends the polite signal, then
// SIGKILL to the group and to descendants that left it.

// Config says how to run a server process.
type Config struct {
	// Name is the server's name in errors ("postgres", "sshd").
	Name string
	// Args is the command line; Args[0] is the binary.
	Args []string
	// LogFile gets stdout and stderr, appended; a new one is mode 0600,
	// since a server's log may quote what clients sent.
	LogFile string
	// StopSignal is the polite stop signal (SIGTERM when zero).
	StopSignal syscall.Signal
	// Account runs the process; the zero Account is the current user.
	Account Account
	// Dir is the working directory; Env the environment (nil: this
	// process's).
	Dir string
	Env []string
}

// Process is a server process running in its own process group.
type Process struct {
	name      string
	logFile   string
	logOffset int64 // log size when this process started
	stopSig   syscall.Signal

	cmd     *exec.Cmd
	cancel  context.CancelFunc
	done    chan struct{}
	waitErr error
}

// Start starts c.Args as a server. The process gets its own process group
// and is killed if this process dies (Pdeathsig).
func Start(c Config) (*Process, error) {
	lf, err := os.OpenFile(c.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	var off int64
	if st, err := lf.Stat(); err == nil {
		off = st.Size()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	cmd.Dir = c.Dir
	cmd.Env = c.Env
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.SysProcAttr = sysProcAttr(c.Account.Cred)
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting %s: %w", c.Name, err)
	}
	sig := c.StopSignal
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	p := &Process{name: c.Name, logFile: c.LogFile, logOffset: off, stopSig: sig, cmd: cmd, cancel: cancel, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the process: the stop signal to the group, then after
// StopGrace SIGKILL to the group; finally SIGKILL to whatever is left in
// the group and to descendants that left it (sshd puts each connection in
// its own session). It returns an error if the process is still there
// after all that. Stopping a stopped process does nothing.
func (p *Process) Stop() error {
	// Note descendants while the tree can still be walked.
	var desc []procID
	if !p.Exited() {
		desc = descendants(p.PID())
		_ = killGroup(p.PID(), p.stopSig)
		select {
		case <-p.done:
		case <-time.After(StopGrace):
		}
	}
	p.cancel() // SIGKILL to the group if still running
	select {
	case <-p.done:
	case <-time.After(killWait):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.PID())
	}
	// Stragglers that left the leader behind (ESRCH when there are none).
	_ = killGroup(p.PID(), syscall.SIGKILL)
	for _, d := range desc {
		if d.alive() {
			_ = kill(d.pid)
		}
	}
	return nil
}

// WaitReady polls probe until it succeeds, the process exits, or the
// attempt/time budget (StartTimeout, and ctx) is spent. On failure it
// stops the process and returns an error with the last probe error and
// the log tail.
func (p *Process) WaitReady(ctx context.Context, probe func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	delay := 10 * time.Millisecond
	var last error
	for i := 0; i < maxProbes && ctx.Err() == nil; i++ {
		if p.Exited() {
			return fmt.Errorf("%s exited during startup (%v); last probe error: %v\nlog %s:\n%s",
				p.name, p.waitErr, last, p.logFile, LogTail(p.logFile))
		}
		pctx, pcancel := context.WithTimeout(ctx, ProbeTimeout)
		last = probe(pctx)
		pcancel()
		if last == nil {
			return nil
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		if delay < 200*time.Millisecond {
			delay = delay * 3 / 2
		}
	}
	_ = p.Stop()
	if last == nil {
		last = ctx.Err()
	}
	return fmt.Errorf("%s not ready within %v: %v\nlog %s:\n%s",
		p.name, StartTimeout, last, p.logFile, LogTail(p.logFile))
}

// BindFailed reports whether the server's output since this start says its
// port was taken.
func (p *Process) BindFailed() bool {
	b, err := os.ReadFile(p.logFile)
	if err != nil || int64(len(b)) < p.logOffset {
		return false
	}
	return bytes.Contains(b[p.logOffset:], []byte("Address already in use"))
}

// StartOnPort runs launch, which starts a server on *port and waits until
// it is ready. If the server could not bind its port (another process got
// it between FreePort and the bind) and movePort is true, it picks another
// port, says so with logf (when not nil) and tries again, at most three
// times in all. Any other failure is returned as it is.
func StartOnPort(port *int, movePort bool, logf func(format string, args ...any), launch func() (*Process, error)) (*Process, error) {
	for attempt := 1; ; attempt++ {
		p, err := launch()
		if err == nil {
			return p, nil
		}
		if !movePort || attempt >= portAttempts || p == nil || !p.BindFailed() {
			if p != nil {
				_ = p.Stop()
			}
			return nil, err
		}
		if logf != nil {
			logf("%s: port %d taken, retrying on another", p.name, *port)
		}
		if *port, err = FreePort(); err != nil {
			return nil, err
		}
	}
}

// LogTail returns the last bytes of a log file, for failure messages.
func LogTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	off := max(st.Size()-logTailBytes, 0)
	buf := make([]byte, st.Size()-off)
	n, _ := f.ReadAt(buf, off)
	s := string(buf[:n])
	if off > 0 {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
		s = "...\n" + s
	}
	return s
}
