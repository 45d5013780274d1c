package retry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDo(t *testing.T) {
	errBusy := errors.New("busy")
	errBad := errors.New("bad")
	fast := Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond}
	for _, tc := range []struct {
		name      string
		failures  int   // attempts that fail before one succeeds
		fail      error // what they fail with
		timeout   time.Duration
		wantCalls int
		wantErr   []error // each must match with errors.Is
		permanent bool    // the error still says waiting cannot fix it
	}{
		{"first attempt succeeds", 0, nil, time.Second, 1, nil, false},
		{"succeeds after retries, each notified", 3, errBusy, time.Second, 4, nil, false},
		{"permanent error returned at once, still marked", 5, Permanent(errBad), time.Second, 1, []error{errBad, ErrPermanent}, true},
		{"permanent deep in a chain", 5, fmt.Errorf("write: %w", Permanent(errBad)), time.Second, 1, []error{errBad, ErrPermanent}, true},
		{"context ends: its error and the last one", 1 << 30, errBusy, 30 * time.Millisecond, -1, []error{context.DeadlineExceeded, errBusy}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			calls, notified := 0, 0
			v, err := Do(ctx, fast, func() (int, error) {
				calls++
				if calls <= tc.failures {
					return 0, tc.fail
				}
				return 42, nil
			}, func(attempt int, err error, wait time.Duration) {
				notified++
				if attempt != notified || wait <= 0 {
					t.Errorf("notify(%d, %v, %s) as call %d", attempt, err, wait, notified)
				}
			})
			if tc.wantCalls >= 0 && calls != tc.wantCalls {
				t.Errorf("op called %d times, want %d", calls, tc.wantCalls)
			}
			if tc.wantErr == nil {
				if err != nil || v != 42 || notified != calls-1 {
					t.Errorf("Do = %d, %v after %d notifications; want 42, nil after %d", v, err, notified, calls-1)
				}
				return
			}
			for _, want := range tc.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("Do error %v does not match %v", err, want)
				}
			}
			if IsPermanent(err) != tc.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, IsPermanent(err), tc.permanent)
			}
			if tc.permanent && !strings.HasSuffix(err.Error(), errBad.Error()) {
				t.Errorf("Do error %q: the marker must add nothing to the message", err)
			}
		})
	}
}
