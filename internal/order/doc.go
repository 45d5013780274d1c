// Package order is the order contract every orderpipe component agrees on:
// the document, its JSON encoding and its validation rules, and nothing
// else, so a program that only reads orders (the consumer) links no
// generator and no fake-data library.
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
package order
