package order

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustEncode(t testing.TB, o *Order) []byte {
	t.Helper()
	b, err := Encode(o)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b
}

// equalOrders compares instants rather than time.Location pointers, which
// differ between two decodes of the same "+01:00" offset.
func equalOrders(a, b Order) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) || !a.UpdatedAt.Equal(b.UpdatedAt) {
		return false
	}
	a.CreatedAt, a.UpdatedAt, b.CreatedAt, b.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func wantMalformed(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want errors.Is(err, ErrMalformed)", err)
	}
	var derr *DecodeError
	if !errors.As(err, &derr) || derr.Unwrap() == nil {
		t.Fatalf("err = %T %v, want *DecodeError wrapping the json error", err, err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Fatalf("decode error %v also matches ErrInvalid", err)
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	want := validOrder(t)
	got, err := Decode(mustEncode(t, &want))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !bytes.Equal(mustEncode(t, &got), mustEncode(t, &want)) {
		t.Fatalf("round trip changed the order:\n got %+v\nwant %+v", got, want)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || got.Total != want.Total {
		t.Fatalf("round trip changed fields: %+v", got)
	}
}

func TestEncodeUsesContractFieldNames(t *testing.T) {
	o := validOrder(t)
	var doc map[string]any
	if err := json.Unmarshal(mustEncode(t, &o), &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		"order_id", "version", "status", "created_at", "updated_at", "customer", "channel",
		"items", "item_count", "currency", "subtotal", "discount", "tax", "shipping_cost",
		"total", "payment", "shipping",
	} {
		if _, ok := doc[key]; !ok {
			t.Errorf("encoded order lacks %q", key)
		}
	}
	if got := doc["created_at"]; got != "2025-03-14T09:26:53.589Z" {
		t.Errorf("created_at = %v, want RFC 3339 UTC with milliseconds", got)
	}
	loc := doc["shipping"].(map[string]any)["location"].(map[string]any)
	if _, ok := loc["lat"]; !ok {
		t.Errorf("shipping.location = %v, want lat/lon", loc)
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	o := validOrder(t)
	valid := string(mustEncode(t, &o))
	tests := []struct {
		name string
		data string
	}{
		{"empty", ""},
		{"not json", "ERROR timeout"},
		{"truncated", valid[:len(valid)/2]},
		{"array", "[" + valid + "]"},
		{"trailing object", valid + valid},
		{"trailing garbage", valid + " x"},
		{"version as string", strings.Replace(valid, `"version":1`, `"version":"1"`, 1)},
		{"quantity as float", strings.Replace(valid, `"quantity":2`, `"quantity":2.5`, 1)},
		{"bad timestamp", strings.Replace(valid, `"created_at":"2025-03-14T09:26:53.589Z"`, `"created_at":"yesterday"`, 1)},
		{"items as object", strings.Replace(valid, `"items":[`, `"items":{"x":[`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.data))
			wantMalformed(t, err)
			if got.OrderID != "" {
				t.Fatalf("Decode returned a partial order %+v", got)
			}
		})
	}
}

func TestDecodeExposesJSONCause(t *testing.T) {
	_, err := Decode([]byte(`{"order_id":`))
	var syntax *json.SyntaxError
	if !errors.As(err, &syntax) {
		t.Fatalf("err = %v, want a wrapped *json.SyntaxError", err)
	}
}

func TestDecodeIsLenient(t *testing.T) {
	o := validOrder(t)
	valid := string(mustEncode(t, &o))
	tests := []struct {
		name string
		data string
	}{
		{"unknown top-level field", strings.Replace(valid, `{`, `{"loyalty_points":12,`, 1)},
		{"unknown nested field", strings.Replace(valid, `"segment":"consumer"`, `"segment":"consumer","tier":"gold"`, 1)},
		{"surrounding whitespace", "\n  " + valid + "\n"},
		{"non-UTC offset", strings.Replace(valid, `"updated_at":"2025-03-14T09:26:53.589Z"`, `"updated_at":"2025-03-14T10:26:53.589+01:00"`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.data))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.OrderID != o.OrderID {
				t.Fatalf("order_id = %q", got.OrderID)
			}
		})
	}
}

func TestDecodeReturnsInvalidOrder(t *testing.T) {
	o := validOrder(t)
	o.Total = 1
	got, err := Decode(mustEncode(t, &o))
	wantInvalid(t, err, "total")
	if got.OrderID != o.OrderID {
		t.Fatalf("Decode dropped the invalid order; callers need its order_id to route it")
	}
}
