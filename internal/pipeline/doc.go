// Package pipeline is the Go consumer's engine: Kafka orders in,
// Elasticsearch documents out, bad input to a dead-letter topic, with no
// dependency on main so that tests drive it with fakes or real services.
//
// # Stages
//
// The stages overlap, so that Elasticsearch, the one resource that bounds
// the consumer, is never idle while the consumer fetches, decodes or
// commits:
//
//   - fetch (fetch.go): one goroutine moves messages from the Fetcher's
//     own read-ahead queue into a short one of the pipeline's;
//   - dispatch (pipeline.go): messages are gathered into batches of at most
//     BulkSize messages or BulkBytes, each recorded in the ledger in fetch
//     order; a batch goes to a worker as soon as one of Workers is free and
//     the batch is full or has lingered FlushInterval (a few milliseconds,
//     not a flush timer: under load every worker is busy and batches fill
//     by themselves, and at a trickle a message waits one linger and one
//     bulk round trip);
//   - handle (batch.go): a worker decodes its batch, dead-letters bad input,
//     and sends the rest as one _bulk request, retrying what Elasticsearch
//     did not take; Workers batches are in flight at once and finish in any
//     order;
//   - commit (ledger.go, commit.go): the ledger marks each handled message
//     done, and a committer commits, per partition and asynchronously, the
//     end of the contiguous done prefix (the idea of kafka-connect-
//     elasticsearch's AsyncOffsetTracker).
//
// When every worker is busy and the next batch is full, fetching waits:
// a slow Elasticsearch pushes back on Kafka. What the pipeline holds is
// bounded in messages and bytes: the Fetcher's read-ahead
// (kafka.GroupMember's shared queue and its per-partition prefetch), the
// pipeline's queue of at most 256, Workers + 1 batches of at most BulkSize
// messages and about BulkBytes each, and the ledger. The ledger keeps a few
// bytes per message that is fetched and not yet committable, and one
// message that never finishes (a document retried for ever) makes every
// later message of its partition such a message; so a partition with
// MaxUncommitted of them is held back until half of them are released,
// and readiness and the log say "partition 3 held back: 50000 messages
// waiting behind offset 1234 since 12:00:01". With a PartitionFetcher
// (hold.go), which kafka.GroupMember is, that partition alone is paused:
// its messages already on their way (the read-ahead, at most) are parked
// untracked and go first when it resumes, the rest stays in Kafka, and the
// other partitions flow on. With any other Fetcher the whole fetch waits.
// A batch acks what it handled after each bulk request, not when it ends,
// so the stuck document's batch holds back only its own partition.
//
// # Acknowledgement rules
//
// A message is acked (marked done in the ledger, so a commit may pass it)
// only once it is handled, and handled means exactly one of:
//
//   - indexed: Elasticsearch answered 2xx for its document;
//   - already newer: Elasticsearch answered 409 under external versioning,
//     so it holds this version of the order or a later one;
//   - superseded: a later version of the same order in the same batch was
//     indexed or already newer (only the highest version per order_id in a
//     batch is sent; if Elasticsearch rejects it, the next version down is
//     sent instead, so the index ends where a one-at-a-time consumer leaves
//     it);
//   - dead-lettered: undecodable, invalid, or rejected by Elasticsearch for
//     good (a 4xx whose error type blames the document, such as a mapping
//     or parse error; a closed or missing index or a cluster block is
//     retried), and the original bytes were acknowledged by Kafka on
//     the dead-letter topic, with headers saying why and where they came
//     from.
//
// Anything else (per-item 429 inside an HTTP 200, 5xx, connection refused)
// is retried under one policy (retry.go): capped exponential backoff with
// jitter, for as long as it takes; only shutdown stops the retries, and then
// the message is not acked. A dead-letter write that fails is retried the
// same way, sending again only what Kafka did not acknowledge. A dead
// letter Kafka refuses as too large (the writer's batch bytes, the topic's
// max.message.bytes) is written cut to fit (deadletters.go): the reason and
// source headers kept, a header with the original size, as much of the
// value as fits; the source topic still holds the whole message. One that
// fails for good otherwise (retry.IsPermanent: e.g. no permission on the
// topic) cannot be retried or skipped without losing the message: Run then
// stops fetching, lets the other batches finish, and returns an error naming
// its topic, partition and offset and what to change, with nothing at or
// after it committed, so a restart delivers it again.
//
// Offsets are committed per partition, and only up to the first message that
// is not handled: Kafka offsets mean "everything below is done", so one
// unhandled message holds back the commit of every later one in its
// partition, even those handled by batches that finished first.
//
// # Rebalances
//
// kafka.GroupMember says which partitions a new generation of the group
// took away from this member, before that generation reads anything
// (PartitionFetcher.Revocations). The pipeline then drops those
// partitions' books at once: what it had fetched of them and not sent is
// taken out of the batch being gathered, what is still on its way (read by
// an older generation) is dropped on arrival, their batches in flight stop
// retrying (counted in Stats.Abandoned), and nothing more of them is
// committed; the new owner reads them from the last commit. The member
// itself commits only the partitions the current generation assigns to it.
// A revocation is taken even while every worker is busy, since the batches
// it abandons may be what keeps them busy.
//
// Every new generation reads the partitions it assigns from their
// committed offsets, including those this member keeps, and so does any
// rebalance with a Fetcher that does not report revocations (a kafka-go
// Reader). The ledger sees that as a fetch at an offset it already
// tracked, and then opens a new book for the partition, so batches still in
// flight from before can no longer move its commit; their documents that
// Elasticsearch did not take are not retried (they are delivered again in
// the new book), and the old book no longer holds back the fetch. With such
// a Fetcher, the in-flight batches of a partition that moved to another
// member finish, and their commit (the broker accepts it from any member of
// the generation) covers only what they handled: it never passes an
// unhandled message, at worst it moves the new owner's commit back and
// causes re-delivery.
//
// Delivery is therefore at least once: after a crash or a rebalance, messages
// since the last commit are delivered again. That is harmless because the
// sink is idempotent: _id = order_id and version = order.version with
// version_type=external, so a replay, an out-of-order retry or two batches
// racing with versions of one order can neither duplicate an order nor move
// it back to an older version. For the same reason a commit that fails
// (typically because a rebalance moved the partition) is logged and retried,
// not fatal.
package pipeline
