package generator

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderpipe/orderpipe/internal/order"
)

func TestMalformedShare(t *testing.T) {
	tests := []struct {
		share    float64
		min, max float64
	}{
		{0, 0, 0},
		{0.05, 0.035, 0.065},
		{1, 1, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.share), func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(5)
			cfg.MalformedShare = tt.share
			g := newTestGenerator(t, cfg)
			const calls = 10_000
			malformed := 0
			kinds := map[string]int{}
			keys := map[string]bool{}
			for i := range calls {
				ev := g.Next(testStart.Add(time.Duration(i) * time.Second))
				if ev.Malformed == "" {
					continue
				}
				malformed++
				kinds[ev.Malformed]++
				checkMalformed(t, ev)
				if keys[string(ev.Key)] {
					t.Fatalf("malformed key %s reused", ev.Key)
				}
				keys[string(ev.Key)] = true
			}
			if got := float64(malformed) / calls; got < tt.min || got > tt.max {
				t.Fatalf("malformed share %.4f, want [%.3f, %.3f]", got, tt.min, tt.max)
			}
			if malformed > 0 {
				for _, kind := range MalformedKinds {
					if kinds[kind] == 0 {
						t.Errorf("kind %q never produced in %d malformed messages", kind, malformed)
					}
				}
			}
		})
	}
}

func checkMalformed(t *testing.T, ev Event) {
	t.Helper()
	if !slices.Contains(MalformedKinds, ev.Malformed) {
		t.Fatalf("unknown malformed kind %q", ev.Malformed)
	}
	if _, err := uuid.Parse(string(ev.Key)); err != nil {
		t.Fatalf("malformed %s message has key %q, want a fresh order id", ev.Malformed, ev.Key)
	}
	_, err := order.Decode(ev.Value)
	if !errors.Is(err, order.ErrMalformed) && !errors.Is(err, order.ErrInvalid) {
		t.Fatalf("malformed %s message decodes (err = %v):\n%s", ev.Malformed, err, ev.Value)
	}
}
