// Package retry is the one wait-and-try-again loop for the calls a program
// makes while its servers come up or stall: installing the index template,
// creating or looking up a topic, writing to Kafka, waiting for
// Elasticsearch in orderctl setup. Every such loop waits with capped
// exponential backoff from cenkalti/backoff, logs each attempt through the
// caller's notify, gives up at once on an error marked Permanent, and
// otherwise waits until ctx ends.
//
// It is a leaf package of its own rather than part of internal/ops, because
// internal/kafka and internal/elastic use it and must not depend on the ops
// HTTP server. The consumer engine's policy (internal/pipeline/retry.go)
// stays separate: it also drives readiness and splits batches.
package retry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Backoff is the wait between attempts: Initial first, growing by half each
// time (with ±50 % jitter) up to Max. Initial == Max waits about that long
// every time.
type Backoff struct {
	Initial, Max time.Duration
}

// ErrPermanent is matched (errors.Is) by every error marked with
// Permanent, wherever it sits in a chain of wrappers: the one marker for "waiting
// cannot fix this", for Do's loops and for the callers that decide after
// them (a dead letter Kafka refuses for good stops the consumer).
var ErrPermanent = errors.New("permanent failure")

// Permanent marks err as one waiting cannot fix: Do returns it at once.
// The marker adds nothing to the message.
func Permanent(err error) error { return &permanent{err} }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

type permanent struct{ err error }

func (p *permanent) Error() string        { return p.err.Error() }
func (p *permanent) Unwrap() error        { return p.err }
func (p *permanent) Is(target error) bool { return target == ErrPermanent }

// Do calls op until it succeeds, fails with a Permanent error (returned as
// it is, still marked, so a caller can tell it from ctx's end), or ctx ends (ctx's error and the last one,
// both matchable with errors.Is). Before each wait it calls notify, when
// not nil, with the attempt that failed (from 1), its error and the wait.
func Do[T any](ctx context.Context, b Backoff, op func() (T, error), notify func(attempt int, err error, wait time.Duration)) (T, error) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = b.Initial
	bo.MaxInterval = b.Max
	bo.MaxElapsedTime = 0 // only ctx ends the wait
	bo.Reset()
	for attempt := 1; ; attempt++ {
		v, err := op()
		if err == nil {
			return v, nil
		}
		if IsPermanent(err) {
			return v, err
		}
		if ctx.Err() != nil {
			return v, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
		wait := bo.NextBackOff()
		if notify != nil {
			notify(attempt, err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
