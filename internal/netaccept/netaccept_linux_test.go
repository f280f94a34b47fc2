package netaccept

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
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fdChildEnv, set, makes TestAcceptOutOfFDs the serving process with a low
// RLIMIT_NOFILE.
const fdChildEnv = "RDSGATE_TEST_FD_CHILD"

// fdSpare is how many descriptors the child may open beyond those it has
// when it starts serving: far fewer than the clients the test opens.
const fdSpare = 16

// A listener whose process runs out of file descriptors keeps serving:
// clients beyond the limit wait in the listen queue, and once the idle ones
// leave, a new client is served. The loop runs in a child process (this
// test binary again) whose RLIMIT_NOFILE is lowered; the clients are this
// process's.
func TestAcceptOutOfFDs(t *testing.T) {
	if os.Getenv(fdChildEnv) != "" {
		fdChild(t)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptOutOfFDs$", "-test.v")
	cmd.Env = append(os.Environ(), fdChildEnv+"=1")
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
					t.Fatalf("the child exited before %q", want)
				}
				out.WriteString(l + "\n")
				if strings.HasPrefix(l, "loop returned") {
					t.Fatalf("the child stopped serving: %s", l)
				}
				if strings.Contains(l, want) {
					return l
				}
			case <-safety:
				t.Fatalf("no %q from the child within 60 s", want)
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
	// holding a descriptor for a moment, so a new client may find none: it
	// is served once they have drained. Bounded retries.
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
	stdin.Close() // the child stops, prints its count and exits
	if m := next("shortages "); strings.HasSuffix(m, " 0") {
		t.Errorf("no failed accept counted: %s", m)
	}
}

// fdChild echoes every client with few spare descriptors, prints
// "listening on ADDR", and, when stdin closes, how many Accepts failed for
// lack of descriptors.
func fdChild(t *testing.T) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := syscall.Rlimit{Cur: uint64(len(fds) + fdSpare), Max: uint64(len(fds) + fdSpare)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var shortages atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := Loop(ctx, ln, Options{Log: slog.New(slog.NewTextHandler(os.Stdout, nil)), Shortage: func() { shortages.Add(1) }},
			func(c net.Conn) {
				go func() {
					defer c.Close()
					_, _ = io.Copy(c, c)
				}()
			})
		if err != nil {
			fmt.Printf("loop returned: %v\n", err)
			os.Exit(1)
		}
	}()
	fmt.Printf("listening on %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	cancel()
	<-done
	fmt.Printf("shortages %d\n", shortages.Load())
}

// echoOnce sends a ping and reads it back.
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
