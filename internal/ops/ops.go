// Package ops is what an operator sees of a running orderpipe program: logs
// (JSON or text), and a listener apart from the data path that serves Prometheus
// metrics, liveness (/healthz) and readiness (/readyz).
//
// Liveness only says the process answers; readiness says whether it is doing
// its job right now and, when not, why (Kafka unreachable, Elasticsearch
// overloaded...), so that `curl /readyz` explains a stalled pipeline without
// reading logs.
package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orderpipe/orderpipe/internal/settings"
)

// LogConfig is how a daemon logs, embedded in every daemon's settings so
// that LOG_LEVEL and LOG_FORMAT and their defaults are declared once. JSON is
// the default because the daemons' logs are mostly read by log shippers;
// text is for people tailing a terminal (make local sets it).
type LogConfig struct {
	LogLevel  string `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat string `envconfig:"LOG_FORMAT" default:"json" desc:"json (one object a line, for log shippers) or text (key=value, for people tailing)"`
}

// ToolLogConfig is LogConfig for orderctl, whose few log lines go to a
// person at a terminal next to its plain-text report, so text is the
// default there.
type ToolLogConfig struct {
	LogLevel  string `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat string `envconfig:"LOG_FORMAT" default:"text" desc:"text (key=value) or json (one object a line)"`
}

// LogConfig returns the settings as the LogConfig NewLogger takes.
func (c ToolLogConfig) LogConfig() LogConfig { return LogConfig(c) }

// NewLogger returns a logger for service in cfg's format ("json" or "text")
// at cfg's level ("debug", "info", "warn", "error"). A bad value is a
// *settings.Error naming its variable.
func NewLogger(w io.Writer, cfg LogConfig, service string) (*slog.Logger, error) {
	h, err := cfg.handler(w)
	if err != nil {
		return nil, err
	}
	return slog.New(h).With("service", service), nil
}

// Validate reports the setting NewLogger would refuse, for programs that
// check all their settings before starting anything.
func (c LogConfig) Validate() error {
	_, err := c.handler(io.Discard)
	return err
}

func (c LogConfig) handler(w io.Writer) (slog.Handler, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, &settings.Error{Variable: "LOG_LEVEL", Reason: fmt.Sprintf("%q is not debug, info, warn or error", c.LogLevel)}
	}
	opts := &slog.HandlerOptions{Level: l}
	switch c.LogFormat {
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	case "text":
		return slog.NewTextHandler(w, opts), nil
	}
	return nil, &settings.Error{Variable: "LOG_FORMAT", Reason: fmt.Sprintf("%q is not json or text", c.LogFormat)}
}

// PerSecond is the rate a progress line shows: n events over d, per second,
// rounded to one decimal, because more digits are noise to a person reading
// a tail of the log. Zero for a d that is not positive.
func PerSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return math.Round(float64(n)/d.Seconds()*10) / 10
}

// Readiness is a program's current answer to /readyz: ready, or the reason it
// is not. It starts not ready.
type Readiness struct {
	reason atomic.Pointer[string]
}

// NewReadiness returns a Readiness that is not ready for the given reason.
func NewReadiness(reason string) *Readiness {
	r := &Readiness{}
	r.NotReady(reason)
	return r
}

// Ready marks the program ready.
func (r *Readiness) Ready() { r.reason.Store(nil) }

// NotReady marks the program not ready, with the reason /readyz reports.
func (r *Readiness) NotReady(reason string) { r.reason.Store(&reason) }

// Reason returns "" when ready.
func (r *Readiness) Reason() string {
	if p := r.reason.Load(); p != nil {
		return *p
	}
	return ""
}

// readyMetric is /readyz as a series, so that Prometheus can alert on a
// program that stays not ready (deploy/prometheus/rules).
const readyMetric = "orderpipe_ready"

func readyGauge(r *Readiness) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: readyMetric,
		Help: "1 when /readyz answers ready, 0 when not (/readyz says why)."},
		func() float64 {
			if r.Reason() == "" {
				return 1
			}
			return 0
		})
}

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Server is the ops listener.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Option changes what the ops listener serves.
type Option func(*http.ServeMux)

// WithPprof serves net/http/pprof under /debug/pprof/ when on. It is opt-in
// (OPS_PPROF) because profiles expose internals and cost CPU while they run:
// it is for profiling on one's own machine, such as make bench does.
func WithPprof(on bool) Option {
	return func(mux *http.ServeMux) {
		if !on {
			return
		}
		// Registered on this mux explicitly: the package's init only fills
		// http.DefaultServeMux, which orderpipe never serves.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
}

// Listen binds addr now, so that a port conflict fails start-up at once and
// tests can pass ":0" and read Addr. It registers orderpipe_ready, ready's
// answer as a gauge, on reg.
func Listen(addr string, reg *prometheus.Registry, ready *Readiness, opts ...Option) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on OPS_ADDR %s: %w", addr, err)
	}
	if err := reg.Register(readyGauge(ready)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("register %s: %w", readyMetric, err)
	}
	mux := http.NewServeMux()
	for _, o := range opts {
		o(mux)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n") // a probe that hung up needs no answer
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if reason := ready.Reason(); reason != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready: "+reason+"\n")
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	return &Server{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		ln:  ln,
	}, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends, then shuts down within a few seconds.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve ops: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down ops: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve ops: %w", err)
	}
	return nil
}

// Probe is the container health check: GET /healthz on addr and fail unless
// it answers 200. Distroless images have no curl, so the binaries probe
// themselves (`producer healthcheck`).
func Probe(ctx context.Context, addr string) error {
	host := addr
	if strings.HasPrefix(host, ":") {
		host = "127.0.0.1" + host
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("build probe: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: status %s", addr, resp.Status)
	}
	return nil
}
