package generator

import (
	"bytes"
	"math"
	"time"
)

// MalformedKinds lists the defects the generator can inject. Each one is a
// failure real pipelines meet: cut-off writes, foreign producers sharing a
// topic, schema drift and business-rule bugs.
var MalformedKinds = []string{
	"truncated_json",
	"not_json",
	"wrong_type",
	"bad_timestamp",
	"missing_order_id",
	"unknown_status",
	"negative_quantity",
	"total_mismatch",
}

// malformed builds a valid order, then breaks it in one of MalformedKinds.
// The first four fail to decode (order.ErrMalformed); the rest decode but fail
// validation (order.ErrInvalid), so consumers' two rejection paths both get
// traffic.
func (g *Generator) malformed(now time.Time) Event {
	fu := &g.scratch
	g.fillOrder(fu, now)
	o := &fu.order
	kind := MalformedKinds[g.rand.Intn(len(MalformedKinds))]
	switch kind {
	case "unknown_status":
		o.Status = "refunded"
	case "negative_quantity":
		line := &o.Items[g.rand.Intn(len(o.Items))]
		o.ItemCount -= 2 * line.Quantity
		line.Quantity = -line.Quantity
		line.LineTotal = -line.LineTotal
	case "total_mismatch":
		o.Total = money(int64(math.Round(o.Total*100)) + 1 + g.rand.Int63n(999))
	}
	ev := g.event(o)
	ev.Version, ev.Status, ev.Malformed = 0, "", kind

	// The remaining kinds cannot be expressed as an order.Order, so they edit
	// the encoded bytes, which ev owns.
	value := ev.Value
	switch kind {
	case "truncated_json":
		value = value[:1+g.rand.Intn(len(value)-1)]
	case "not_json":
		value = append(value[:0], notJSON[g.rand.Intn(len(notJSON))]...)
		value = append(value, ev.OrderID...)
	case "wrong_type":
		value = replaceFirst(value, `"version":1,`, `"version":"1",`)
	case "bad_timestamp":
		value = replaceFirst(value, `"created_at":"`, `"created_at":"yesterday","x":"`)
	case "missing_order_id":
		value = replaceFirst(value, `"order_id":"`+ev.OrderID+`",`, "")
	}
	ev.Value = value
	return ev
}

// notJSON are prefixes of things that end up on order topics by mistake;
// each is followed by the order id.
var notJSON = []string{
	"ERROR payment-gateway timeout after 30s order=",
	"<html><head><title>502 Bad Gateway</title></head></html> ",
	"order_id,total,currency\n",
	"\x00\x01\x02binary-frame ",
}

func replaceFirst(b []byte, old, replacement string) []byte {
	return bytes.Replace(b, []byte(old), []byte(replacement), 1)
}
