package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/setting"
)

// Health serves /liveness, /readiness and /metrics (Prometheus text format)
// for a set of proxy servers, and /quitquitquit when enabled (OnQuit). Like
// the listeners it belongs on loopback, and it answers only requests that a
// web page cannot make (see localOnly).
type Health struct {
	mu      sync.Mutex
	servers []*Server
	caches  map[string]*iamauth.Cache
	quit    func()
}

// QuitHeader must be sent, with any value, on POST /quitquitquit (curl -X
// POST -H 'X-Rdsgate-Quit: 1' ...): a web page cannot add a header to a
// cross-site request without a CORS preflight, which is never approved.
const QuitHeader = "X-Rdsgate-Quit"

// OnQuit serves POST /quitquitquit, which calls quit (once per request;
// quit must be safe to call more than once) and answers 200: a way for a
// Kubernetes Job's main container to stop the proxy beside it. Only POST
// with QuitHeader, so that neither a link nor a cross-site form can stop
// the proxy.
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
				http.Error(w, fmt.Sprintf("%s is not accepting connections (stopping, or at %s)", s.Target(), setting.MaxConnections), http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		h.writeMetrics(w)
	})
	mux.HandleFunc("POST /quitquitquit", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(QuitHeader) == "" {
			http.Error(w, fmt.Sprintf("POST /quitquitquit needs the header %s: 1 (curl -X POST -H '%s: 1' URL), which a web page cannot send", QuitHeader, QuitHeader), http.StatusForbidden)
			return
		}
		h.mu.Lock()
		quit := h.quit
		h.mu.Unlock()
		if quit == nil {
			http.Error(w, fmt.Sprintf("not enabled: start the proxy with %s on", setting.Quit), http.StatusNotFound)
			return
		}
		quit()
		io.WriteString(w, "stopping\n")
	})
	return localOnly(mux)
}

// localOnly refuses (403) the requests a browser makes for a web page
// rather than for a local program: a Host that is not a loopback name or
// the address the request came in on (a DNS-rebinding page reaches
// loopback under its own name, and would read /metrics), and an Origin
// other than the endpoint's own (a cross-site fetch or form).
func localOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !localHost(r) {
			http.Error(w, fmt.Sprintf("refused: Host %q is not a loopback address", r.Host), http.StatusForbidden)
			return
		}
		if o, ok := r.Header["Origin"]; ok && (len(o) != 1 || o[0] != "http://"+r.Host) {
			http.Error(w, "refused: a request from a web page (Origin "+strings.Join(o, ", ")+")", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// localHost reports whether r's Host names loopback (localhost,
// 127.0.0.0/8, [::1], with any port), is the exact address the request
// arrived on, or is absent (HTTP/1.0; browsers always send it).
func localHost(r *http.Request) bool {
	if r.Host == "" {
		return true
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && r.Host == a.String() {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	return isLoopback(host)
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
		"rdsgate_connections_refused_total": "counter Clients refused at " + string(setting.MaxConnections) + ".",
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
