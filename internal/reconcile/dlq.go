package reconcile

import "github.com/orderpipe/orderpipe/internal/deadletter"

// Source identifies one Kafka message. It is the dead-letter contract's
// type, so a DLQ record's source headers and a snapshot's messages compare
// directly.
type Source = deadletter.Source
