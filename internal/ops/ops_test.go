package ops

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/servicetest"
	"github.com/orderpipe/orderpipe/internal/settings"
	"github.com/orderpipe/orderpipe/internal/settings/settingstest"
)

func TestNewLoggerRejectsAnUnknownLevel(t *testing.T) {
	if _, err := NewLogger(io.Discard, LogConfig{LogLevel: "chatty", LogFormat: "json"}, "x"); err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Fatalf("NewLogger(chatty) = %v, want an error naming LOG_LEVEL", err)
	}
}

func TestNewLoggerFormats(t *testing.T) {
	tests := []struct {
		format  string
		want    string // a fragment of the logged line; "" if the format is refused
		wantErr string // the variable a refusal names
	}{
		{"json", `{"time":`, ""},
		{"text", `level=INFO msg=hello service=x n=1`, ""},
		{"", "", "LOG_FORMAT"},
		{"logfmt", "", "LOG_FORMAT"},
		{"JSON", "", "LOG_FORMAT"},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			var out strings.Builder
			log, err := NewLogger(&out, LogConfig{LogLevel: "info", LogFormat: tc.format}, "x")
			settingstest.AssertNamesVariable(t, err, tc.wantErr)
			if tc.wantErr != "" {
				return
			}
			log.Info("hello", "n", 1)
			if !strings.Contains(out.String(), tc.want) {
				t.Fatalf("logged %q, want it to contain %q", out.String(), tc.want)
			}
		})
	}
}

func TestToolLogConfigDefaultsToText(t *testing.T) {
	for _, v := range []string{"LOG_LEVEL", "LOG_FORMAT"} {
		t.Setenv(v, "") // restores the caller's value afterwards
		os.Unsetenv(v)  // unset, not empty: envconfig only defaults what is unset
	}
	var tool ToolLogConfig
	var daemon LogConfig
	if err := settings.Load(&tool); err != nil {
		t.Fatal(err)
	}
	if err := settings.Load(&daemon); err != nil {
		t.Fatal(err)
	}
	if tool.LogConfig().LogFormat != "text" || daemon.LogFormat != "json" {
		t.Fatalf("defaults: tool %q, daemon %q; want text for people at orderctl, json for the daemons", tool.LogFormat, daemon.LogFormat)
	}
}

func TestOpsEndpoints(t *testing.T) {
	ready := NewReadiness("connecting to Kafka")
	srv, err := Listen("127.0.0.1:0", NewRegistry(), ready)
	if err != nil {
		t.Fatal(err)
	}
	servicetest.RunUntilCleanup(t, srv.Run)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	steps := []struct {
		name     string
		act      func()
		path     string
		wantCode int
		wantBody string
	}{
		{"alive while not ready", func() {}, "/healthz", 200, "ok"},
		{"not ready says why", func() {}, "/readyz", 503, "connecting to Kafka"},
		{"not ready as a series", func() {}, "/metrics", 200, "\norderpipe_ready 0\n"},
		{"ready", ready.Ready, "/readyz", 200, "ready"},
		{"ready as a series", func() {}, "/metrics", 200, "\norderpipe_ready 1\n"},
		{"not ready again", func() { ready.NotReady("elasticsearch unavailable") }, "/readyz", 503, "elasticsearch unavailable"},
		{"not ready again as a series", func() {}, "/metrics", 200, "\norderpipe_ready 0\n"},
		{"metrics", func() {}, "/metrics", 200, "go_goroutines"},
	}
	for _, s := range steps {
		s.act()
		code, body := get(s.path)
		if code != s.wantCode || !strings.Contains(body, s.wantBody) {
			t.Fatalf("%s: GET %s = %d %q, want %d containing %q", s.name, s.path, code, body, s.wantCode, s.wantBody)
		}
	}
	if err := Probe(context.Background(), srv.Addr()); err != nil {
		t.Fatalf("Probe: %v", err)
	}
}

func TestProbeFailsWithoutAListener(t *testing.T) {
	if err := Probe(context.Background(), "127.0.0.1:1"); err == nil {
		t.Fatal("Probe of a closed port succeeded")
	}
}

func TestPprofIsServedOnlyWhenAskedFor(t *testing.T) {
	for _, on := range []bool{false, true} {
		srv, err := Listen("127.0.0.1:0", NewRegistry(), NewReadiness("x"), WithPprof(on))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		resp, err := http.Get("http://" + srv.Addr() + "/debug/pprof/cmdline")
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		if rerr := <-done; rerr != nil {
			t.Errorf("Run: %v", rerr)
		}
		if err != nil {
			t.Fatalf("GET /debug/pprof/cmdline: %v", err)
		}
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("WithPprof(%v): GET /debug/pprof/cmdline = %d, want %d", on, resp.StatusCode, want)
		}
	}
}

func TestPerSecond(t *testing.T) {
	tests := []struct {
		n    int64
		d    time.Duration
		want float64
	}{
		{1000, 10 * time.Second, 100},
		{1234, 10*time.Second + 3*time.Millisecond, 123.4}, // a ticker is never exactly on time
		{2, 3 * time.Second, 0.7},
		{0, time.Second, 0},
		{5, 0, 0},
	}
	for _, tc := range tests {
		if got := PerSecond(tc.n, tc.d); got != tc.want {
			t.Errorf("PerSecond(%d, %v) = %v, want %v", tc.n, tc.d, got, tc.want)
		}
	}
}
