package order

import (
	"bytes"
	"encoding/json"
	"errors"

	gojson "github.com/goccy/go-json"
)

// ErrMalformed is matched (via errors.Is) by every error that reports bytes
// which are not an order document at all: broken JSON, wrong JSON types,
// trailing garbage.
var ErrMalformed = errors.New("order: malformed document")

// DecodeError wraps the encoding/json error for a message that could not be
// decoded, so callers can both test for ErrMalformed and inspect the cause
// (for example a *json.SyntaxError offset).
type DecodeError struct {
	Err error
}

func (e *DecodeError) Error() string { return "order: malformed document: " + e.Err.Error() }

// Unwrap exposes the encoding/json error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrMalformed) true alongside the wrapped cause.
func (e *DecodeError) Is(target error) bool { return target == ErrMalformed }

// Decode parses one order document and validates it.
//
// Unknown fields are ignored so that producers can add fields before every
// consumer knows them; wrong types and trailing data after the object are
// rejected (json.Unmarshal already refuses anything but whitespace after the
// value). A document that parses but breaks the contract is returned
// together with its *ValidationError, so callers can still route it, for
// example to a dead-letter topic keyed by its order_id.
func Decode(data []byte) (Order, error) {
	var o Order
	if err := json.Unmarshal(data, &o); err != nil {
		return Order{}, &DecodeError{Err: err}
	}
	return o, o.Validate()
}

// Encode renders o as its JSON document, byte for byte what the generator
// publishes. It does not validate, so tests can deliberately produce
// documents that break the contract; call Validate first when that matters.
func Encode(o *Order) ([]byte, error) {
	var e Encoder
	return e.Encode(o)
}

// Encoder renders many orders through one reused buffer, for callers that
// hand each document on before encoding the next (the generator copies it
// into the Event it returns), so the wire format has one home without an
// allocation per order. The zero value is ready to use.
type Encoder struct {
	buf bytes.Buffer
	enc *gojson.Encoder
}

// Encode renders o as Encode does. The bytes are only valid until the next
// call, because they alias the reused buffer.
func (e *Encoder) Encode(o *Order) ([]byte, error) {
	if e.enc == nil {
		e.enc = newEncoder(&e.buf)
	}
	e.buf.Reset()
	if err := e.enc.Encode(o); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(e.buf.Bytes(), newline), nil
}

var newline = []byte("\n")

// newEncoder fixes the wire format in one place: no HTML escaping, because
// documents go to Kafka and Elasticsearch, not into web pages, and
// "Home & Kitchen" should stay readable.
//
// The bytes are encoding/json's, written by goccy/go-json: encoding was
// most of the cost of generating an order (encoding/json reflects over
// every field and compacts what time.Time's MarshalJSON returns), and
// go-json writes the same document in well under half the time, which
// the producer's load tests turn into messages a second. encoding/json
// stays the reference: codec_test.go and FuzzEncodeMatchesEncodingJSON
// hold the two byte-identical, and Decode keeps encoding/json, whose
// handling of hostile input the dead-letter rules are tested against.
func newEncoder(buf *bytes.Buffer) *gojson.Encoder {
	enc := gojson.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	return enc
}
