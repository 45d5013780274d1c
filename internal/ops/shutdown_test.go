package ops

import (
	"context"
	"testing"
	"time"
)

func TestOutlive(t *testing.T) {
	t.Run("alive while the parent is", func(t *testing.T) {
		parent, stop := context.WithCancel(context.Background())
		defer stop()
		ctx, cancel := Outlive(parent, time.Millisecond)
		defer cancel()
		time.Sleep(20 * time.Millisecond)
		if ctx.Err() != nil {
			t.Fatal("ended though its parent had not")
		}
	})
	t.Run("outlives the parent within the budget", func(t *testing.T) {
		parent, stop := context.WithCancel(context.Background())
		ctx, cancel := Outlive(parent, time.Hour)
		defer cancel()
		stop()
		if ctx.Err() != nil {
			t.Fatal("ended with its parent, not a budget after it")
		}
		cancel()
		if ctx.Err() == nil {
			t.Fatal("cancel did not end it")
		}
	})
	t.Run("ends once the budget after the parent is spent", func(t *testing.T) {
		parent, stop := context.WithCancel(context.Background())
		ctx, cancel := Outlive(parent, 10*time.Millisecond)
		defer cancel()
		stop()
		select {
		case <-ctx.Done():
		case <-time.After(30 * time.Second):
			t.Fatal("still alive long after its budget")
		}
	})
}
