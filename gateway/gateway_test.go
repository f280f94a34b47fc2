package gateway

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/target"
)

func path(name, engine string, localPort int) *dbpath.Path {
	return &dbpath.Path{Spec: dbpath.Spec{Name: name, LocalPort: localPort},
		Target: target.Target{Identifier: name, Engine: engine, Host: name + ".example", Port: 5432, IAMAuth: true}}
}

func TestListeners(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	// A taken port names the target and the port.
	_, err = New(context.Background(), Config{}, []Target{{Path: path("orders", "postgres", 0), Port: busyPort}})
	var inUse *PortInUseError
	if !errors.As(err, &inUse) || inUse.Name != "orders" || !strings.HasPrefix(err.Error(), "orders: port ") {
		t.Fatalf("a taken port: %v", err)
	}

	// Any port, the configured port, and unix sockets named as clients
	// look for them.
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	freePort := free.Addr().(*net.TCPAddr).Port
	free.Close()
	dir := t.TempDir()
	g, err := New(context.Background(), Config{UnixDir: dir}, []Target{
		{Path: path("pg", "postgres", 0), AnyPort: true},
		{Path: path("my", "mysql", freePort)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ls := g.Listeners()
	if len(ls) != 2 || ls[0].Addr.Port == 0 || ls[1].Addr.Port != freePort {
		t.Fatalf("listeners %+v", ls)
	}
	for _, want := range []string{filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(ls[0].Addr.Port)), filepath.Join(dir, "my.sock")} {
		if _, err := os.Stat(want); err != nil {
			t.Errorf("socket: %v", err)
		}
	}
	if ls[0].Socket != filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(ls[0].Addr.Port)) {
		t.Errorf("socket %q", ls[0].Socket)
	}
	// A check needs a database user.
	if err := g.CheckConnections(context.Background(), nil); !errors.Is(err, ErrNoUser) {
		t.Errorf("CheckConnections without a user: %v", err)
	}
}
