// Package dashboard serves `orderctl dashboard`: one page that shows what
// Kibana's "Orders — live" dashboard shows (the aggregations of
// internal/orderstats, run on the orders index) and the pipeline's health
// (the daemons' /metrics and /readyz, the group's lag and the dead-letter
// topic from Kafka).
//
// The page and its charting library (uPlot, vendored from npm) are embedded,
// so it works offline and asks no host but this server. Its JSON carries
// aggregates and the latest orders' display columns only: no credential,
// no customer e-mail, no whole document.
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/kafka"
	"github.com/orderpipe/orderpipe/internal/orderstats"
	"github.com/orderpipe/orderpipe/internal/settings"
)

//go:embed static
var static embed.FS

// Config is the dashboard's own settings.
type Config struct {
	Addr            string        `envconfig:"DASHBOARD_ADDR" default:"127.0.0.1:5602" desc:"address the page is served on (host:port; keep it on 127.0.0.1 unless a proxy guards it)"`
	ProducerMetrics []string      `envconfig:"DASHBOARD_PRODUCER_METRICS" desc:"comma-separated /metrics URLs of the producers (e.g. http://127.0.0.1:9100/metrics; empty: none shown)"`
	ConsumerMetrics []string      `envconfig:"DASHBOARD_CONSUMER_METRICS" desc:"comma-separated /metrics URLs of the consumers (e.g. http://127.0.0.1:9101/metrics; empty: none shown)"`
	Refresh         time.Duration `envconfig:"DASHBOARD_REFRESH" default:"5s" desc:"how often the page fetches new figures (1s to 5m)"`
	Latest          int           `envconfig:"DASHBOARD_LATEST" default:"15" desc:"how many of the latest orders the page lists (1 to 100)"`
}

// Validate names the variable at fault.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return &settings.Error{Variable: "DASHBOARD_ADDR", Reason: fmt.Sprintf("%q is not host:port", c.Addr)}
	}
	for name, urls := range map[string][]string{"DASHBOARD_PRODUCER_METRICS": c.ProducerMetrics, "DASHBOARD_CONSUMER_METRICS": c.ConsumerMetrics} {
		for _, u := range urls {
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				return &settings.Error{Variable: name, Reason: fmt.Sprintf("%q is not an http(s) URL", u)}
			}
		}
	}
	if c.Refresh < time.Second || c.Refresh > 5*time.Minute {
		return &settings.Error{Variable: "DASHBOARD_REFRESH", Reason: fmt.Sprintf("%s is not between 1s and 5m", c.Refresh)}
	}
	if c.Latest < 1 || c.Latest > 100 {
		return &settings.Error{Variable: "DASHBOARD_LATEST", Reason: fmt.Sprintf("%d is not between 1 and 100", c.Latest)}
	}
	return nil
}

// Options is what a Server reads and where from.
type Options struct {
	Config
	kafka.TopicConfig
	kafka.DLQConfig
	kafka.GroupConfig
	ES    *elastic.Client
	Admin *kafka.Admin // nil: no lag or dead-letter count
	Log   *slog.Logger
}

// Server is the dashboard's HTTP server.
type Server struct {
	cfg       Options
	es        *elastic.Client
	admin     *kafka.Admin
	producers []*target
	consumers []*target
	page      *template.Template
	ln        net.Listener
	srv       *http.Server
}

// Listen binds cfg.Addr now, so a taken port fails start-up at once and
// tests can pass 127.0.0.1:0 and read URL.
func Listen(o Options) (*Server, error) {
	page, err := template.ParseFS(static, "static/index.html")
	if err != nil {
		return nil, fmt.Errorf("parse page: %w", err)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on DASHBOARD_ADDR %s: %w", o.Addr, err)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: o, es: o.ES, admin: o.Admin, page: page, ln: ln}
	scrapeClient := &http.Client{Timeout: 3 * time.Second}
	for _, u := range o.ProducerMetrics {
		s.producers = append(s.producers, newTarget(u, scrapeClient))
	}
	for _, u := range o.ConsumerMetrics {
		s.consumers = append(s.consumers, newTarget(u, scrapeClient))
	}
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// URL is where the page is served.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + "/" }

// Run serves until ctx ends, then shuts down within a few seconds.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve dashboard: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down dashboard: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve dashboard: %w", err)
	}
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	assets, _ := fs.Sub(static, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /api/stats", s.stats)
	mux.HandleFunc("GET /api/health", s.healthz)
	// Liveness for a container's health check (orderctl dashboard -probe).
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	return secured(mux)
}

// secured adds the headers that keep the page to its own server: the
// browser itself refuses any script, style, image or fetch from elsewhere.
func secured(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// uPlot sizes its elements through inline styles, hence
		// style-src 'unsafe-inline'; scripts are this server's files only.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

type pageData struct {
	Index     string
	RefreshMS int64
	Ranges    []string
	Default   string
}

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	var ranges []string
	for _, r := range orderstats.Ranges {
		ranges = append(ranges, r.Name)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.page.Execute(w, pageData{Index: s.es.Index(), RefreshMS: s.cfg.Refresh.Milliseconds(), Ranges: ranges, Default: orderstats.DefaultRange.Name}); err != nil {
		s.cfg.Log.Warn("render page", "error", err.Error())
	}
}

// Problem is the JSON of a request the dashboard could not answer: State
// is machine-readable (elasticsearch_down, index_missing, forbidden,
// bad_request), Error says why in words.
type Problem struct {
	State string `json:"state"`
	Error string `json:"error"`
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("range")
	if name == "" {
		name = orderstats.DefaultRange.Name
	}
	rng, ok := orderstats.RangeNamed(name)
	if !ok {
		writeJSON(w, http.StatusBadRequest, Problem{State: "bad_request", Error: fmt.Sprintf("range %q is not one of 15m, 1h, 24h, 7d", name)})
		return
	}
	body, _ := json.Marshal(orderstats.Search(rng, s.cfg.Latest))
	raw, err := s.es.Search(r.Context(), body)
	if err != nil {
		p := s.problem(err)
		s.cfg.Log.Warn("stats", "state", p.State, "error", err.Error())
		writeJSON(w, http.StatusServiceUnavailable, p)
		return
	}
	res, err := orderstats.Decode(rng.Name, raw)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, Problem{State: "bad_answer", Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// problem turns a failed search into what the page tells its reader.
func (s *Server) problem(err error) Problem {
	index := s.es.Index()
	switch {
	case errors.Is(err, elastic.ErrNotFound):
		return Problem{State: "index_missing", Error: fmt.Sprintf("index %s does not exist yet: no order has been indexed (is the consumer or Logstash running?)", index)}
	case errors.Is(err, elastic.ErrUnauthenticated):
		return Problem{State: "forbidden", Error: "Elasticsearch refused the credentials (check ES_USERNAME and ES_PASSWORD, or ES_API_KEY)"}
	case errors.Is(err, elastic.ErrForbidden):
		// elastic's own 403 text names the writers' role; a dashboard
		// needs less, and other things.
		return Problem{State: "forbidden", Error: fmt.Sprintf("the Elasticsearch user may not search index %s: it needs the read privilege on it (ES_USERNAME or ES_API_KEY)", index)}
	}
	var se *elastic.StatusError
	if errors.As(err, &se) {
		return Problem{State: "elasticsearch_error", Error: err.Error()}
	}
	return Problem{State: "elasticsearch_down", Error: "Elasticsearch does not answer (ES_ADDRESSES): " + strings.TrimPrefix(err.Error(), "search "+index+": ")}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	writeJSON(w, http.StatusOK, s.health(ctx))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
