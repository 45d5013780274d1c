package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// TestDashboardBadSettingExits2: each bad setting stops the command before
// it listens, with exit status 2 and the variable's name.
func TestDashboardBadSettingExits2(t *testing.T) {
	for _, tc := range []struct{ variable, value string }{
		{"DASHBOARD_ADDR", "5602"},
		{"DASHBOARD_PRODUCER_METRICS", "127.0.0.1:9100/metrics"},
		{"DASHBOARD_CONSUMER_METRICS", "ftp://x/metrics"},
		{"DASHBOARD_REFRESH", "100ms"},
		{"DASHBOARD_REFRESH", "often"},
		{"DASHBOARD_LATEST", "0"},
		{"ES_ADDRESSES", "localhost:9200"},
		{"ES_INDEX", "Orders"},
		{"ES_INDEX", "shop-orders"}, // outside the template's orders*, and not shown to be governed
		{"ES_TEMPLATE_FILE", "/nonexistent.json"},
		{"KAFKA_BROKERS", "nohost"},
		{"DLQ_TOPIC", "orders"},
		{"CONSUMER_GROUP", ""},
		{"LOG_LEVEL", "loud"},
	} {
		t.Run(tc.variable+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.variable, tc.value)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"dashboard"}, &stdout, &stderr)
			if code := exitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.variable) {
				t.Errorf("exit %d, stderr %q; want 2 naming %s", code, stderr.String(), tc.variable)
			}
			if strings.Contains(stdout.String(), "http://") {
				t.Errorf("it served anyway: %s", stdout.String())
			}
		})
	}
}

// TestDashboardServesWithoutCredentials runs the command on the real
// services with credentials set: it prints its URL, serves the page and
// the figures, none of which carries a credential, and stops on cancel.
func TestDashboardServesWithoutCredentials(t *testing.T) {
	s := newStack(t, 2)
	s.createIndex(t)
	const password, user = "s3cret-dashboard-pw", "dashboard-reader"
	t.Setenv("ES_USERNAME", user)
	t.Setenv("ES_PASSWORD", password)
	t.Setenv("DASHBOARD_ADDR", "127.0.0.1:0")
	t.Setenv("DASHBOARD_CONSUMER_METRICS", "http://127.0.0.1:1/metrics")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr servicetest.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dashboard"}, &stdout, &stderr) }()
	var url string
	for deadline := time.Now().Add(20 * time.Second); url == ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no URL printed: %s %s", stdout.String(), stderr.String())
		}
		if _, after, ok := strings.Cut(stdout.String(), "dashboard: "); ok {
			url = strings.TrimSpace(after)
		}
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("serves on %s, want loopback", url)
	}
	for _, path := range []string{"", "static/app.js", "api/stats?range=15m", "api/health"} {
		res, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET /%s: HTTP %d: %s", path, res.StatusCode, body)
		}
		if strings.Contains(string(body), password) {
			t.Errorf("GET /%s carries ES_PASSWORD", path)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("dashboard stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dashboard did not stop on cancel")
	}
	if strings.Contains(stdout.String()+stderr.String(), password) {
		t.Error("its output carries ES_PASSWORD")
	}
}

// TestDashboardProbe: -probe answers for a running dashboard and fails for
// an address nothing serves, as a container health check needs.
func TestDashboardProbe(t *testing.T) {
	t.Setenv("DASHBOARD_ADDR", servicetest.FreeAddr(t))
	var out bytes.Buffer
	if err := run(context.Background(), []string{"dashboard", "-probe"}, &out, &out); err == nil {
		t.Fatal("probe of an address nothing serves succeeded")
	}
	addr := servicetest.FreeAddr(t)
	t.Setenv("DASHBOARD_ADDR", addr)
	t.Setenv("ES_ADDRESSES", "http://127.0.0.1:1")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dashboard"}, io.Discard, io.Discard) }()
	defer func() { cancel(); <-done }()
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = run(context.Background(), []string{"dashboard", "-probe"}, &out, &out); err == nil {
			return
		}
	}
	t.Fatalf("probe of a running dashboard: %v", err)
}
