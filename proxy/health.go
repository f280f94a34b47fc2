package proxy

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/rdsgate/rdsgate/iamauth"
)

// Health serves /liveness, /readiness and /metrics (Prometheus text format)
// for a set of proxy servers, and /quitquitquit when enabled (OnQuit). Like the listeners it belongs on loopback.
type Health struct {
	mu      sync.Mutex
	servers []*Server
	caches  map[string]*iamauth.Cache
	quit    func()
}

// OnQuit serves POST /quitquitquit, which calls quit (once per request;
// quit must be safe to call more than once) and answers 200: a way for a
// Kubernetes Job's main container to stop the proxy beside it. Only POST,
// so that a link or an image tag cannot stop the proxy.
func (h *Health) OnQuit(quit func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.quit = quit
}

// NewHealth returns an empty Health; Add servers and caches as they start.
func NewHealth() *Health { return &Health{caches: map[string]*iamauth.Cache{}} }

// Add registers a server and the token cache of its target.
func (h *Health) Add(s *Server, tokens *iamauth.Cache) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.servers = append(h.servers, s)
	if tokens != nil {
		h.caches[s.Target()] = tokens
	}
}

// Handler serves the endpoints.
func (h *Health) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /liveness", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readiness", func(w http.ResponseWriter, _ *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.servers) == 0 {
			http.Error(w, "not started", http.StatusServiceUnavailable)
			return
		}
		for _, s := range h.servers {
			if !s.Ready() {
				http.Error(w, fmt.Sprintf("%s is not accepting connections (stopping, or at --max-connections)", s.Target()), http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		h.writeMetrics(w)
	})
	mux.HandleFunc("POST /quitquitquit", func(w http.ResponseWriter, _ *http.Request) {
		h.mu.Lock()
		quit := h.quit
		h.mu.Unlock()
		if quit == nil {
			http.Error(w, "not enabled: start the proxy with --quitquitquit", http.StatusNotFound)
			return
		}
		quit()
		io.WriteString(w, "stopping\n")
	})
	return mux
}

// metric is one sample with its labels.
type metric struct {
	labels string
	value  float64
}

func (h *Health) writeMetrics(w io.Writer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	families := map[string][]metric{}
	add := func(name, labels string, v float64) { families[name] = append(families[name], metric{labels, v}) }
	for _, s := range h.servers {
		st := s.Stats()
		l := fmt.Sprintf(`target=%q,engine=%q`, s.Target(), s.engine.Name())
		add("rdsgate_connections_open", l, float64(st.Open))
		add("rdsgate_connections_total", l, float64(st.Total))
		add("rdsgate_connections_failed_total", l, float64(st.Failed))
		add("rdsgate_connections_refused_total", l, float64(st.Refused))
		add("rdsgate_accept_errors_total", l, float64(st.AcceptErrors))
		in, out := s.Bytes()
		add("rdsgate_bytes_total", l+`,direction="to_database"`, float64(in))
		add("rdsgate_bytes_total", l+`,direction="to_client"`, float64(out))
		n, d := s.Logins()
		add("rdsgate_login_seconds_sum", l, d.Seconds())
		add("rdsgate_login_seconds_count", l, float64(n))
	}
	for target, c := range h.caches {
		st := c.Stats()
		add("rdsgate_token_builds_total", fmt.Sprintf(`target=%q`, target), float64(st.Builds))
		add("rdsgate_token_cache_hits_total", fmt.Sprintf(`target=%q`, target), float64(st.Hits))
	}
	help := map[string]string{
		"rdsgate_connections_open":          "gauge Client connections open now.",
		"rdsgate_connections_total":         "counter Client connections accepted.",
		"rdsgate_connections_failed_total":  "counter Sessions that ended in an error (login refused, route down, ...).",
		"rdsgate_connections_refused_total": "counter Clients refused at --max-connections.",
		"rdsgate_accept_errors_total":       "counter Accepts that failed for lack of resources (out of file descriptors) and were retried after a pause.",
		"rdsgate_bytes_total":               "counter Bytes relayed.",
		"rdsgate_login_seconds_sum":         "counter Time from accepting a client to the database's login OK, summed.",
		"rdsgate_login_seconds_count":       "counter Upstream logins that succeeded.",
		"rdsgate_token_builds_total":        "counter IAM tokens signed.",
		"rdsgate_token_cache_hits_total":    "counter IAM tokens served from the cache.",
	}
	names := make([]string, 0, len(families))
	for n := range families {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		typ, text, _ := strings.Cut(help[n], " ")
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", n, text, n, typ)
		for _, m := range families[n] {
			fmt.Fprintf(w, "%s{%s} %g\n", n, m.labels, m.value)
		}
	}
}
