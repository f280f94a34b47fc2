// Command netload is the benchmarks' byte mover for tunnels: a server that
// sends, swallows or echoes bytes, and clients that measure throughput
// (MB/s, 10^6 bytes per second, over all connections) and round-trip time
// of small messages. It knows nothing of databases, so what it measures is
// the tunnel alone.
//
//	netload serve -listen 127.0.0.1:9000
//	netload down  -addr 127.0.0.1:15000 -conns 16 -bytes 8388608   # server → client
//	netload up    -addr 127.0.0.1:15000 -conns 1  -bytes 8388608   # client → server
//	netload ping  -addr 127.0.0.1:15000 -count 200 -size 64 [-gap 20ms]
//
// Clients print one line of key=value pairs. -bytes is the total over all
// connections. Every run is bounded by -timeout.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sort"
	"sync"
	"time"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: netload serve|down|up|ping [flags]")
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "serve: address")
	addr := fs.String("addr", "", "client: address to connect to")
	conns := fs.Int("conns", 1, "client: parallel connections")
	total := fs.Int64("bytes", 8<<20, "down/up: bytes in all, split over the connections")
	count := fs.Int("count", 200, "ping: round trips")
	size := fs.Int("size", 64, "ping: message size")
	gap := fs.Duration("gap", 0, "ping: pause between round trips (0: back to back); with a gap each message meets an idle tunnel, as an interactive query does")
	timeout := fs.Duration("timeout", 120*time.Second, "client: give up after this long")
	_ = fs.Parse(os.Args[2:])
	switch mode {
	case "serve":
		serve(*listen)
	case "down", "up":
		transfer(*addr, mode, *conns, *total, *timeout)
	case "ping":
		ping(*addr, *count, *size, *gap, *timeout)
	default:
		log.Fatalf("unknown mode %q", mode)
	}
}

var zeros = make([]byte, 64<<10)

func serve(listen string) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			var op string
			var n int64
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := fmt.Sscan(line, &op, &n); err != nil {
				return
			}
			switch op {
			case "down": // send n bytes, then close
				for n > 0 {
					k := min(n, int64(len(zeros)))
					if _, err := c.Write(zeros[:k]); err != nil {
						return
					}
					n -= k
				}
			case "up": // swallow n bytes, then say so
				if _, err := io.CopyN(io.Discard, br, n); err != nil {
					return
				}
				_, _ = c.Write([]byte("k"))
			case "echo": // messages of n bytes, echoed back
				buf := make([]byte, n)
				for {
					if _, err := io.ReadFull(br, buf); err != nil {
						return
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}
		}()
	}
}

func transfer(addr, mode string, conns int, total int64, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	per := total / int64(conns)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- one(ctx, addr, mode, per)
		}()
	}
	wg.Wait()
	el := time.Since(start)
	close(errs)
	for err := range errs {
		if err != nil {
			log.Fatalf("%s: %v", mode, err)
		}
	}
	moved := per * int64(conns)
	fmt.Printf("mode=%s conns=%d bytes=%d seconds=%.3f mbps=%.3f\n", mode, conns, moved, el.Seconds(), float64(moved)/el.Seconds()/1e6)
}

func one(ctx context.Context, addr, mode string, n int64) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(c, "%s %d\n", mode, n); err != nil {
		return err
	}
	if mode == "down" {
		got, err := io.Copy(io.Discard, c)
		if err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("got %d bytes, want %d", got, n)
		}
		return nil
	}
	for left := n; left > 0; {
		k := min(left, int64(len(zeros)))
		if _, err := c.Write(zeros[:k]); err != nil {
			return err
		}
		left -= k
	}
	_, err = io.ReadFull(c, make([]byte, 1))
	return err
}

func ping(addr string, count, size int, gap, timeout time.Duration) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(c, "echo %d\n", size); err != nil {
		log.Fatal(err)
	}
	msg, back := make([]byte, size), make([]byte, size)
	rtts := make([]time.Duration, 0, count)
	for i := 0; i < count+5; i++ { // 5 warm-up round trips, not counted
		if gap > 0 {
			time.Sleep(gap)
		}
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			log.Fatal(err)
		}
		if _, err := io.ReadFull(c, back); err != nil {
			log.Fatal(err)
		}
		if i >= 5 {
			rtts = append(rtts, time.Since(t0))
		}
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	fmt.Printf("count=%d size=%d gap_ms=%g p50_us=%.0f p90_us=%.0f p99_us=%.0f\n", count, size, float64(gap)/float64(time.Millisecond), us(rtts[len(rtts)/2]), us(rtts[len(rtts)*9/10]), us(rtts[len(rtts)*99/100]))
}
