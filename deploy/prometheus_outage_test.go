//go:build outage

package deploy

// The alert rules end to end: a real Prometheus (Debian's binary) scrapes the
// real producer and consumer binaries, which run on the shared Kafka and on an
// Elasticsearch node of the test's own (servicetest.PrivateES: stopping the
// shared one would break the packages running beside); stopping that node
// makes the consumer not ready, and OrderpipeNotReady fires, read back
// through Prometheus's HTTP API. The rules file is deploy/prometheus's with
// one change: OrderpipeNotReady's `for: 2m` becomes 5s, and Prometheus
// scrapes and evaluates every second, so the test takes seconds, not
// minutes; the expressions are the shipped ones. Run by make test-outage:
//
//	go test -tags outage -run Outage -count=1 ./deploy/

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// requirePrometheus returns the prometheus binary; without it a local run
// skips loudly and CI=true fails.
func requirePrometheus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err == nil {
		return bin
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("prometheus is not installed; CI=true needs it (apt-get install prometheus)")
	}
	t.Skip("########## SKIPPED: prometheus is not installed (apt-get install prometheus): the alert rules are not run end to end ##########")
	return ""
}

// start runs a binary until the test ends, then stops it with SIGTERM, as
// an operator would, and waits for it.
func start(t *testing.T, name, bin string, env []string, args ...string) {
	t.Helper()
	log, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("%s log (tail):\n%s", name, tail(string(out), 30))
		}
		log.Close()
	})
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// shortRules writes the shipped rules with alert's `for:` set to forDur.
func shortRules(t *testing.T, alert, forDur string) string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(readFile(t, filepath.Join(repoRoot(t), promDir, "orderpipe-rules.yml")), &doc); err != nil {
		t.Fatal(err)
	}
	changed := false
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			isAlert := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "alert" && n.Content[i+1].Value == alert {
					isAlert = true
				}
			}
			for i := 0; isAlert && i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "for" {
					n.Content[i+1].Value = forDur
					changed = true
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	if !changed {
		t.Fatalf("no `for:` of alert %s in the rules", alert)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

type firing struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// promAPI GETs path from Prometheus's HTTP API and decodes its "data"
// into data; false while Prometheus does not answer yet.
func promAPI(t *testing.T, promURL, path string, data any) bool {
	t.Helper()
	res, err := http.Get(promURL + path)
	if err != nil {
		t.Logf("prometheus: %v", err)
		return false
	}
	defer res.Body.Close()
	body := struct {
		Data any `json:"data"`
	}{Data: data}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return true
}

// alerts returns Prometheus's active alerts named name (none while
// Prometheus does not answer yet).
func alerts(t *testing.T, promURL, name string) []firing {
	t.Helper()
	var data struct {
		Alerts []firing `json:"alerts"`
	}
	var out []firing
	if !promAPI(t, promURL, "/api/v1/alerts", &data) {
		return nil
	}
	for _, a := range data.Alerts {
		if a.Labels["alertname"] == name {
			out = append(out, a)
		}
	}
	return out
}

// query returns the values of an instant query, by job (none while
// Prometheus does not answer yet).
func query(t *testing.T, promURL, q string) map[string]string {
	t.Helper()
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if !promAPI(t, promURL, "/api/v1/query?query="+url.QueryEscape(q), &data) {
		return nil
	}
	out := map[string]string{}
	for _, r := range data.Result {
		out[r.Metric["job"]] = fmt.Sprint(r.Value[1])
	}
	return out
}

func TestNotReadyAlertFiresOnElasticsearchOutage(t *testing.T) {
	promBin := requirePrometheus(t)
	brokers := servicetest.KafkaBrokers(t)
	es := servicetest.StartPrivateES(t)
	root := repoRoot(t)

	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/producer", "./cmd/consumer", "./cmd/orderctl")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	topic, dlq := servicetest.Name(t, "orders"), servicetest.Name(t, "dlq")
	t.Cleanup(func() {
		servicetest.DeleteTopic(t, brokers, topic)
		servicetest.DeleteTopic(t, brokers, dlq)
	})
	common := []string{"KAFKA_BROKERS=" + strings.Join(brokers, ","), "KAFKA_TOPIC=" + topic, "DLQ_TOPIC=" + dlq,
		"ES_ADDRESSES=" + es.URL, "ES_INDEX=orders", "LOG_FORMAT=text"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	setup := exec.CommandContext(ctx, filepath.Join(bin, "orderctl"), "setup")
	setup.Env = append(os.Environ(), append(common, "KAFKA_TOPIC_PARTITIONS=2", "DLQ_TOPIC_PARTITIONS=1")...)
	if out, err := setup.CombinedOutput(); err != nil {
		t.Fatalf("orderctl setup: %v\n%s", err, out)
	}

	producerOps, consumerOps := servicetest.FreeAddr(t), servicetest.FreeAddr(t)
	start(t, "consumer", filepath.Join(bin, "consumer"),
		append(common, "OPS_ADDR="+consumerOps, "CONSUMER_GROUP="+servicetest.Name(t, "alert-group")))
	start(t, "producer", filepath.Join(bin, "producer"),
		append(common, "OPS_ADDR="+producerOps, "PRODUCER_RATE=20", "PRODUCER_BACKFILL_DAYS=0"))

	cfgDir := t.TempDir()
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: orderpipe-producer
    static_configs: [{targets: [%q]}]
  - job_name: orderpipe-consumer
    static_configs: [{targets: [%q]}]
`, shortRules(t, "OrderpipeNotReady", "5s"), producerOps, consumerOps)
	if err := os.WriteFile(filepath.Join(cfgDir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := servicetest.FreeAddr(t)
	promURL := "http://" + promAddr
	start(t, "prometheus", promBin, nil, "--config.file="+filepath.Join(cfgDir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(cfgDir, "data"), "--web.listen-address="+promAddr)

	// Both daemons ready, as Prometheus sees them, and no alert.
	servicetest.WaitFor(t, 2*time.Minute, "prometheus scrapes orderpipe_ready 1 from both daemons", func() bool {
		r := query(t, promURL, "orderpipe_ready")
		return r["orderpipe-producer"] == "1" && r["orderpipe-consumer"] == "1"
	})
	time.Sleep(7 * time.Second) // longer than the shortened for: 5s
	if got := alerts(t, promURL, "OrderpipeNotReady"); len(got) != 0 {
		t.Fatalf("OrderpipeNotReady is active while both daemons are ready: %+v", got)
	}

	es.Stop(t)
	stopped := true
	t.Cleanup(func() {
		if stopped {
			es.Start(t)
		}
	})
	took := servicetest.WaitFor(t, 2*time.Minute, "OrderpipeNotReady fires for the consumer", func() bool {
		for _, a := range alerts(t, promURL, "OrderpipeNotReady") {
			if a.State == "firing" && a.Labels["job"] == "orderpipe-consumer" && a.Labels["instance"] == consumerOps {
				return true
			}
		}
		return false
	})
	t.Logf("OrderpipeNotReady fired %s after Elasticsearch stopped", took.Round(time.Second))
	for _, a := range alerts(t, promURL, "OrderpipeNotReady") {
		if a.Labels["job"] == "orderpipe-producer" {
			t.Errorf("the producer, which does not use Elasticsearch, is reported not ready: %+v", a)
		}
	}

	es.Start(t)
	stopped = false
	took = servicetest.WaitFor(t, 3*time.Minute, "OrderpipeNotReady clears once Elasticsearch is back", func() bool {
		return len(alerts(t, promURL, "OrderpipeNotReady")) == 0
	})
	t.Logf("OrderpipeNotReady cleared %s after Elasticsearch came back", took.Round(time.Second))
}
