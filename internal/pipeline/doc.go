// Package pipeline is the Go consumer's logic: Kafka orders in,
// Elasticsearch documents out, bad input to a dead-letter topic, with no
// dependency on main so that tests drive it with fakes or real services.
//
// # Acknowledgement rules
//
// A message is acked (its offset committed) only once it is handled, and
// handled means exactly one of:
//
//   - indexed: Elasticsearch answered 2xx for its document;
//   - already newer: Elasticsearch answered 409 under external versioning,
//     so it holds this version of the order or a later one;
//   - superseded: a later version of the same order in the same batch was
//     indexed or already newer (only the highest version per order_id is
//     sent; if Elasticsearch rejects it, the next version down is sent
//     instead, so the index ends where a one-at-a-time consumer leaves it);
//   - dead-lettered: undecodable, invalid, or rejected by Elasticsearch for
//     good (a 4xx whose error type blames the document, such as a mapping
//     or parse error; a closed or missing index or a cluster block is
//     retried), and the original bytes were acknowledged by Kafka on
//     the dead-letter topic, with headers saying why and where they came
//     from.
//
// Anything else (per-item 429 inside an HTTP 200, 5xx, connection refused)
// is retried with capped exponential backoff and jitter, for as long as it
// takes; only shutdown stops the retries, and then the message is not acked.
// A dead-letter write that fails is retried the same way. One that fails for
// good (kafka.ErrPermanent: e.g. a dead letter over the writer's batch bytes,
// or no permission on the topic) cannot be retried or skipped without losing
// the message: Run then returns an error naming its topic, partition and
// offset, with nothing at or after it committed, so a restart delivers it
// again.
//
// Offsets are committed per partition, and only up to the first message that
// is not handled: Kafka offsets mean "everything below is done", so one
// unhandled message holds back the commit of every later one in its
// partition. The pipeline works on one batch at a time and fetches nothing
// while a batch is in flight, which bounds memory and makes a slow
// Elasticsearch push back on Kafka instead of piling up messages.
//
// Delivery is therefore at least once: after a crash or a rebalance, messages
// since the last commit are delivered again. That is harmless because the
// sink is idempotent: _id = order_id and version = order.version with
// version_type=external, so a replay or an out-of-order retry can neither
// duplicate an order nor move it back to an older version. For the same
// reason a commit that fails (typically because a rebalance moved the
// partition) is logged and skipped, not fatal.
package pipeline
