package kafka

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// A dead broker first in KAFKA_BROKERS must not stop a writer that has a
// live one further on: kafka-go dials the bootstrap addresses in random
// order until one answers. Writers are made until one has dialed the dead
// address first (each new Transport shuffles anew), and every one of them
// must write.
func TestWriterBootstrapsPastADeadFirstBroker(t *testing.T) {
	live := servicetest.KafkaBrokers(t)
	topic := servicetest.Name(t, "bootstrap")
	servicetest.CreateTopic(t, live, topic, 1)
	const dead = "127.0.0.1:1" // refuses connections
	cfg := Config{Brokers: append([]string{dead}, live...), ClientID: "bootstrap-test"}

	deadFirst := false
	for i := 0; i < 30 && !deadFirst; i++ {
		w, err := NewWriter(cfg, WriterConfig{Acks: "all", BatchConfig: BatchConfig{Compression: "none", BatchSize: 10, BatchBytes: 1 << 20, BatchTimeout: time.Millisecond}}, topic)
		if err != nil {
			t.Fatal(err)
		}
		dials := &dialLog{}
		w.Transport.(*kafkago.Transport).Dial = dials.dial
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err = WriteAll(ctx, w, []kafkago.Message{{Value: []byte("x")}}, func(r Resend) {
			t.Errorf("writer %d resent: %v", i, r.Err)
		})
		cancel()
		w.Close()
		if err != nil {
			t.Fatalf("writer %d (dialed %v): %v", i, dials.addresses(), err)
		}
		deadFirst = len(dials.addresses()) > 0 && dials.addresses()[0] == dead
	}
	if !deadFirst {
		t.Fatal("no writer dialed the dead broker first in 30 tries: the case this test is about never happened")
	}
}

// dialLog records the addresses a Transport dials, in order.
type dialLog struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialLog) dial(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, address)
	d.mu.Unlock()
	var nd net.Dialer
	return nd.DialContext(ctx, network, address)
}

func (d *dialLog) addresses() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}
