package ssh

import (
	"context"
	"io"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/proxy"
	"github.com/rdsgate/rdsgate/session"
)

// pingPong writes size bytes and reads them back, b.N times, and reports
// the median round trip as p50-µs (less sensitive to a busy machine than
// the mean, ns/op).
func pingPong(b *testing.B, c net.Conn, size int) {
	b.Helper()
	msg := make([]byte, size)
	got := make([]byte, size)
	var rtts []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(rtts)
	b.ReportMetric(float64(rtts[len(rtts)/2])/1e3, "p50-µs")
}

// BenchmarkTunnelRoundTrip measures the round trip of a 64-byte message to
// an echo server: directly, through the dialer's channel, and through
// OpenSSH's `ssh -N -L` on the same sshd (ns/op is the round trip).
func BenchmarkTunnelRoundTrip(b *testing.B) {
	s, key := sshdWithKey(b, testharness.SSHDOptions{})
	echo := testharness.EchoServer(b)
	b.Run("direct", func(b *testing.B) {
		c, err := net.Dial("tcp", echo)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		pingPong(b, c, 64)
	})
	b.Run("rdsgate", func(b *testing.B) {
		d := newDialer(b, baseOptions(b, s, key))
		c, err := d.DialContext(testCtx(b), "tcp", echo)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		pingPong(b, c, 64)
	})
	b.Run("rdsgate-relay", func(b *testing.B) {
		// As `rdsgate tunnel --via ssh`: a loopback listener relaying to
		// the tunnelled connection.
		d := newDialer(b, baseOptions(b, s, key))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				up, err := d.DialContext(context.Background(), "tcp", echo)
				if err != nil {
					c.Close()
					continue
				}
				var counter session.Counter
				go proxy.Relay(proxy.Leg{R: c, Conn: c}, proxy.Leg{R: up, Conn: up}, &counter, nil, 0, done)
			}
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		pingPong(b, c, 64)
	})
	b.Run("raw-channel", func(b *testing.B) {
		d := newDialer(b, baseOptions(b, s, key))
		sc, err := d.conn(testCtx(b))
		if err != nil {
			b.Fatal(err)
		}
		c, err := sc.client.DialContext(testCtx(b), "tcp", echo)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		pingPong(b, c, 64)
	})
	b.Run("openssh", func(b *testing.B) {
		testpeer.LookPath(b, sshdHow, "ssh")
		port := testharness.FreePort(b)
		cmd := exec.Command("ssh", "-N", "-F", "/dev/null", "-L", "127.0.0.1:"+strconv.Itoa(port)+":"+echo,
			"-p", strconv.Itoa(s.Port), "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
			"-o", "UserKnownHostsFile="+s.KnownHostsFile, "-o", "StrictHostKeyChecking=yes", "-o", "ExitOnForwardFailure=yes",
			s.User+"@"+s.Host)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		var c net.Conn
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if c, err = net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
				break
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		pingPong(b, c, 64)
	})
}
