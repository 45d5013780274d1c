package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/servicetest"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

// TestMakeLocal runs `make local` against the already running test services
// under names of its own, waits for orders in its index, checks `make verify`
// and `make local-down`: producer, consumer and dashboard gone, the services it did not
// start left running.
func TestMakeLocal(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	esURL := servicetest.ElasticsearchURL(t)
	servicesDir := servicetest.ServicesDir(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("SKIPPED: make is not installed")
	}
	root := repoRoot(t)
	_, kafkaPort, _ := net.SplitHostPort(brokers[0])
	u, err := url.Parse(esURL)
	if err != nil {
		t.Fatal(err)
	}
	topic, dlq, index := servicetest.Name(t, "orders"), servicetest.Name(t, "dlq"), servicetest.Name(t, "oplocal")
	template := servicetest.Name(t, "oplocal-tmpl")
	dir := t.TempDir()
	dashboardAddr := servicetest.FreeAddr(t)
	promAddr, withProm := servicetest.FreeAddr(t), prometheusInstalled(t)
	env := append(os.Environ(),
		"PROMETHEUS_ADDR="+promAddr,
		"ORDERPIPE_LOCAL_DIR="+dir,
		"ORDERPIPE_SERVICES_DIR="+servicesDir,
		"ORDERPIPE_KAFKA_PORT="+kafkaPort,
		"ORDERPIPE_ES_PORT="+u.Port(),
		"KAFKA_TOPIC="+topic, "DLQ_TOPIC="+dlq, "ES_INDEX="+index,
		"CONSUMER_GROUP="+servicetest.Name(t, "oplocal-group"),
		"ES_TEMPLATE_NAME="+template, "ES_TEMPLATE_FILE="+privateTemplate(t, index, nil),
		"PRODUCER_OPS_ADDR="+servicetest.FreeAddr(t), "CONSUMER_OPS_ADDR="+servicetest.FreeAddr(t), "DASHBOARD_ADDR="+dashboardAddr,
		"PRODUCER_RATE=50", "PRODUCER_BACKFILL_DAYS=0", "PRODUCER_MALFORMED_SHARE=0.05",
		"VERIFY_SETTLE=90s",
	)
	make := func(ctx context.Context, target string) (string, error) {
		t.Helper()
		cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "-C", root, target)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := make(ctx, "local-down"); err != nil {
			t.Logf("cleanup local-down: %v\n%s", err, out)
		}
		servicetest.DeleteTopic(t, brokers, topic)
		servicetest.DeleteTopic(t, brokers, dlq)
		for _, path := range []string{"/" + index, "/_index_template/" + template} {
			req, _ := http.NewRequest(http.MethodDelete, esURL+path, nil)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}
	})

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	out, err := make(ctx, "local")
	if err != nil {
		t.Fatalf("make local: %v\n%s", err, out)
	}
	t.Logf("make local took %s", time.Since(start).Round(time.Millisecond))
	for _, want := range []string{"orderpipe is running locally", "left alone by make local-down", "producer ready", "consumer ready", "dashboard ready", "http://" + dashboardAddr + "/"} {
		if !strings.Contains(out, want) {
			t.Errorf("make local output lacks %q:\n%s", want, out)
		}
	}
	daemons := []string{"producer", "consumer", "dashboard"}
	if withProm {
		daemons = append(daemons, "prometheus")
		if want := "prometheus ready on http://" + promAddr; !strings.Contains(out, want) {
			t.Errorf("make local output lacks %q:\n%s", want, out)
		}
		assertPrometheusServesAlerts(t, promAddr)
	}
	pids := map[string]int{}
	for _, name := range daemons {
		b, err := os.ReadFile(filepath.Join(dir, "run", name+".pid"))
		if err != nil {
			t.Fatalf("no pid file for %s: %v", name, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || syscall.Kill(pid, 0) != nil {
			t.Fatalf("%s pid %q is not running", name, b)
		}
		pids[name] = pid
	}

	// Orders reach the index.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if n := countDocs(t, esURL, index); n > 0 {
			t.Logf("%d orders indexed after %s", n, time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(filepath.Join(dir, "logs", "consumer.log"))
			t.Fatalf("no order indexed in 2 minutes; consumer log:\n%s", logs)
		}
		time.Sleep(250 * time.Millisecond)
	}

	// The dashboard make local started shows them, and the daemons' health.
	for path, want := range map[string]string{"/api/stats?range=15m": `"total":`, "/api/health": `"ready":true`} {
		res, err := http.Get("http://" + dashboardAddr + path)
		if err != nil {
			t.Fatalf("dashboard: %v", err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want) || strings.Contains(string(body), `"total":0,`) {
			t.Errorf("dashboard %s: HTTP %d %.300s, want 200 with %s (and orders)", path, res.StatusCode, body, want)
		}
	}

	// make verify proves the running pipeline lost nothing so far.
	out, err = make(ctx, "verify")
	if err != nil || !strings.Contains(out, "OK: no differences") {
		t.Errorf("make verify: %v\n%s", err, out)
	}

	out, err = make(ctx, "local-down")
	if err != nil {
		t.Fatalf("make local-down: %v\n%s", err, out)
	}
	for name, pid := range pids {
		// setsid made each a group leader: neither it nor anything it
		// spawned may be left.
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) or its group still exists after local-down: %v", name, pid, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "run", name+".pid")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s pid file left behind: %v", name, err)
		}
	}
	statusCmd := exec.Command(filepath.Join(root, "scripts", "services"), "status")
	statusCmd.Env = env
	status, err := statusCmd.CombinedOutput()
	if err != nil || !strings.Contains(string(status), "kafka: running") || !strings.Contains(string(status), "elasticsearch: running") {
		t.Errorf("local-down touched services it did not start: %v\n%s", err, status)
	}
}

// prometheusInstalled reports whether make local will start Prometheus;
// without it, CI=true fails and a local run says loudly what it skips.
func prometheusInstalled(t *testing.T) bool {
	t.Helper()
	if _, err := exec.LookPath("prometheus"); err == nil {
		return true
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("prometheus is not installed; CI=true needs it (apt-get install prometheus)")
	}
	t.Log("########## prometheus is not installed: make local's Prometheus is NOT tested (apt-get install prometheus) ##########")
	return false
}

// assertPrometheusServesAlerts: the Prometheus make local started scrapes
// both daemons and has loaded the alert rules.
func assertPrometheusServesAlerts(t *testing.T, addr string) {
	t.Helper()
	get := func(path string, v any) {
		t.Helper()
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		if err := json.NewDecoder(res.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var targets struct {
			Data struct {
				ActiveTargets []struct {
					Labels    map[string]string `json:"labels"`
					Health    string            `json:"health"`
					LastError string            `json:"lastError"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		get("/api/v1/targets", &targets)
		up := map[string]bool{}
		for _, tg := range targets.Data.ActiveTargets {
			up[tg.Labels["job"]] = tg.Health == "up"
		}
		if up["orderpipe-producer"] && up["orderpipe-consumer"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus does not scrape both daemons within a minute: %+v", targets.Data.ActiveTargets)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var rules struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name   string `json:"name"`
					Type   string `json:"type"`
					Health string `json:"health"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	get("/api/v1/rules", &rules)
	alerts := 0
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			if r.Type == "alerting" {
				alerts++
			}
		}
	}
	// deploy/prometheus_test.go pins the list; here it is enough that
	// make local loaded that file, not another.
	if alerts < 9 {
		t.Errorf("prometheus has %d alerting rules, want the 9 of deploy/prometheus/orderpipe-rules.yml: %+v", alerts, rules.Data.Groups)
	}
}

func countDocs(t *testing.T, esURL, index string) int {
	t.Helper()
	res, err := http.Get(esURL + "/" + index + "/_count")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	const key = `"count":`
	i := strings.Index(string(b), key)
	if res.StatusCode != http.StatusOK || i < 0 {
		return 0
	}
	rest := string(b[i+len(key):])
	n, _ := strconv.Atoi(rest[:strings.IndexAny(rest, ",}")])
	return n
}
