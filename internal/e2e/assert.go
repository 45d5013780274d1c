package e2e

// The exact-result assertions: the index and the dead-letter topic against
// what the produced events must lead to.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/deadletter"
)

type hit struct {
	ID      string `json:"_id"`
	Version int    `json:"_version"`
	Source  struct {
		OrderID string `json:"order_id"`
		Version int    `json:"version"`
		Status  string `json:"status"`
	} `json:"_source"`
	Sort []any `json:"sort"`
}

// AssertIndex checks the index holds exactly the expected orders, each once,
// at its latest version (as _version and in the document) and status.
func (s *Stack) AssertIndex(t *testing.T, x Expectation) {
	t.Helper()
	s.ES(t, http.MethodPost, "/"+s.Index+"/_refresh", nil, nil)
	seen := map[string]bool{}
	var after []any
	var problems []string
	for {
		q := map[string]any{
			"size": 10000, "version": true, "_source": []string{"order_id", "version", "status"},
			"sort": []any{map[string]any{"order_id": "asc"}}, "query": map[string]any{"match_all": map[string]any{}},
		}
		if after != nil {
			q["search_after"] = after
		}
		var res struct {
			Hits struct {
				Hits []hit `json:"hits"`
			} `json:"hits"`
		}
		if code := s.ES(t, http.MethodPost, "/"+s.Index+"/_search", q, &res); code != http.StatusOK {
			t.Fatalf("search answered %d", code)
		}
		if len(res.Hits.Hits) == 0 {
			break
		}
		for _, h := range res.Hits.Hits {
			want, ok := x.Final[h.ID]
			switch {
			case seen[h.ID]:
				problems = append(problems, "duplicate "+h.ID)
			case !ok:
				problems = append(problems, "unexpected "+h.ID)
			case h.Version != want.Version || h.Source.Version != want.Version || h.Source.Status != string(want.Status) || h.Source.OrderID != h.ID:
				problems = append(problems, fmt.Sprintf("%s: _version %d version %d status %s, want %d %s", h.ID, h.Version, h.Source.Version, h.Source.Status, want.Version, want.Status))
			}
			seen[h.ID] = true
		}
		after = res.Hits.Hits[len(res.Hits.Hits)-1].Sort
	}
	for id := range x.Final {
		if !seen[id] {
			problems = append(problems, "missing "+id)
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Fatalf("index differs from the expected final state in %d ways; first: %v", len(problems), problems[:min(20, len(problems))])
	}
}

// ReadTopic returns every message of topic, by partition order.
func (s *Stack) ReadTopic(t *testing.T, topic string) []kafkago.Message {
	t.Helper()
	client, err := s.Kafka.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var reqs []kafkago.OffsetRequest
	for p := range Partitions {
		reqs = append(reqs, kafkago.FirstOffsetOf(p), kafkago.LastOffsetOf(p))
	}
	offs, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatal(err)
	}
	dialer, _ := s.Kafka.Dialer()
	var out []kafkago.Message
	for _, po := range offs.Topics[topic] {
		if po.LastOffset <= po.FirstOffset {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: s.Kafka.Brokers, Topic: topic, Partition: po.Partition, Dialer: dialer, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(po.FirstOffset); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, po.Partition, err)
			}
			out = append(out, m)
			if m.Offset >= po.LastOffset-1 {
				break
			}
		}
		r.Close()
	}
	return out
}

// AssertDLQ checks the dead-letter topic holds exactly the malformed
// messages, bytes and key unchanged, each with a reason and the source
// partition and offset of the message it copies. Dead-lettering is at least
// once, like indexing: a message dead-lettered in a batch whose commit was
// lost (crash, rebalance) is dead-lettered again when re-delivered. Such
// copies are allowed only as exact duplicates of the same source message.
func (s *Stack) AssertDLQ(t *testing.T, x Expectation) {
	t.Helper()
	dead := s.ReadTopic(t, s.DLQTopic)
	var problems []string
	bySource := map[string]kafkago.Message{}
	duplicates := 0
	for _, d := range dead {
		key := string(d.Key)
		src := Header(d, deadletter.HeaderSourcePartition) + "/" + Header(d, deadletter.HeaderSourceOffset)
		ev, ok := x.Malformed[key]
		switch {
		case !ok:
			problems = append(problems, "unexpected dead letter "+key)
			continue
		case !bytes.Equal(d.Value, ev.Value):
			problems = append(problems, "dead letter "+key+" changed its bytes")
		case Header(d, deadletter.HeaderError) == "":
			problems = append(problems, "dead letter "+key+" has no reason")
		case Header(d, deadletter.HeaderSourceTopic) != s.Topic:
			problems = append(problems, "dead letter "+key+" has source topic "+Header(d, deadletter.HeaderSourceTopic))
		}
		if prev, ok := bySource[src]; ok {
			if string(prev.Key) != key {
				problems = append(problems, "two different dead letters claim source "+src)
			}
			duplicates++
			continue
		}
		bySource[src] = d
	}
	// A malformed message the producer wrote twice (a resend after a lost
	// acknowledgement) is two messages of the topic, each dead-lettered
	// under its own source: one dead letter per copy the topic holds.
	sources := map[string]int{}
	for _, d := range bySource {
		sources[string(d.Key)]++
	}
	for key := range x.Malformed {
		if sources[key] == 0 {
			problems = append(problems, "missing dead letter "+key)
		}
	}
	// The source headers must point at the very message copied.
	copies := map[string]int{}
	for _, m := range s.ReadTopic(t, s.Topic) {
		copies[string(m.Key)]++
		src := strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10)
		if d, ok := bySource[src]; ok {
			if !bytes.Equal(d.Value, m.Value) || !bytes.Equal(d.Key, m.Key) {
				problems = append(problems, "dead letter for "+src+" does not match the source message")
			}
			delete(bySource, src)
		}
	}
	for key := range x.Malformed {
		if n := sources[key]; n > 0 && n != copies[key] {
			problems = append(problems, fmt.Sprintf("malformed message %s dead-lettered under %d sources, the topic holds %d copies", key, n, copies[key]))
		}
	}
	for src := range bySource {
		problems = append(problems, "dead letter source "+src+" is not a message of the topic")
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Fatalf("dead-letter topic differs in %d ways; first: %v", len(problems), problems[:min(20, len(problems))])
	}
	t.Logf("dead-letter topic: exactly the %d malformed messages (plus %d re-delivered copies)", len(x.Malformed), duplicates)
}
