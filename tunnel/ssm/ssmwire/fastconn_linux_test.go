package ssmwire

import (
	"net"
	"testing"
	"time"
)

// TestReadBatching: while the consumer is certain to receive more, a read
// waits for a low-water mark of bytes (two messages at most); otherwise
// any byte ends the wait.
func TestReadBatching(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peerc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		peerc <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-peerc
	defer peer.Close()
	fc := FastConn(raw).(*fastConn)
	defer fc.Close()
	awaited := 100000
	f := func() int { return awaited }
	fc.awaited.Store(&f)

	type result struct {
		n   int
		err error
	}
	read := func() chan result {
		ch := make(chan result, 1)
		go func() {
			n, err := fc.Read(make([]byte, 64<<10))
			ch <- result{n, err}
		}()
		return ch
	}
	// returned waits for a read to return; failing names what hung.
	returned := func(ch chan result, what string) result {
		select {
		case r := <-ch:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal(what)
			return result{}
		}
	}
	got := read()
	time.Sleep(20 * time.Millisecond) // the read waits, low-water mark raised
	_, _ = peer.Write(make([]byte, batchLowat-100))
	select {
	case r := <-got:
		t.Fatalf("read returned %d bytes below the low-water mark (%v)", r.n, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	_, _ = peer.Write(make([]byte, 200))
	if r := returned(got, "the batched read did not return"); r.err != nil || r.n != batchLowat+100 {
		t.Fatalf("batched read: %d %v, want %d", r.n, r.err, batchLowat+100)
	}

	// Nothing awaited: one byte is enough.
	awaited = 0
	got = read()
	time.Sleep(20 * time.Millisecond)
	_, _ = peer.Write([]byte("x"))
	if r := returned(got, "a one-byte read waited"); r.err != nil || r.n != 1 {
		t.Fatalf("read: %d %v", r.n, r.err)
	}

	// EOF ends a batched wait.
	awaited = 100000
	got = read()
	time.Sleep(20 * time.Millisecond)
	_, _ = peer.Write([]byte("tail"))
	peer.Close()
	if r := returned(got, "EOF did not end the batched wait"); r.n != 4 {
		t.Fatalf("read at EOF: %d %v", r.n, r.err)
	}
}
