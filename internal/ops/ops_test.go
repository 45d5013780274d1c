package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

type Inner struct {
	Brokers  []string `envconfig:"KAFKA_BROKERS"`
	Password string   `envconfig:"KAFKA_SASL_PASSWORD"`
}

type spec struct {
	Inner
	Rate    float64       `envconfig:"PRODUCER_RATE"`
	Delay   time.Duration `envconfig:"PRODUCER_LIFECYCLE_DELAY"`
	APIKey  string        `envconfig:"ES_API_KEY"`
	ignored string
}

func TestSettingsLogsVariablesByNameWithSecretsMasked(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "info", "test")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("start", "config", Settings(spec{Inner: Inner{Brokers: []string{"a:1", "b:2"}, Password: "hunter2"}, Rate: 2.5, Delay: 30 * time.Second}))
	var line struct {
		Config map[string]string `json:"config"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	want := map[string]string{
		"KAFKA_BROKERS": "a:1,b:2", "KAFKA_SASL_PASSWORD": "*****", "PRODUCER_RATE": "2.5",
		"PRODUCER_LIFECYCLE_DELAY": "30s", "ES_API_KEY": "",
	}
	for k, v := range want {
		if line.Config[k] != v {
			t.Errorf("%s = %q, want %q", k, line.Config[k], v)
		}
	}
	if strings.Contains(buf.String(), "hunter2") {
		t.Fatal("the password reached the log")
	}
}

func TestNewLoggerRejectsAnUnknownLevel(t *testing.T) {
	if _, err := NewLogger(io.Discard, "chatty", "x"); err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Fatalf("NewLogger(chatty) = %v, want an error naming LOG_LEVEL", err)
	}
}

func TestOpsEndpoints(t *testing.T) {
	ready := NewReadiness("connecting to Kafka")
	srv, err := Listen("127.0.0.1:0", NewRegistry(), ready)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
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
		{"ready", ready.Ready, "/readyz", 200, "ready"},
		{"not ready again", func() { ready.NotReady("elasticsearch unavailable") }, "/readyz", 503, "elasticsearch unavailable"},
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
