package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/dashboard"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

func TestBadSettingsExit2NamingTheVariable(t *testing.T) {
	tests := []struct {
		variable, value string
	}{
		{"PRODUCER_RATE", "-1"},
		{"PRODUCER_RATE", "fast"},
		{"PRODUCER_COUNT", "-5"},
		{"PRODUCER_LIFECYCLE_SHARE", "1.5"},
		{"PRODUCER_MALFORMED_SHARE", "-0.1"},
		{"PRODUCER_CURRENCY", "dollars"},
		{"PRODUCER_LIFECYCLE_DELAY", "soon"},
		{"PRODUCER_BACKFILL_DAYS", "-1"},
		{"SHUTDOWN_TIMEOUT", "0s"},
		{"PROGRESS_INTERVAL", "0s"},
		{"KAFKA_ACKS", "some"},
		{"KAFKA_COMPRESSION", "brotli"},
		{"KAFKA_BATCH_SIZE", "0"},
		{"KAFKA_BROKERS", "no-port"},
		{"KAFKA_SASL_MECHANISM", "kerberos"},
		{"KAFKA_TOPIC_PARTITIONS", "0"},
		{"KAFKA_TOPIC_MIN_INSYNC_REPLICAS", "2"},
		{"KAFKA_TOPIC_REPLICATION", "3"}, // renamed: the message names it and its replacement
		{"LOG_LEVEL", "chatty"},
		{"LOG_FORMAT", "yaml"},
		{"PRODUCER_SHAPE", "sawtooth"},
		{"PRODUCER_LANES", "-1"},
		{"PRODUCER_LANES", "65"},
		{"PRODUCER_STEPS", "2x"},
		{"PRODUCER_RAMP_DURATION", "later"},
		{"PRODUCER_SPIKE_EVERY", "1s"},
		{"PRODUCER_DIURNAL_DAY", "1s"},
	}
	// The shape's own settings are checked only for the shape in use.
	shapeOf := map[string]string{"PRODUCER_STEPS": "step", "PRODUCER_SPIKE_EVERY": "spike", "PRODUCER_DIURNAL_DAY": "diurnal"}
	for _, tt := range tests {
		t.Run(tt.variable+"="+tt.value, func(t *testing.T) {
			t.Setenv(tt.variable, tt.value)
			if shape := shapeOf[tt.variable]; shape != "" {
				t.Setenv("PRODUCER_SHAPE", shape)
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), nil, &stdout, &stderr)
			code := exitCode(err, &stderr)
			if code != 2 {
				t.Fatalf("exit code %d (err %v), want 2", code, err)
			}
			if !strings.Contains(stderr.String(), tt.variable) {
				t.Fatalf("message %q does not name %s", stderr.String(), tt.variable)
			}
		})
	}
}

func TestHelpListsEveryVariableWithItsDefault(t *testing.T) {
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &stdout, io.Discard); err != nil {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{
		"KAFKA_BROKERS", "localhost:9092", "KAFKA_TOPIC", "orders", "PRODUCER_RATE", "PRODUCER_COUNT", "PRODUCER_SEED",
		"PRODUCER_LIFECYCLE_SHARE", "PRODUCER_MALFORMED_SHARE", "PRODUCER_BACKFILL_DAYS", "KAFKA_ACKS", "all",
		"KAFKA_COMPRESSION", "KAFKA_BATCH_SIZE", "KAFKA_TOPIC_PARTITIONS", "KAFKA_TOPIC_REPLICATION_FACTOR", "KAFKA_TOPIC_MIN_INSYNC_REPLICAS",
		"KAFKA_SASL_MECHANISM", "KAFKA_TLS", "OPS_ADDR",
		"PRODUCER_SHAPE", "constant", "PRODUCER_DIURNAL_DAY", "PRODUCER_RAMP_FROM", "PRODUCER_RAMP_DURATION", "PRODUCER_STEPS",
		"1:1m,2:1m,5:1m", "PRODUCER_STEPS_REPEAT", "PRODUCER_SPIKE_FACTOR", "PRODUCER_SPIKE_DURATION", "PRODUCER_SPIKE_EVERY", "PRODUCER_CATCH_UP",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("-h output lacks %q", want)
		}
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildProducer compiles this command once per test binary run, into a
// folder removed when the tests end.
func buildProducer(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "producer-test")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "producer")
		out, err := exec.Command("go", "build", "-race", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// logLine is the part of the producer's JSON log lines the test reads.
type logLine struct {
	Msg       string `json:"msg"`
	Addr      string `json:"addr"`
	Produced  int64  `json:"produced"`
	Abandoned int64  `json:"abandoned"`
}

func TestSIGTERMLosesNothingTheProducerCountedAsSent(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	topic := servicetest.Name(t, "orders")
	t.Cleanup(func() { servicetest.DeleteTopic(t, brokers, topic) })
	bin := buildProducer(t)

	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"KAFKA_BROKERS="+strings.Join(brokers, ","), "KAFKA_TOPIC="+topic,
		"PRODUCER_RATE=2000", "PRODUCER_LIFECYCLE_DELAY=200ms", "PRODUCER_MALFORMED_SHARE=0.01",
		"OPS_ADDR=127.0.0.1:0", "PROGRESS_INTERVAL=500ms",
	)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start producer: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })

	lines := make(chan logLine, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l logLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("log line is not JSON: %q", sc.Text())
				continue
			}
			lines <- l
		}
	}()

	var opsAddr string
	timeout := time.After(2 * time.Minute)
	for progressed := false; !progressed; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("producer exited before making progress")
			}
			if l.Msg == "ops listener up" {
				opsAddr = l.Addr
			}
			progressed = l.Msg == "progress" && l.Produced > 1000
		case <-timeout:
			t.Fatal("no progress line with produced > 1000 within 2 minutes")
		}
	}
	checkOps(t, opsAddr)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	var final *logLine
	for l := range lines {
		if l.Msg == "producer stopped" {
			final = &l
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("producer did not exit cleanly after SIGTERM: %v", err)
	}
	if final == nil {
		t.Fatal("no final \"producer stopped\" line")
	}
	if final.Abandoned != 0 {
		t.Fatalf("abandoned %d messages on a healthy broker", final.Abandoned)
	}
	var inTopic int64
	for _, end := range servicetest.EndOffsets(t, brokers, topic) {
		inTopic += end
	}
	if inTopic != final.Produced {
		t.Fatalf("producer logged %d sent, the topic holds %d", final.Produced, inTopic)
	}
	t.Logf("producer logged %d sent; the topic holds %d", final.Produced, inTopic)
}

func checkOps(t *testing.T, addr string) {
	t.Helper()
	if addr == "" {
		t.Fatal("the producer did not log its ops address")
	}
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "ready",
		"/metrics": dashboard.ProducedTotal, // the series orderctl dashboard reads

	} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s: %s, body lacks %q", path, resp.Status, want)
		}
	}
}

func TestUnreachableKafkaIsRetriedAndReported(t *testing.T) {
	bin := buildProducer(t)
	cmd := exec.Command(bin)
	// Port 1 on loopback refuses connections: a broker that is down.
	cmd.Env = append(os.Environ(), "KAFKA_BROKERS=127.0.0.1:1", "OPS_ADDR=127.0.0.1:0", "KAFKA_TOPIC=unreachable")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start producer: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })

	var opsAddr string
	retries := 0
	sc := bufio.NewScanner(stdout)
	deadline := time.Now().Add(time.Minute)
	for retries < 2 && sc.Scan() {
		if time.Now().After(deadline) {
			t.Fatal("no two retry warnings within a minute")
		}
		var l struct {
			Msg, Level, Addr, Error string
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		switch l.Msg {
		case "ops listener up":
			opsAddr = l.Addr
		case "kafka not ready, retrying":
			if l.Level != "WARN" || l.Error == "" {
				t.Fatalf("retry line should be a warning with the error: %s", sc.Text())
			}
			retries++
		}
	}
	resp, err := http.Get("http://" + opsAddr + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "Kafka") {
		t.Fatalf("/readyz = %s %q while Kafka is unreachable, want 503 with the reason", resp.Status, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("producer waiting for Kafka did not exit cleanly on SIGTERM: %v", err)
	}
}
