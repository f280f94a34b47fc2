package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/testharness"
)

func TestHealthEndpoints(t *testing.T) {
	h := NewHealth()
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readiness"); code != 503 {
		t.Errorf("readiness before any server: %d", code)
	}
	p := startProxy(t, testharness.EchoServer(t), Options{MaxConnections: 1})
	h.Add(p, nil)
	if code, _ := get("/liveness"); code != 200 {
		t.Errorf("liveness %d", code)
	}
	if code, _ := get("/readiness"); code != 200 {
		t.Errorf("readiness %d", code)
	}
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("abcd"))
	io.ReadFull(c, make([]byte, 4))
	waitFor(t, func() bool { return p.Stats().Open == 1 })
	if code, body := get("/readiness"); code != 503 || !strings.Contains(body, "max-connections") {
		t.Errorf("readiness at max connections: %d %q", code, body)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`rdsgate_connections_open{target="echo",engine="raw"} 1`,
		`rdsgate_bytes_total{target="echo",engine="raw",direction="to_database"} 4`,
		"# TYPE rdsgate_connections_total counter",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
	c.Close()
}

// /quitquitquit answers 404 until enabled, then calls the hook on POST only.
func TestHealthQuit(t *testing.T) {
	h := NewHealth()
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	post := func() int {
		resp, err := http.Post(srv.URL+"/quitquitquit", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(); code != http.StatusNotFound {
		t.Errorf("before OnQuit: %d", code)
	}
	quits := 0
	h.OnQuit(func() { quits++ })
	resp, err := http.Get(srv.URL + "/quitquitquit")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || quits != 0 {
		t.Errorf("GET: %d, %d quits", resp.StatusCode, quits)
	}
	if code := post(); code != 200 || quits != 1 {
		t.Errorf("POST: %d, %d quits", code, quits)
	}
}
