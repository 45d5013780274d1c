package order_test

import (
	"bytes"
	"errors"
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
