package main

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// TestProducerOverSASLSSL runs the producer against the broker's SASL_SSL
// listener (SCRAM-SHA-512, TLS with the listener's CA): with the right
// settings every message it counts as produced is in the topic; a wrong
// password or CA stops it at once with an error naming the variable to fix,
// instead of retrying as if the broker were down. No password is logged.
func TestProducerOverSASLSSL(t *testing.T) {
	k := servicetest.KafkaSASL(t)
	plain := servicetest.KafkaBrokers(t) // the same broker, to read back
	for _, tc := range k.SASLCases() {
		t.Run(tc.Name, func(t *testing.T) {
			// Made here, through the open listener whose metadata this
			// process caches (kafka-go's shared transport), so reading it
			// back cannot meet a cache from before the producer made it.
			// Creating a topic through SASL_SSL is proven by the
			// consumer's dead-letter topic.
			topic := servicetest.Name(t, "orders-sasl")
			servicetest.CreateTopic(t, plain, topic, 2)
			k.SetenvFor(t, tc)
			for name, value := range map[string]string{
				"KAFKA_TOPIC": topic, "PRODUCER_COUNT": "20", "PRODUCER_RATE": "0",
				"PRODUCER_LIFECYCLE_DELAY": "0", "PRODUCER_SEED": "11", "OPS_ADDR": "127.0.0.1:0",
			} {
				t.Setenv(name, value)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			logs := &servicetest.SyncBuffer{}
			err := run(ctx, nil, logs, logs)
			if k.AssertRun(t, tc, "the producer", logs.String(), err) {
				return
			}
			if err != nil {
				t.Fatalf("producer: %v\n%s", err, logs.String())
			}
			produced := int64(-1)
			sc := bufio.NewScanner(strings.NewReader(logs.String()))
			for sc.Scan() {
				var l logLine
				if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "producer stopped" {
					produced = l.Produced
				}
			}
			if got := len(servicetest.ReadAll(t, plain, topic)); produced < 20 || int64(got) != produced {
				t.Errorf("the producer logged %d produced, the topic holds %d (want at least 20, and equal)", produced, got)
			}
		})
	}
}
