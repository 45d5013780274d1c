package ops

import (
	"context"
	"errors"
	"testing"
)

func TestOpsServerFailureStopsTheWorker(t *testing.T) {
	opsErr := errors.New("serve ops: accept: too many open files")
	workStopped := make(chan struct{})
	err := RunWith(context.Background(),
		func(ctx context.Context) error { return opsErr },
		func(ctx context.Context) error {
			<-ctx.Done() // drains like on SIGTERM
			close(workStopped)
			return nil
		})
	if !errors.Is(err, opsErr) {
		t.Fatalf("RunWith = %v, want the ops error", err)
	}
	select {
	case <-workStopped:
	default:
		t.Fatal("RunWith returned before the worker stopped")
	}
}

func TestOpsServerOutlivesTheDrain(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	opsCtx := make(chan context.Context, 1)
	opsStopped := make(chan struct{})
	var opsAliveAfterDrain bool
	err := RunWith(ctx,
		func(ctx context.Context) error {
			opsCtx <- ctx
			<-ctx.Done()
			close(opsStopped)
			return nil
		},
		func(ctx context.Context) error {
			oc := <-opsCtx
			cancel() // SIGTERM
			<-ctx.Done()
			opsAliveAfterDrain = oc.Err() == nil // the drain ends here
			return errors.New("worker failed")
		})
	if err == nil || err.Error() != "worker failed" {
		t.Fatalf("RunWith = %v, want the worker's error", err)
	}
	if !opsAliveAfterDrain {
		t.Error("the ops server was stopped before the worker finished draining")
	}
	select {
	case <-opsStopped:
	default:
		t.Error("RunWith returned with the ops server still running")
	}
}
