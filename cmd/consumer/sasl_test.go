package main

import (
	"context"
	"io"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/order"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// TestConsumerOverSASLSSL runs the consumer the way the compose stack's
// security asks for, on real servers end to end: Kafka through the broker's
// SASL_SSL listener (SCRAM-SHA-512, the listener's CA) and Elasticsearch
// over HTTPS as orderpipe_consumer. Every order reaches the index; a wrong
// Kafka password or CA stops the consumer at start with an error naming
// the variable. No password of either server reaches the log.
func TestConsumerOverSASLSSL(t *testing.T) {
	k := servicetest.KafkaSASL(t)
	node := servicetest.SecureElasticsearch(t)
	plain := servicetest.KafkaBrokers(t) // the same broker, to fill the topic
	for _, tc := range k.SASLCases() {
		t.Run(tc.Name, func(t *testing.T) {
			topic := servicetest.Name(t, "orders-sasl")
			servicetest.CreateTopic(t, plain, topic, 2)
			t.Cleanup(func() { servicetest.DeleteTopic(t, plain, topic+".dlq") })
			index := node.OrdersIndex(t, deploy.OrdersTemplate)
			orders := produceOrders(t, plain, topic, 15)

			k.SetenvFor(t, tc)
			for name, value := range map[string]string{
				"KAFKA_TOPIC": topic, "DLQ_TOPIC": topic + ".dlq", "DLQ_TOPIC_PARTITIONS": "1", "CONSUMER_GROUP": topic,
				"ES_ADDRESSES": node.URL, "ES_USERNAME": servicetest.ConsumerUser, "ES_PASSWORD": node.ConsumerPassword,
				"ES_CA_CERT": node.CACert, "ES_INDEX": index, "OPS_ADDR": servicetest.FreeAddr(t),
			} {
				t.Setenv(name, value)
			}
			logs := &servicetest.SyncBuffer{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, nil, logs, io.Discard) }() // the consumer logs to stdout
			var runErr error
			stopped := false
			t.Cleanup(func() {
				cancel()
				if !stopped {
					select {
					case runErr = <-done:
					case <-time.After(30 * time.Second):
						t.Error("consumer did not stop within 30s")
					}
				}
				text := logs.String()
				if runErr != nil {
					text += "\n" + runErr.Error()
				}
				k.AssertNoSecret(t, "the consumer's log and error", text)
				node.AssertNoSecret(t, "the consumer's log and error", text)
				if t.Failed() {
					t.Logf("log:\n%s", logs.String())
				}
			})

			if tc.WantErr != nil {
				select {
				case runErr = <-done:
					stopped = true
				case <-time.After(time.Minute):
					t.Fatalf("the consumer still runs after a minute, want it stopped naming %v", tc.WantErr)
				}
				tc.AssertErrNames(t, "the consumer", runErr)
				return
			}
			deadline := time.Now().Add(time.Minute)
			for got := 0; got != orders; got = node.Count(t, index) {
				select {
				case runErr = <-done:
					stopped = true
					t.Fatalf("the consumer exited: %v", runErr)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d orders indexed after a minute", got, orders)
				}
				time.Sleep(200 * time.Millisecond)
			}
			cancel()
			runErr, stopped = <-done, true
			if runErr != nil {
				t.Errorf("consumer: %v", runErr)
			}
		})
	}
}

// produceOrders writes n new orders and their lifecycles to topic through
// the open listener and returns how many distinct orders that is.
func produceOrders(t *testing.T, brokers []string, topic string, n int) int {
	t.Helper()
	gen := generator.DefaultConfig()
	gen.Seed = time.Now().UnixNano()
	evs := servicetest.Orders(t, gen, n, time.Now())
	msgs := make([]kafkago.Message, len(evs))
	ids := map[string]bool{}
	for i, ev := range evs {
		msgs[i] = kafkago.Message{Key: ev.Key, Value: ev.Value}
		if o, err := order.Decode(ev.Value); err == nil {
			ids[o.OrderID] = true
		}
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Topic: topic, RequiredAcks: kafkago.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	return len(ids)
}
