package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/deadletter"
	"github.com/orderpipe/orderpipe/internal/order"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// TestVerifyOnRealServices fills a topic, a DLQ and an index the way a
// correct consumer would, checks that verify finds nothing, then plants one
// difference of each class and checks that verify names exactly those.
func TestVerifyOnRealServices(t *testing.T) {
	s := newStack(t, 3)
	s.createIndex(t)
	servicetest.CreateTopic(t, s.brokers, s.dlqTopic, 1)

	s.produce(t, s.topic, messages(events(t, 40, 42, 0.15)))
	stored := servicetest.ReadAll(t, s.brokers, s.topic)

	// Act as the consumer: index each order's latest version, dead-letter
	// each malformed message with headers pointing back at it.
	type latest struct {
		version int
		source  []byte
		older   map[int][]byte
	}
	orders := map[string]*latest{}
	var dlq []kafkago.Message
	var malformed int
	for _, m := range stored {
		o, err := order.Decode(m.Value)
		if err != nil {
			malformed++
			dlq = append(dlq, kafkago.Message{Key: m.Key, Value: m.Value, Headers: deadletter.Headers(deadletter.Source{Topic: s.topic, Partition: m.Partition, Offset: m.Offset}, err.Error())})
			continue
		}
		l := orders[o.OrderID]
		if l == nil {
			l = &latest{older: map[int][]byte{}}
			orders[o.OrderID] = l
		}
		l.older[o.Version] = m.Value
		if o.Version > l.version {
			l.version, l.source = o.Version, m.Value
		}
	}
	if malformed == 0 || len(orders) != 40-malformed {
		t.Fatalf("generator gave %d orders and %d malformed; the test needs both", len(orders), malformed)
	}
	for id, l := range orders {
		s.putDoc(t, id, l.version, l.source)
	}
	s.produce(t, s.dlqTopic, dlq)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, errOut, err := runCmd(t, ctx, "verify")
	if err != nil {
		t.Fatalf("clean verify: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	for _, want := range []string{
		fmt.Sprintf("%d messages, %d orders, %d malformed", len(stored), len(orders), malformed),
		fmt.Sprintf("%d documents", len(orders)),
		"\nmissing                0\n", "\nstale                  0\n", "\nahead                  0\n",
		"\nunexpected             0\n", "\nmalformed not in DLQ   0\n", "OK: no differences",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("clean verify output lacks %q:\n%s", want, out)
		}
	}

	// Plant one difference of each class.
	var deleted, staled string
	for id, l := range orders {
		switch {
		case staled == "" && l.version >= 2:
			staled = id
		case deleted == "" && id != staled:
			deleted = id
		}
	}
	if staled == "" || deleted == "" {
		t.Fatal("no order with two versions to make stale")
	}
	s.deleteDoc(t, deleted)
	s.deleteDoc(t, staled)
	older := orders[staled].version - 1
	s.putOlder(t, staled, older, orders[staled].older[older])
	s.putDoc(t, "extra-order", 3, orders[deleted].source)
	s.produce(t, s.topic, []kafkago.Message{{Key: []byte("bad-1"), Value: []byte("ERROR payment-gateway timeout order=bad-1")}})
	after := servicetest.ReadAll(t, s.brokers, s.topic)
	var bad kafkago.Message
	for _, m := range after {
		if string(m.Key) == "bad-1" {
			bad = m
		}
	}

	out, errOut, err = runCmd(t, ctx, "verify", "-examples", "5")
	if !errors.Is(err, errDifferences) || exitCode(err, &strings.Builder{}) != 1 {
		t.Fatalf("planted verify: err %v, want differences (exit 1)\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	for _, want := range []string{
		fmt.Sprintf("\nmissing                1  e.g. %s\n", deleted),
		fmt.Sprintf("\nstale                  1  e.g. %s (kafka v%d, index v%d)\n", staled, orders[staled].version, older),
		"\nahead                  0\n",
		"\nunexpected             1  e.g. extra-order\n",
		fmt.Sprintf("\nmalformed not in DLQ   1  e.g. %s/%d@%d\n", s.topic, bad.Partition, bad.Offset),
		"FAIL: 4 differences",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("planted verify output lacks %q:\n%s", want, out)
		}
	}

	// -from-offset 1 skips each partition's first message and does not judge
	// documents of orders outside the range.
	var inRange int64
	for _, end := range servicetest.EndOffsets(t, s.brokers, s.topic) {
		inRange += max(end-1, 0)
	}
	out, _, err = runCmd(t, ctx, "verify", "-from-offset", "1")
	if err != nil && !errors.Is(err, errDifferences) || !strings.Contains(out, fmt.Sprintf(": %d messages,", inRange)) ||
		!strings.Contains(out, "partial range") || strings.Contains(out, "\nunexpected") {
		t.Errorf("verify -from-offset 1: err %v, want %d messages read and a partial-range report:\n%s", err, inRange, out)
	}

	// A range that starts after every message judges nothing and says so.
	out, _, err = runCmd(t, ctx, "verify", "-since", time.Now().Add(time.Hour).Format(time.RFC3339))
	if err != nil || !strings.Contains(out, "0 messages") || !strings.Contains(out, "partial range") {
		t.Errorf("verify -since the future: err %v\n%s", err, out)
	}
}

func TestVerifyUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad flag", nil, []string{"verify", "-nope"}, "-nope"},
		{"bad since", nil, []string{"verify", "-since", "yesterday"}, "-since"},
		{"bad timeout", nil, []string{"verify", "-timeout", "0s"}, "-timeout"},
		{"bad brokers", map[string]string{"KAFKA_BROKERS": "nohostport"}, []string{"verify"}, "KAFKA_BROKERS"},
		{"bad index", map[string]string{"ES_INDEX": "Upper"}, []string{"verify"}, "ES_INDEX"},
		{"bad duration", map[string]string{"ES_REQUEST_TIMEOUT": "soon"}, []string{"verify"}, "ES_REQUEST_TIMEOUT"},
		{"extra argument", nil, []string{"verify", "now"}, "unexpected argument"},
		{"no subcommand", nil, nil, "missing subcommand"},
		{"unknown subcommand", nil, []string{"frobnicate"}, "frobnicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, _, err := runCmd(t, context.Background(), tc.args...)
			var stderr strings.Builder
			if code := exitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 naming %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// TestVerifyHoldsTheIndexRule: verify reads an index only where the
// consumer would write, so an ES_INDEX the template does not cover is the
// same exit 2 naming ES_INDEX and ES_TEMPLATE_FILE, not a report of a
// missing index.
func TestVerifyHoldsTheIndexRule(t *testing.T) {
	brokers := servicetest.KafkaBrokers(t)
	for k, v := range map[string]string{
		"KAFKA_BROKERS": strings.Join(brokers, ","), "ES_ADDRESSES": servicetest.ElasticsearchURL(t),
		"ES_INDEX": servicetest.Name(t, "shop-orders"),
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, err := runCmd(t, ctx, "verify")
	var stderr strings.Builder
	if code := exitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), "ES_INDEX") || !strings.Contains(stderr.String(), "ES_TEMPLATE_FILE") {
		t.Errorf("exit %d, stderr %q; want 2 naming ES_INDEX and ES_TEMPLATE_FILE", code, stderr.String())
	}
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"2h", "90s", "2026-11-24T10:00:00Z", "1764000000000", "-1h", "0", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseSince(s, now)
		if err == nil && got.IsZero() {
			t.Fatalf("parseSince(%q) accepted a zero time", s)
		}
		if d, derr := time.ParseDuration(s); derr == nil && err == nil && !got.Before(now) && d > 0 {
			t.Fatalf("parseSince(%q) = %v, not before now", s, got)
		}
	})
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2h", now.Add(-2 * time.Hour), true},
		{"2026-11-24T10:00:00Z", time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), true},
		{"1764000000000", time.UnixMilli(1764000000000), true},
		{"-5m", time.Time{}, false},
		{"yesterday", time.Time{}, false},
	} {
		got, err := parseSince(tc.in, now)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
