package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/orderpipe/orderpipe/internal/ops"
	"github.com/orderpipe/orderpipe/internal/servicetest"
	"github.com/orderpipe/orderpipe/internal/settings"
)

func TestHelpListsEveryVariable(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range settings.Variables(&config{}) {
		names = append(names, v.Name)
		if v.Desc == "" {
			t.Errorf("%s has no desc", v.Name)
		}
	}
	for _, want := range append(names, "DLQ_TOPIC_PARTITIONS", "DLQ_TOPIC_REPLICATION_FACTOR", "DLQ_TOPIC_MIN_INSYNC_REPLICAS", "KAFKA_BROKERS", "KAFKA_TOPIC", "CONSUMER_GROUP", "DLQ_TOPIC", "ES_ADDRESSES",
		"ES_USERNAME", "ES_PASSWORD", "ES_API_KEY", "ES_CA_CERT", "ES_INDEX", "BULK_SIZE", "BULK_BYTES", "FLUSH_INTERVAL",
		"BULK_WORKERS", "KAFKA_SASL_MECHANISM", "KAFKA_TLS", "SHUTDOWN_TIMEOUT", "OPS_ADDR") {
		if !strings.Contains(out.String(), want+" ") {
			t.Errorf("-h does not list %s", want)
		}
	}
}

func TestBadConfigExitsTwoNamingTheVariable(t *testing.T) {
	tests := []struct {
		env      map[string]string
		variable string
	}{
		{map[string]string{"BULK_SIZE": "many"}, "BULK_SIZE"},
		{map[string]string{"BULK_SIZE": "0"}, "BULK_SIZE"},
		{map[string]string{"BULK_WORKERS": "100"}, "BULK_WORKERS"},
		{map[string]string{"FLUSH_INTERVAL": "soon"}, "FLUSH_INTERVAL"},
		{map[string]string{"KAFKA_BROKERS": "no-port"}, "KAFKA_BROKERS"},
		{map[string]string{"KAFKA_SASL_MECHANISM": "kerberos"}, "KAFKA_SASL_MECHANISM"},
		{map[string]string{"ES_ADDRESSES": "localhost:9200"}, "ES_ADDRESSES"},
		{map[string]string{"ES_API_KEY": "k", "ES_USERNAME": "u"}, "ES_API_KEY"},
		{map[string]string{"ES_CA_CERT": "/nonexistent.pem"}, "ES_CA_CERT"},
		{map[string]string{"ES_INDEX": "Orders"}, "ES_INDEX"},
		{map[string]string{"DLQ_TOPIC": "orders"}, "DLQ_TOPIC"},
		{map[string]string{"DLQ_TOPIC_REPLICATION_FACTOR": "0"}, "DLQ_TOPIC_REPLICATION_FACTOR"},
		{map[string]string{"DLQ_REPLICATION_FACTOR": "3"}, "DLQ_REPLICATION_FACTOR"},
		{map[string]string{"KAFKA_SESSION_TIMEOUT": "1s"}, "KAFKA_SESSION_TIMEOUT"},
		{map[string]string{"SHUTDOWN_TIMEOUT": "0s"}, "SHUTDOWN_TIMEOUT"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"LOG_FORMAT": "yaml"}, "LOG_FORMAT"},
		{map[string]string{"KAFKA_ACKS": "some"}, "KAFKA_ACKS"},
		{map[string]string{"ES_TEMPLATE_FILE": "/nonexistent.json"}, "ES_TEMPLATE_FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.variable, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			err := run(context.Background(), nil, io.Discard, io.Discard)
			var stderr bytes.Buffer
			if code := exitCode(err, &stderr); code != 2 {
				t.Fatalf("exit code %d (err %v), want 2", code, err)
			}
			if !strings.Contains(stderr.String(), tc.variable) {
				t.Fatalf("message %q does not name %s", stderr.String(), tc.variable)
			}
		})
	}
}

func TestUnknownArgumentIsUsageError(t *testing.T) {
	err := run(context.Background(), []string{"serve"}, io.Discard, io.Discard)
	var ue *settings.UsageError
	if !errors.As(err, &ue) || exitCode(err, io.Discard) != 2 {
		t.Fatalf("run(serve) = %v, want a usage error (exit 2)", err)
	}
}

func TestHealthcheckFailsWithoutListener(t *testing.T) {
	t.Setenv("OPS_ADDR", "127.0.0.1:1")
	err := run(context.Background(), []string{"healthcheck"}, io.Discard, io.Discard)
	if err == nil || exitCode(err, io.Discard) != 1 {
		t.Fatalf("healthcheck against a closed port = %v, want exit 1", err)
	}
}

func TestStartupSettingsMaskSecrets(t *testing.T) {
	var c config
	c.SASLPassword, c.Password, c.APIKey = "kafka-secret", "es-secret", "key-secret"
	c.Topic = "orders"
	var out bytes.Buffer
	slog.New(slog.NewTextHandler(&out, nil)).Info("starting", "config", settings.LogValue(c))
	for _, secret := range []string{"kafka-secret", "es-secret", "key-secret"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("start-up log shows %q: %s", secret, out.String())
		}
	}
	for _, want := range []string{"KAFKA_SASL_PASSWORD", "ES_PASSWORD", "ES_API_KEY", "KAFKA_TOPIC=orders"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("start-up log lacks %s: %s", want, out.String())
		}
	}
}

// TestLogsGoToStdoutInTheChosenFormat: both daemons log to stdout, so a
// container runtime or `make local` collects one stream, and stderr is left
// for the exit message alone.
func TestLogsGoToStdoutInTheChosenFormat(t *testing.T) {
	tests := []struct {
		format string
		want   string
	}{
		{"json", `"msg":"starting"`},
		{"text", `msg=starting service=consumer`},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			t.Setenv("LOG_FORMAT", tc.format)
			t.Setenv("OPS_ADDR", "127.0.0.1:0")
			t.Setenv("ES_ADDRESSES", "http://127.0.0.1:1")
			// Cancelled at once: the consumer logs its start, finds it is
			// stopping before anything was fetched, and returns cleanly.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var stdout, stderr bytes.Buffer
			if err := run(ctx, nil, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v", err)
			}
			if !strings.Contains(stdout.String(), tc.want) {
				t.Errorf("stdout %q, want a start line containing %q", stdout.String(), tc.want)
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr %q, want nothing: logs go to stdout", stderr.String())
			}
		})
	}
}

// TestHealthcheckProbesTheDaemonsAddress: the healthcheck reads OPS_ADDR
// through the same settings struct as the daemon, so it finds the listener
// wherever OPS_ADDR put it.
func TestHealthcheckProbesTheDaemonsAddress(t *testing.T) {
	srv, err := ops.Listen("127.0.0.1:0", ops.NewRegistry(), ops.NewReadiness("starting"))
	if err != nil {
		t.Fatal(err)
	}
	servicetest.RunUntilCleanup(t, srv.Run)
	t.Setenv("OPS_ADDR", srv.Addr())
	if err := run(context.Background(), []string{"healthcheck"}, io.Discard, io.Discard); err != nil {
		t.Fatalf("healthcheck against the running listener at %s: %v", srv.Addr(), err)
	}
}

// The consumer writes dead letters with acks=all whatever KAFKA_ACKS says,
// so it refuses a value it would not honour, saying why, and does not list
// the variable; "all", what it does anyway, may stay in a shared
// environment.
func TestKafkaAcksIsRefusedUnlessAll(t *testing.T) {
	for _, v := range []string{"none", "one", "0", "1"} {
		t.Run(v, func(t *testing.T) {
			t.Setenv("KAFKA_ACKS", v)
			err := run(context.Background(), nil, io.Discard, io.Discard)
			var stderr bytes.Buffer
			if code := exitCode(err, &stderr); code != 2 {
				t.Fatalf("exit code %d (err %v), want 2", code, err)
			}
			if msg := stderr.String(); !strings.Contains(msg, "KAFKA_ACKS") || !strings.Contains(msg, "acks=all") {
				t.Fatalf("message %q does not name KAFKA_ACKS and say dead letters use acks=all", msg)
			}
		})
	}
	for _, v := range []string{"all", "ALL", "-1"} {
		t.Setenv("KAFKA_ACKS", v)
		if _, err := loadConfig(); err != nil {
			t.Errorf("KAFKA_ACKS=%s: %v, want it accepted", v, err)
		}
	}
	var help bytes.Buffer
	if err := usage(&help); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(help.String(), "KAFKA_ACKS") {
		t.Error("consumer -h lists KAFKA_ACKS, which it does not read")
	}
}
