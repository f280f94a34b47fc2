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
	if code, body := get("/readiness"); code != 503 || !strings.Contains(body, "max_connections") {
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

// /quitquitquit answers 404 until enabled, then calls the hook on POST
// (with QuitHeader) only.
func TestHealthQuit(t *testing.T) {
	h := NewHealth()
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	post := func() int {
		req, _ := http.NewRequest("POST", srv.URL+"/quitquitquit", nil)
		req.Header.Set(QuitHeader, "1")
		resp, err := http.DefaultClient.Do(req)
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

// The endpoints answer only requests a local program makes on purpose: a
// web page cannot stop the proxy (a cross-site POST carries a foreign
// Origin or lacks the quit header) nor read /metrics through DNS
// rebinding (its Host is the attacker's name).
func TestHealthRefusesBrowsers(t *testing.T) {
	h := NewHealth()
	quits := 0
	h.OnQuit(func() { quits++ })
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	self := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := net.SplitHostPort(self)
	for _, tc := range []struct {
		desc, method, path, host, origin string
		quitHeader                       bool
		want                             int
	}{
		{desc: "quit", method: "POST", path: "/quitquitquit", quitHeader: true, want: 200},
		{desc: "quit, localhost", method: "POST", path: "/quitquitquit", host: "localhost:" + port, quitHeader: true, want: 200},
		{desc: "quit, [::1]", method: "POST", path: "/quitquitquit", host: "[::1]:" + port, quitHeader: true, want: 200},
		{desc: "quit, 127.0.0.2 without port", method: "POST", path: "/quitquitquit", host: "127.0.0.2", quitHeader: true, want: 200},
		{desc: "quit, same origin", method: "POST", path: "/quitquitquit", origin: "http://" + self, quitHeader: true, want: 200},
		{desc: "simple POST without the header", method: "POST", path: "/quitquitquit", want: 403},
		{desc: "foreign origin", method: "POST", path: "/quitquitquit", origin: "https://evil.example", quitHeader: true, want: 403},
		{desc: "foreign origin, simple POST", method: "POST", path: "/quitquitquit", origin: "https://evil.example", want: 403},
		{desc: "null origin", method: "POST", path: "/quitquitquit", origin: "null", quitHeader: true, want: 403},
		{desc: "loopback origin on another port", method: "POST", path: "/quitquitquit", origin: "http://127.0.0.1:1", quitHeader: true, want: 403},
		{desc: "rebound host, quit", method: "POST", path: "/quitquitquit", host: "evil.example", quitHeader: true, want: 403},
		{desc: "rebound host, metrics", method: "GET", path: "/metrics", host: "evil.example:" + port, want: 403},
		{desc: "rebound host, readiness", method: "GET", path: "/readiness", host: "evil.example", want: 403},
		{desc: "localhost suffix", method: "GET", path: "/metrics", host: "localhost.evil.example", want: 403},
		{desc: "metrics", method: "GET", path: "/metrics", want: 200},
		{desc: "metrics, localhost", method: "GET", path: "/metrics", host: "localhost:" + port, want: 200},
		{desc: "metrics, foreign origin", method: "GET", path: "/metrics", origin: "https://evil.example", want: 403},
		{desc: "liveness", method: "GET", path: "/liveness", want: 200},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.quitHeader {
				req.Header.Set(QuitHeader, "1")
			}
			before := quits
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s %s (Host %q, Origin %q): %d %q, want %d", tc.method, tc.path, tc.host, tc.origin, resp.StatusCode, body, tc.want)
			}
			if quit := quits > before; quit != (tc.path == "/quitquitquit" && tc.want == 200) {
				t.Errorf("quit called: %v", quit)
			}
		})
	}
}
