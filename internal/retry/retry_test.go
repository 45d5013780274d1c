package retry

import (
	"context"
	"errors"
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
	}{
		{"first attempt succeeds", 0, nil, time.Second, 1, nil},
		{"succeeds after retries, each notified", 3, errBusy, time.Second, 4, nil},
		{"permanent error returned at once, unwrapped", 5, Permanent(errBad), time.Second, 1, []error{errBad}},
		{"context ends: its error and the last one", 1 << 30, errBusy, 30 * time.Millisecond, -1, []error{context.DeadlineExceeded, errBusy}},
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
			var p *permanent
			if errors.As(err, &p) {
				t.Errorf("Do returned the Permanent marker: %v", err)
			}
		})
	}
}
