package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// retry is the pipeline's one retry policy, for documents Elasticsearch did
// not take and dead letters Kafka did not acknowledge alike: try is called
// until it reports done (true, nil), fails for good (false, err), or work
// ends (false, nil); between attempts it waits with capped exponential
// backoff and jitter, for as long as it takes. While attempts fail, the
// component's readiness reason is the one try gave, and it clears when
// the last batch failing on that component recovers: several batches are
// in flight, and one success must not hide another's outage.
func (p *Pipeline) retry(work context.Context, component string, try func(attempt int) (done bool, reason string, err error)) (bool, error) {
	bo := p.backoff()
	failing := false
	defer func() {
		if failing {
			p.unhealthy.recover(component)
		}
	}()
	for attempt := 1; ; attempt++ {
		done, reason, err := try(attempt)
		if done || err != nil {
			return done, err
		}
		if work.Err() != nil {
			return false, nil
		}
		if !failing {
			failing = true
			p.unhealthy.fail(component, reason)
		} else {
			p.unhealthy.update(component, reason)
		}
		select {
		case <-work.Done():
			return false, nil
		case <-time.After(bo.NextBackOff()):
		}
	}
}

// unhealthy counts, per component, the batches currently retrying against
// it, and publishes the latest reason while any is.
type unhealthy struct {
	mu     sync.Mutex
	health *Health
	count  map[string]int
}

func (u *unhealthy) fail(component, reason string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.count[component]++
	u.health.Set(component, reason)
}

func (u *unhealthy) update(component, reason string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.health.Set(component, reason)
}

func (u *unhealthy) recover(component string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.count[component]--
	if u.count[component] == 0 {
		u.health.Set(component, "")
	}
}

// backoff is the policy's wait between attempts: capped exponential with
// jitter, and no limit on elapsed time (only shutdown ends the retries).
func (p *Pipeline) backoff() *backoff.ExponentialBackOff {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = p.cfg.RetryInitial
	bo.MaxInterval = p.cfg.RetryMax
	bo.MaxElapsedTime = 0
	bo.Reset()
	return bo
}
