// Package generator produces realistic order traffic for the order contract:
// the producer's stream, the tests' fixtures and the benchmarks' load.
//
// Generator produces orders from a pool of returning customers and a product
// catalog built from a seed with gofakeit, and keeps the follow-up events of
// each order in a min-heap by due time. Callers drive it with the clock:
// Next(now) creates an order, Due(now) releases follow-ups whose time has
// come. Because time is an argument and every random choice comes from one
// seeded source, the output is a pure function of the seed, the config and
// the calls, which makes runs replayable and lets a backfill use the same
// API with past timestamps. The package does no I/O; producers take Event
// key/value pairs to Kafka themselves.
//
// It lives apart from package order so that programs which only read
// orders do not link it: the consumer's binary carries no gofakeit.
package generator
