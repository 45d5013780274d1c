// Package order is the order contract every orderpipe component agrees on,
// and the generator that produces realistic traffic for it.
//
// # Contract
//
// An Order is one version of an order document, encoded as snake_case JSON.
// Each lifecycle event (created → paid → shipped → delivered, or cancelled
// after creation or payment) republishes the whole document with Version
// increased by one, so consumers can upsert by order_id and keep the highest
// version instead of replaying a stream of partial updates. Money is carried
// as decimal numbers with at most two fractional digits, but every check is
// done in integer cents so float rounding never rejects a correct order.
//
// Decode is the one way to read a document: it separates bytes that are not
// an order at all (errors.Is(err, ErrMalformed), a *DecodeError) from orders
// that break a business rule (errors.Is(err, ErrInvalid), a
// *ValidationError naming the JSON path of the field). Unknown fields are
// ignored so producers can add fields before consumers learn them.
//
// # Generator
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
package order
