package generator

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderpipe/orderpipe/internal/order"
)

// mustEncode renders o with the contract's encoder, the one the generator
// must agree with byte for byte.
func mustEncode(t testing.TB, o *order.Order) []byte {
	t.Helper()
	b, err := order.Encode(o)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b
}

// equalOrders compares instants rather than time.Location pointers, which
// differ between two decodes of the same "+01:00" offset.
func equalOrders(a, b order.Order) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) || !a.UpdatedAt.Equal(b.UpdatedAt) {
		return false
	}
	a.CreatedAt, a.UpdatedAt, b.CreatedAt, b.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

var testStart = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newTestGenerator(t testing.TB, cfg Config) *Generator {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return g
}

// testConfig is the default config with a fixed seed.
func testConfig(seed int64) Config {
	cfg := DefaultConfig()
	cfg.Seed = seed
	return cfg
}

// drive plays the producer loop: n orders, one every step, emitting due
// follow-ups before each new order, then drains every remaining follow-up.
func drive(t testing.TB, g *Generator, start time.Time, n int, step time.Duration) []Event {
	t.Helper()
	var events []Event
	now := start
	for i := range n {
		now = start.Add(time.Duration(i) * step)
		events = appendDue(events, g, now)
		events = append(events, g.Next(now))
	}
	events = appendDue(events, g, now.Add(365*24*time.Hour))
	if g.Pending() != 0 {
		t.Fatalf("Pending() = %d after draining", g.Pending())
	}
	return events
}

func appendDue(events []Event, g *Generator, now time.Time) []Event {
	for {
		ev, ok := g.Due(now)
		if !ok {
			return events
		}
		events = append(events, ev)
	}
}

func decodeValid(t *testing.T, ev Event) order.Order {
	t.Helper()
	o, err := order.Decode(ev.Value)
	if err != nil {
		t.Fatalf("generated order does not decode: %v\n%s", err, ev.Value)
	}
	return o
}

func TestGeneratorIsDeterministic(t *testing.T) {
	cfg := testConfig(42)
	cfg.MalformedShare = 0.05
	first := drive(t, newTestGenerator(t, cfg), testStart, 3000, 700*time.Millisecond)
	second := drive(t, newTestGenerator(t, cfg), testStart, 3000, 700*time.Millisecond)
	if len(first) != len(second) {
		t.Fatalf("runs differ in length: %d vs %d", len(first), len(second))
	}
	if len(first) < 5000 {
		t.Fatalf("only %d events; the test should cover lifecycle events too", len(first))
	}
	for i := range first {
		a, b := first[i], second[i]
		if !bytes.Equal(a.Key, b.Key) || !bytes.Equal(a.Value, b.Value) || !a.At.Equal(b.At) ||
			a.Malformed != b.Malformed || a.Version != b.Version || a.Status != b.Status {
			t.Fatalf("event %d differs:\n%s\n%s", i, a.Value, b.Value)
		}
	}

	cfg.Seed = 43
	other := drive(t, newTestGenerator(t, cfg), testStart, 100, 700*time.Millisecond)
	same := 0
	for i := range min(len(other), len(first)) {
		if bytes.Equal(other[i].Value, first[i].Value) {
			same++
		}
	}
	if same != 0 {
		t.Fatalf("seeds 42 and 43 produced %d identical documents", same)
	}
}

func TestGeneratorPicksAndReportsRandomSeed(t *testing.T) {
	cfg := testConfig(0)
	g := newTestGenerator(t, cfg)
	if g.Seed() == 0 {
		t.Fatal("Seed() = 0; a random seed must be reported so the run can be replayed")
	}
	cfg.Seed = g.Seed()
	replay := newTestGenerator(t, cfg)
	for i := range 50 {
		now := testStart.Add(time.Duration(i) * time.Second)
		if a, b := g.Next(now), replay.Next(now); !bytes.Equal(a.Value, b.Value) {
			t.Fatalf("replaying seed %d differs at event %d", cfg.Seed, i)
		}
	}
}

// checkMoney recomputes every amount in cents independently of Validate.
func checkMoney(t *testing.T, o *order.Order) {
	t.Helper()
	toCents := func(name string, v float64) int64 {
		t.Helper()
		c := int64(math.Round(v * 100))
		if float64(c)/100 != v || c < 0 {
			t.Fatalf("%s %s = %v is not a non-negative 2-decimal amount", o.OrderID, name, v)
		}
		return c
	}
	var subtotal int64
	quantities := 0
	for _, it := range o.Items {
		if line := toCents("line_total", it.LineTotal); line != toCents("unit_price", it.UnitPrice)*int64(it.Quantity) {
			t.Fatalf("%s: line %+v does not add up", o.OrderID, it)
		}
		subtotal += toCents("line_total", it.LineTotal)
		quantities += it.Quantity
	}
	if toCents("subtotal", o.Subtotal) != subtotal || o.ItemCount != quantities {
		t.Fatalf("%s: subtotal/item_count do not add up: %+v", o.OrderID, o)
	}
	want := subtotal - toCents("discount", o.Discount) + toCents("tax", o.Tax) + toCents("shipping_cost", o.ShippingCost)
	if toCents("total", o.Total) != want {
		t.Fatalf("%s: total %v, want %d cents", o.OrderID, o.Total, want)
	}
}

func TestGeneratedOrdersAreValid(t *testing.T) {
	cfg := testConfig(1)
	cfg.Currency = "EUR"
	events := drive(t, newTestGenerator(t, cfg), testStart, 2000, time.Second)
	for _, ev := range events {
		o := decodeValid(t, ev)
		checkMoney(t, &o)
		if o.Currency != "EUR" {
			t.Fatalf("currency = %q, want the configured EUR", o.Currency)
		}
		if string(ev.Key) != o.OrderID || ev.OrderID != o.OrderID || ev.Version != o.Version ||
			ev.Status != o.Status || !ev.At.Equal(o.UpdatedAt) || ev.Malformed != "" {
			t.Fatalf("event metadata %+v does not match its document %s", ev, ev.Value)
		}
		if reencoded := mustEncode(t, &o); !bytes.Equal(reencoded, ev.Value) {
			t.Fatalf("decode/encode round trip changed the document:\n%s\n%s", ev.Value, reencoded)
		}
		id := uuid.MustParse(o.OrderID)
		if id.Version() != 7 || id.Variant() != uuid.RFC4122 {
			t.Fatalf("order_id %s is not an RFC 4122 UUIDv7", id)
		}
		if ms := int64(binary.BigEndian.Uint64(id[:8]) >> 16); ms != o.CreatedAt.UnixMilli() {
			t.Fatalf("order_id %s carries %d ms, created_at is %d", id, ms, o.CreatedAt.UnixMilli())
		}
		if o.CreatedAt.Location() != time.UTC || !o.CreatedAt.Equal(o.CreatedAt.Truncate(time.Millisecond)) {
			t.Fatalf("created_at %v is not UTC at millisecond precision", o.CreatedAt)
		}
	}
}

// legalNext lists the statuses that may follow each status.
var legalNext = map[order.Status][]order.Status{
	order.StatusCreated: {order.StatusPaid, order.StatusCancelled},
	order.StatusPaid:    {order.StatusShipped, order.StatusCancelled},
	order.StatusShipped: {order.StatusDelivered},
}

func TestLifecycle(t *testing.T) {
	const orders = 3000
	tests := []struct {
		name                  string
		lifecycle, cancel     float64
		delay                 time.Duration
		wantLifecycleFraction float64
	}{
		{"defaults", DefaultLifecycleShare, DefaultCancelShare, DefaultLifecycleDelay, DefaultLifecycleShare},
		{"no lifecycle", 0, 0.5, time.Minute, 0},
		{"all cancelled", 1, 1, time.Minute, 1},
		{"immediate", 0.5, 0.3, 0, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(3)
			cfg.LifecycleShare, cfg.CancelShare, cfg.LifecycleDelay = tt.lifecycle, tt.cancel, tt.delay
			events := drive(t, newTestGenerator(t, cfg), testStart, orders, time.Second)

			history := map[string][]order.Order{}
			var ids []string // first-seen order, so failures are reproducible
			for _, ev := range events {
				o := decodeValid(t, ev)
				if _, seen := history[o.OrderID]; !seen {
					ids = append(ids, o.OrderID)
				}
				history[o.OrderID] = append(history[o.OrderID], o)
			}
			if len(ids) != orders {
				t.Fatalf("%d distinct orders, want %d", len(ids), orders)
			}
			var withLifecycle, cancelled int
			for _, id := range ids {
				versions := history[id]
				checkHistory(t, versions)
				if len(versions) > 1 {
					withLifecycle++
				}
				if versions[len(versions)-1].Status == order.StatusCancelled {
					cancelled++
				}
			}
			share := float64(withLifecycle) / orders
			if math.Abs(share-tt.wantLifecycleFraction) > 0.03 {
				t.Errorf("lifecycle share %.3f, want %.2f ± 0.03", share, tt.wantLifecycleFraction)
			}
			if withLifecycle > 0 {
				cancelShare := float64(cancelled) / float64(withLifecycle)
				if math.Abs(cancelShare-tt.cancel) > 0.03 {
					t.Errorf("cancel share %.3f, want %.2f ± 0.03", cancelShare, tt.cancel)
				}
			}
		})
	}
}

// checkHistory asserts one order's versions form a legal lifecycle in which
// only status, version and updated_at change.
func checkHistory(t *testing.T, versions []order.Order) {
	t.Helper()
	first := versions[0]
	if first.Version != 1 || first.Status != order.StatusCreated {
		t.Fatalf("%s starts at version %d %q", first.OrderID, first.Version, first.Status)
	}
	for i := 1; i < len(versions); i++ {
		prev, cur := versions[i-1], versions[i]
		if cur.Version != prev.Version+1 {
			t.Fatalf("%s: version %d follows %d", cur.OrderID, cur.Version, prev.Version)
		}
		if !slices.Contains(legalNext[prev.Status], cur.Status) {
			t.Fatalf("%s: %q follows %q", cur.OrderID, cur.Status, prev.Status)
		}
		if cur.UpdatedAt.Before(prev.UpdatedAt) {
			t.Fatalf("%s: updated_at goes back from %v to %v", cur.OrderID, prev.UpdatedAt, cur.UpdatedAt)
		}
		unchanged := cur
		unchanged.Status, unchanged.Version, unchanged.UpdatedAt = prev.Status, prev.Version, prev.UpdatedAt
		if !equalOrders(unchanged, prev) {
			t.Fatalf("%s: version %d changed more than status, version and updated_at", cur.OrderID, cur.Version)
		}
	}
	if len(versions) > 1 {
		if last := versions[len(versions)-1].Status; last != order.StatusDelivered && last != order.StatusCancelled {
			t.Fatalf("%s: lifecycle ends in %q", first.OrderID, last)
		}
	}
}

// TestBackfill replays three past days the way the producer does: orders
// at irregular past instants, follow-ups released as the replay clock
// passes them.
func TestBackfill(t *testing.T) {
	g := newTestGenerator(t, testConfig(9))
	end := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	start := end.Add(-72 * time.Hour)
	var events []Event
	clock := start
	for clock.Before(end) {
		events = appendDue(events, g, clock)
		events = append(events, g.Next(clock))
		// 0–60 s between orders, derived from the data so the test needs
		// no randomness of its own.
		clock = clock.Add(time.Duration(events[len(events)-1].Value[60]%61) * time.Second)
	}
	events = appendDue(events, g, end)
	if g.Pending() != 0 {
		next, _ := g.NextDue()
		t.Fatalf("%d follow-ups still pending at %v, next due %v", g.Pending(), end, next)
	}
	if len(events) < 5000 {
		t.Fatalf("backfill produced only %d events", len(events))
	}
	for i, ev := range events {
		if ev.At.Before(start) || ev.At.After(end) {
			t.Fatalf("event %d at %v, outside the backfilled range", i, ev.At)
		}
		if i > 0 && ev.At.Before(events[i-1].At) {
			t.Fatalf("event %d at %v is before event %d at %v", i, ev.At, i-1, events[i-1].At)
		}
		decodeValid(t, ev)
	}
}

func TestDueOrder(t *testing.T) {
	cfg := testConfig(11)
	cfg.LifecycleShare, cfg.CancelShare, cfg.LifecycleDelay = 1, 0, 0
	g := newTestGenerator(t, cfg)
	if _, ok := g.NextDue(); ok {
		t.Fatal("NextDue reports a follow-up on a fresh generator")
	}
	if _, ok := g.Due(testStart); ok {
		t.Fatal("Due returned an event on a fresh generator")
	}
	var created []string
	for range 3 {
		created = append(created, g.Next(testStart).OrderID)
	}
	if next, ok := g.NextDue(); !ok || !next.Equal(testStart) {
		t.Fatalf("NextDue() = %v, %v; want %v with zero delay", next, ok, testStart)
	}
	if _, ok := g.Due(testStart.Add(-time.Millisecond)); ok {
		t.Fatal("Due released a follow-up before its time")
	}
	// Equal due times must come out in creation order (the heap's
	// sequence tie-break), every order stepping once before any steps twice.
	for step := range 3 {
		for i, id := range created {
			ev, ok := g.Due(testStart)
			if !ok || ev.OrderID != id || ev.Version != step+2 {
				t.Fatalf("step %d, order %d: got %s v%d (%v), want %s v%d", step, i, ev.OrderID, ev.Version, ok, id, step+2)
			}
		}
	}
	if g.Pending() != 0 {
		t.Fatalf("Pending() = %d after every order was delivered", g.Pending())
	}
}

func TestDelaysFollowLifecycleDelay(t *testing.T) {
	cfg := testConfig(13)
	cfg.LifecycleShare, cfg.CancelShare, cfg.LifecycleDelay = 1, 0, time.Minute
	events := drive(t, newTestGenerator(t, cfg), testStart, 2000, time.Second)
	last := map[string]time.Time{}
	var sum time.Duration
	steps := 0
	for _, ev := range events {
		if prev, ok := last[ev.OrderID]; ok {
			d := ev.At.Sub(prev)
			if d < 15*time.Second || d > 135*time.Second {
				t.Fatalf("step delay %v outside 0.25×..2.25× the mean", d)
			}
			sum += d
			steps++
		}
		last[ev.OrderID] = ev.At
	}
	if mean := sum / time.Duration(steps); mean < 55*time.Second || mean > 65*time.Second {
		t.Fatalf("mean step delay %v, want about 1m", mean)
	}
}

func TestEventValueIsOwnedByCaller(t *testing.T) {
	g := newTestGenerator(t, testConfig(19))
	first := g.Next(testStart)
	snapshot := bytes.Clone(first.Value)
	for i := range 100 {
		g.Next(testStart.Add(time.Duration(i) * time.Second))
		appendDue(nil, g, testStart.Add(time.Hour))
	}
	if !bytes.Equal(first.Value, snapshot) {
		t.Fatal("a later call overwrote an earlier event's Value")
	}
	first.Key = append(first.Key, 'x') // must not spill into Value
	if !bytes.Equal(first.Value, snapshot) {
		t.Fatal("appending to Key overwrote Value")
	}
}
