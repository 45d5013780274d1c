// Package failover proves that the pipeline loses nothing when a server of a
// replicated cluster dies mid-stream. Its tests run against the real 3-broker
// KRaft cluster and 2-node Elasticsearch cluster that `make test-cluster`
// starts (scripts/services with ORDERPIPE_KAFKA_NODES=3 ORDERPIPE_ES_NODES=2),
// kill one node with SIGKILL while the producer and the consumer are
// running, restart it, and then check the result exactly, as cases of the
// exact-result suite the single node's fault tests run too (internal/e2e):
// every order the producer counted as acknowledged is in the topic, the
// index holds each order once at its latest version, and the dead-letter
// topic exactly the malformed messages. They log how long each recovery
// took.
//
// The package holds only tests, behind the build tag "cluster", because
// they need servers of their own: the shared single-node services of the
// rest of the suite cannot lose a node.
package failover
