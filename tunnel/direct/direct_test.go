package direct

import (
	"context"
	"net"
	"strings"
	"testing"
)

func TestDialsTheFixedAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	d := &Dialer{Address: ln.Addr().String()}
	c, err := d.DialContext(context.Background(), "tcp", "db.example.invalid:5432")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
		t.Errorf("read %q, %v", buf, err)
	}
	c.Close()

	ln.Close()
	_, err = d.DialContext(context.Background(), "tcp", "db.example.invalid:5432")
	if err == nil || !strings.Contains(err.Error(), "standing in for db.example.invalid:5432") {
		t.Errorf("error should name both addresses: %v", err)
	}
}
