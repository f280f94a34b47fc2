package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/target"
	"github.com/rdsgate/rdsgate/tunnel/direct"
)

// fdChildEnv, set to the upstream's address, makes TestAcceptOutOfFDs the
// proxy process with a low RLIMIT_NOFILE.
const fdChildEnv = "RDSGATE_TEST_FD_CHILD_UPSTREAM"

// fdSpare is how many descriptors the child may open beyond those it has
// when it starts serving: far fewer than the clients the test opens.
const fdSpare = 16

// A proxy that runs out of file descriptors keeps serving: clients beyond
// the limit wait in the listen queue, and once the idle ones leave, a new
// client is served. The proxy runs in a child process (this test binary
// again) whose RLIMIT_NOFILE is lowered; the clients are this process's.
func TestAcceptOutOfFDs(t *testing.T) {
	if addr := os.Getenv(fdChildEnv); addr != "" {
		fdChild(t, addr)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	upstream := testharness.EchoServer(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptOutOfFDs$", "-test.v")
	cmd.Env = append(os.Environ(), fdChildEnv+"="+upstream)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("child output:\n%s", out.String())
		}
	})
	// next returns the first line (after the ones already seen) that has
	// want; a child that stopped serving fails the test.
	next := func(want string) string {
		t.Helper()
		safety := time.After(60 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the proxy exited before %q", want)
				}
				out.WriteString(l + "\n")
				if strings.HasPrefix(l, "serve returned") {
					t.Fatalf("the proxy stopped serving: %s", l)
				}
				if strings.Contains(l, want) {
					return l
				}
			case <-safety:
				t.Fatalf("no %q from the proxy within 60 s", want)
			}
		}
	}
	addr := strings.TrimPrefix(next("listening on "), "listening on ")

	var idle []net.Conn
	for range 4 * fdSpare {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	next("accept failed")
	for _, c := range idle {
		c.Close()
	}

	// The closed clients still queued are accepted (and dropped) first, each
	// holding a descriptor for a moment, so a new client may find none for
	// its upstream: it is served once they have drained. Bounded retries.
	var served error
	for attempt := 0; attempt < 100; attempt++ {
		if served = echoOnce(addr); served == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if served != nil {
		t.Fatalf("new client not served after the idle ones left: %v", served)
	}
	stdin.Close() // the child prints its metrics and exits
	m := next("rdsgate_accept_errors_total")
	if strings.HasSuffix(m, " 0") {
		t.Errorf("no failed accept counted: %s", m)
	}
}

// fdChild serves a raw proxy to upstream with few spare descriptors, prints
// "listening on ADDR", and, when stdin closes, its metrics.
func fdChild(t *testing.T, upstream string) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(ListenConfig{Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	lim := syscall.Rlimit{Cur: uint64(len(fds) + fdSpare), Max: uint64(len(fds) + fdSpare)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	up := &Upstream{Target: target.Target{Identifier: "echo", Host: "echo.invalid", Port: 1}, Dialer: &direct.Dialer{Address: upstream}}
	s := NewServer(ln, rawEngine{}, up, Options{Log: slog.New(slog.NewTextHandler(os.Stdout, nil))})
	h := NewHealth()
	h.Add(s, nil)
	go func() {
		if err := s.Serve(context.Background()); err != nil {
			fmt.Printf("serve returned: %v\n", err)
			os.Exit(1)
		}
	}()
	fmt.Printf("listening on %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	h.writeMetrics(os.Stdout)
	s.Close()
}

// echoOnce sends a ping through the proxy and reads it back.
func echoOnce(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a safety net, not a measure
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	_, err = io.ReadFull(c, make([]byte, 4))
	return err
}
