package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// TestSecuredWrongPasswordWaitsAndSaysWhy: a wrong ES_PASSWORD on the
// secured node neither crashes the consumer (a supervisor would restart it
// in a loop) nor stays silent: /readyz names ES_USERNAME, and no password
// reaches the log.
func TestSecuredWrongPasswordWaitsAndSaysWhy(t *testing.T) {
	node := servicetest.SecureElasticsearch(t)
	brokers := servicetest.KafkaBrokers(t)
	topic := servicetest.Name(t, "sec")
	servicetest.CreateTopic(t, brokers, topic, 1)
	servicetest.CreateTopic(t, brokers, topic+".dlq", 1)
	gen := generator.DefaultConfig()
	gen.Seed = time.Now().UnixNano()
	ev := servicetest.Orders(t, gen, 1, time.Now())[0]
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Topic: topic}
	if err := w.WriteMessages(context.Background(), kafkago.Message{Key: ev.Key, Value: ev.Value}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opsAddr := ln.Addr().String()
	ln.Close()
	wrong := "wrong-" + node.ConsumerPassword
	for k, v := range map[string]string{
		"KAFKA_BROKERS": strings.Join(brokers, ","), "KAFKA_TOPIC": topic, "DLQ_TOPIC": topic + ".dlq", "CONSUMER_GROUP": topic,
		"ES_ADDRESSES": node.URL, "ES_USERNAME": servicetest.ConsumerUser, "ES_PASSWORD": wrong, "ES_CA_CERT": node.CACert,
		"ES_INDEX": servicetest.Name(t, "orders-sec"), "OPS_ADDR": opsAddr, "RETRY_MAX_INTERVAL": "500ms",
	} {
		t.Setenv(k, v)
	}
	logs := &servicetest.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, logs, io.Discard) }() // the consumer logs to stdout
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("consumer did not stop within 30s")
		}
		if strings.Contains(logs.String(), wrong) {
			t.Error("the log contains the password")
		}
		node.AssertNoSecret(t, "the consumer's log", logs.String())
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(time.Minute)
	var body string
	for !strings.Contains(body, "ES_USERNAME") {
		select {
		case err := <-done:
			t.Fatalf("the consumer exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never named ES_USERNAME; last answer %q", body)
		}
		time.Sleep(200 * time.Millisecond)
		if res, err := http.Get("http://" + opsAddr + "/readyz"); err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			// Ready until the first bulk request fails: readiness reflects
			// the pipeline's last attempt, not the start-up check.
			body = string(b)
		}
	}
	t.Logf("/readyz: %s", strings.TrimSpace(body))
	if !strings.Contains(logs.String(), "elasticsearch refused the credentials") {
		t.Error("the start-up log does not say the credentials were refused")
	}
}
