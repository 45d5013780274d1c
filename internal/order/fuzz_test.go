package order_test

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/order"
)

// The fuzz target lives in the external test package because its seed
// corpus comes from the generator, which imports order: an in-package test
// importing it would be an import cycle.

func newGenerator(t testing.TB, cfg generator.Config) *generator.Generator {
	t.Helper()
	g, err := generator.New(cfg)
	if err != nil {
		t.Fatalf("generator.New: %v", err)
	}
	return g
}

func FuzzDecode(f *testing.F) {
	o := order.ValidOrder(f)
	f.Add(order.MustEncode(f, &o))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"items":[{"unit_price":1e400}]}`))
	g := newGenerator(f, generator.Config{Seed: 7, LifecycleShare: 1, MalformedShare: 0.5})
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 20 {
		f.Add(g.Next(now.Add(time.Duration(i) * time.Second)).Value)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := order.Decode(data)
		if err != nil {
			if !errors.Is(err, order.ErrMalformed) && !errors.Is(err, order.ErrInvalid) {
				t.Fatalf("Decode error %v is neither ErrMalformed nor ErrInvalid", err)
			}
			return
		}
		encoded := order.MustEncode(t, &got)
		again, err := order.Decode(encoded)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", encoded, err)
		}
		if !order.EqualOrders(got, again) {
			t.Fatalf("round trip changed the order:\n%+v\n%+v", got, again)
		}
		if reencoded := order.MustEncode(t, &again); !bytes.Equal(reencoded, encoded) {
			t.Fatalf("round trip not stable:\n%s\n%s", encoded, reencoded)
		}
	})
}

// TestGeneratedOrdersMatchEncodingJSON holds the generator's documents,
// written by Encode, to encoding/json's bytes for the same orders, across
// seeds and every lifecycle step.
func TestGeneratedOrdersMatchEncodingJSON(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for seed := range int64(5) {
		g := newGenerator(t, generator.Config{Seed: seed + 1, LifecycleShare: 1})
		for i := range 2_000 {
			ev := g.Next(now.Add(time.Duration(i) * time.Second))
			o, err := order.Decode(ev.Value)
			if err != nil {
				t.Fatalf("seed %d, event %d: %v", seed+1, i, err)
			}
			order.SameAsReference(t, &o)
			if again := order.MustEncode(t, &o); !bytes.Equal(again, ev.Value) {
				t.Fatalf("seed %d, event %d: re-encoding changed the document:\n%s\n%s", seed+1, i, ev.Value, again)
			}
		}
	}
}

// FuzzEncodeMatchesEncodingJSON feeds arbitrary strings, numbers and
// instants into an order's fields: Encode must write what encoding/json
// writes, or refuse what it refuses.
func FuzzEncodeMatchesEncodingJSON(f *testing.F) {
	f.Add("Ada Lovelace", "Home & Kitchen", 33.16, 51.5074, 1, int64(1741944413589000000), 0)
	f.Add("<script>\u2028", "\xff\x00\"\\", 1e21, -1e-7, -1, int64(-62135596800000000000/1e3), 3600)
	f.Add("", "", math.Copysign(0, -1), math.MaxFloat64, math.MaxInt, int64(0), -43200)
	f.Fuzz(func(t *testing.T, name, category string, total, lat float64, version int, unixNano int64, zoneSeconds int) {
		o := order.ValidOrder(t)
		o.Customer.Name, o.Items[0].Category, o.Shipping.City = name, category, name+category
		o.Total, o.Items[1].UnitPrice, o.Shipping.Location.Lat = total, total/3, lat
		o.Version = version
		o.UpdatedAt = time.Unix(0, unixNano).In(time.FixedZone("fuzz", zoneSeconds%(18*3600)))
		order.SameAsReference(t, &o)
	})
}
