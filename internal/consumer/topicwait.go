package consumer

import (
	"context"
	"fmt"
	"time"
)

// How the consumer waits for its topic: checks at growing pauses up to
// topicCheckMax, so consumption starts within about that of the topic
// appearing; a line for each of the first topicLoggedChecks checks, then
// at most one every topicLogEvery, so that a consumer started long before
// its producer says why it waits without flooding the log.
const (
	topicCheckFirst   = 250 * time.Millisecond
	topicCheckMax     = 2 * time.Second
	topicLoggedChecks = 3
	topicLogEvery     = 10 * time.Second
)

// waitForTopic returns once the orders topic exists, before the consumer
// joins its group: a group member on a missing topic gets no partitions,
// and kafka-go then logs its failed partition lookups several hundred
// times a second. While it waits, /readyz says why. stopped reports that
// ctx ended first, a clean stop: nothing was fetched.
func (c *Consumer) waitForTopic(ctx context.Context) (stopped bool) {
	log, topic := c.opt.Log, c.s.Topic
	pause := topicCheckFirst
	var lastLog time.Time
	notLogged := 0
	for check := 1; ; check++ {
		_, exists, err := c.admin.TopicPartitions(ctx, topic)
		switch {
		case ctx.Err() != nil:
			return true
		case err == nil && exists:
			if check > 1 {
				log.Info("topic exists now; joining the consumer group", "topic", topic, "checks", check)
			}
			return false
		}
		reason := fmt.Sprintf("waiting for topic %s (KAFKA_TOPIC) to exist: create it with `orderctl setup`, or start the producer, which creates it", topic)
		if err != nil {
			reason = fmt.Sprintf("waiting for kafka to say whether topic %s (KAFKA_TOPIC) exists: %v", topic, err)
		}
		c.opt.Health.Set("startup", reason)
		if now := time.Now(); check <= topicLoggedChecks || now.Sub(lastLog) >= topicLogEvery {
			log.Warn(reason, "topic", topic, "check", check, "checks_not_logged", notLogged, "next_check_in", pause.String())
			lastLog, notLogged = now, 0
		} else {
			notLogged++
		}
		select {
		case <-ctx.Done():
			return true
		case <-time.After(pause):
		}
		pause = min(2*pause, topicCheckMax)
	}
}
