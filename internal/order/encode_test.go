package order

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// referenceEncode is the wire format as encoding/json writes it, which
// Encode's faster library must reproduce byte for byte.
func referenceEncode(t testing.TB, o *Order) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(o); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), newline), nil
}

// sameAsReference fails t unless Encode and encoding/json agree on o: the
// same bytes, or both refusing it.
func sameAsReference(t testing.TB, o *Order) {
	t.Helper()
	want, wantErr := referenceEncode(t, o)
	got, err := Encode(o)
	switch {
	case (err != nil) != (wantErr != nil):
		t.Fatalf("Encode error %v, encoding/json error %v, for %+v", err, wantErr, o)
	case err == nil && !bytes.Equal(got, want):
		t.Fatalf("Encode differs from encoding/json:\n got %s\nwant %s", got, want)
	}
}

func TestEncodeMatchesEncodingJSONOnEdgeCases(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	cases := []struct {
		name string
		edit func(*Order)
	}{
		{"as made", func(*Order) {}},
		{"html characters stay as they are", func(o *Order) { o.Items[0].Name = `<b>"Fish & Chips"</b>` }},
		{"line and paragraph separators", func(o *Order) { o.Customer.Name = "a\u2028b\u2029c" }},
		{"control characters", func(o *Order) { o.Shipping.City = "tab\there\nnew\x00nul\x1fus\x7fdel" }},
		{"backslash and quotes", func(o *Order) { o.Customer.Email = `a\"b'c` }},
		{"non-ASCII", func(o *Order) { o.Shipping.City = "Zürich 東京 🛒" }},
		{"invalid UTF-8", func(o *Order) { o.Customer.Name = "bad \xff\xfe bytes \xc3" }},
		{"empty strings and no items", func(o *Order) { o.Items = nil; o.Currency, o.Channel = "", "" }},
		{"empty item list", func(o *Order) { o.Items = []Item{} }},
		{"zero time", func(o *Order) { o.CreatedAt = time.Time{} }},
		{"nanoseconds and a zone", func(o *Order) { o.UpdatedAt = time.Date(2025, 1, 2, 3, 4, 5, 123456789, tokyo) }},
		{"whole nanoseconds trimmed", func(o *Order) { o.UpdatedAt = time.Date(2025, 1, 2, 3, 4, 5, 120000000, time.UTC) }},
		{"large and small floats", func(o *Order) {
			o.Subtotal, o.Discount, o.Tax, o.ShippingCost, o.Total = 1e21, 1e-7, 123456789.125, 0.1+0.2, 9.999999999999999e20
		}},
		{"negative zero and negatives", func(o *Order) { o.Discount, o.Tax = math.Copysign(0, -1), -42.42 }},
		{"extreme floats", func(o *Order) { o.Shipping.Location = GeoPoint{Lat: math.MaxFloat64, Lon: math.SmallestNonzeroFloat64} }},
		{"NaN is refused", func(o *Order) { o.Total = math.NaN() }},
		{"infinity is refused", func(o *Order) { o.Items[1].UnitPrice = math.Inf(-1) }},
		{"extreme integers", func(o *Order) { o.Version, o.ItemCount, o.Items[0].Quantity = math.MaxInt, math.MinInt, -1 }},
		{"long string", func(o *Order) { o.Items[0].Name = strings.Repeat("ab\"c\u00e9", 20_000) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := validOrder(t)
			tc.edit(&o)
			sameAsReference(t, &o)
		})
	}
}
