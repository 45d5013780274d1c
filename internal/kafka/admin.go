package kafka

import (
	kafkago "github.com/segmentio/kafka-go"
)

// Admin is a program's one client for metadata, offsets and topic
// creation: one transport, configured once (TLS, SASL), whose connection
// pool the calls share, instead of a new transport per call that left its
// pool open until the idle timeout.
//
// kafka-go answers Metadata from its pool's cache, refreshed every 6 s and
// only by this pool's own CreateTopics, so a shared pool does not see a
// topic someone else created a moment ago. The calls that look a topic up
// by name to decide something (exists? how many partitions? which offsets?)
// therefore start from fresh metadata (fresh); the periodic lag and commit
// reads of a topic known to exist use the cache.
type Admin struct {
	cfg       Config
	transport *kafkago.Transport
	client    *kafkago.Client
}

// NewAdmin builds the Admin; it does not contact Kafka.
func NewAdmin(cfg Config) (*Admin, error) {
	client, err := cfg.Client()
	if err != nil {
		return nil, err
	}
	tr, _ := client.Transport.(*kafkago.Transport)
	return &Admin{cfg: cfg, transport: tr, client: client}, nil
}

// fresh drops the pool, and with it the cached metadata, so the next
// request reads the cluster as it is now. Pools are reference counted, so a
// request in flight on another goroutine finishes on the old one.
func (a *Admin) fresh() {
	if a.transport != nil {
		a.transport.CloseIdleConnections()
	}
}

// Config is the connection the Admin was built from; readers built for the
// same program use it.
func (a *Admin) Config() Config { return a.cfg }
