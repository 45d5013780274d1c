package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/kafka"
)

// ceilingRun is the consumer's ceiling on this machine: the least work that
// moves the topic into Elasticsearch with the same documents (same _id,
// external version, the message bytes as the source, the same template).
// One reader per partition feeds a channel; each of `workers` goroutines
// keeps one _bulk request of `batch` documents in flight. No validation,
// no dead letters, no commits: whatever the consumer does beyond this is
// its cost. The rate runs from the first message read to the last bulk
// answered, and counts only if the index then holds every order.
func (b *bench) ceilingRun(ctx context.Context, topic string, ranges []kafka.PartitionRange, messages int64, workers, batch int) (float64, error) {
	index := fmt.Sprintf("%sceiling-w%d-b%d", b.prefix, workers, batch)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(messages/1000)*time.Second)
	defer cancel()
	dialer, err := b.kafka.Dialer()
	if err != nil {
		return 0, err
	}

	var first atomic.Int64 // unix nanos of the first message read
	msgs := make(chan kafkago.Message, 4*batch)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(msgs)
		var readers errgroup.Group
		for _, r := range ranges {
			if r.Len() == 0 {
				continue
			}
			readers.Go(func() error { return readPartition(gctx, b.brokers, dialer, topic, r, msgs, &first) })
		}
		return readers.Wait()
	})
	for range workers {
		g.Go(func() error { return bulkWorker(gctx, b.es, index, batch, msgs) })
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	elapsed := time.Since(time.Unix(0, first.Load()))
	if err := b.checkCount(ctx, index); err != nil {
		return 0, err
	}
	return float64(messages) / elapsed.Seconds(), nil
}

// readPartition sends r's messages, from First up to End, to out.
func readPartition(ctx context.Context, brokers string, dialer *kafkago.Dialer, topic string, r kafka.PartitionRange, out chan<- kafkago.Message, first *atomic.Int64) error {
	rd := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: []string{brokers}, Topic: topic, Partition: r.Partition, Dialer: dialer,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 10_000,
	})
	defer rd.Close()
	if err := rd.SetOffset(r.First); err != nil {
		return fmt.Errorf("seek %s/%d: %w", topic, r.Partition, err)
	}
	for {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("read %s/%d: %w", topic, r.Partition, err)
		}
		first.CompareAndSwap(0, time.Now().UnixNano())
		select {
		case out <- m:
		case <-ctx.Done():
			return ctx.Err()
		}
		if m.Offset >= r.End-1 {
			return nil
		}
	}
}

// bulkWorker takes up to batch messages at a time and indexes them, one
// request in flight, until in is closed and drained.
func bulkWorker(ctx context.Context, es *esClient, index string, batch int, in <-chan kafkago.Message) error {
	docs := make([]elastic.Doc, 0, batch)
	var body []byte
	for {
		docs = docs[:0]
	fill:
		for len(docs) < batch {
			select {
			case m, ok := <-in:
				if !ok {
					break fill
				}
				d, err := docOf(m)
				if err != nil {
					return err
				}
				docs = append(docs, d)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if len(docs) == 0 {
			return nil
		}
		body = elastic.AppendBulkBody(body[:0], index, docs)
		if err := es.bulk(ctx, body); err != nil {
			return err
		}
		if len(docs) < batch {
			return nil // the channel is closed
		}
	}
}

// docOf pulls only order_id and version out of the message: the source is
// sent as is.
func docOf(m kafkago.Message) (elastic.Doc, error) {
	var head struct {
		OrderID string `json:"order_id"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(m.Value, &head); err != nil {
		return elastic.Doc{}, fmt.Errorf("decode offset %d of partition %d: %w", m.Offset, m.Partition, err)
	}
	return elastic.Doc{ID: head.OrderID, Version: head.Version, Source: m.Value}, nil
}
