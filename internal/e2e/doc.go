// Package e2e is the end-to-end stack of the tests: the whole pipeline on
// the real Kafka and Elasticsearch of scripts/with-services (the single
// node, or the replicated cluster of `make test-cluster`). A Stack is one
// test's topics, consumer group, index and index template; on it a test
// writes a generated order stream (or lets the real producer write one),
// runs whole consumers, in-process as internal/consumer assembles them for
// cmd/consumer, and asserts the exact result: every valid order in
// Elasticsearch once, at its latest version and status, nothing else; the
// dead-letter topic holding exactly the malformed messages.
//
// It is test support and only that: the tests of internal/consumer,
// cmd/consumer and internal/failover import it, no program does
// (TestOnlyTestsImportE2E).
package e2e
