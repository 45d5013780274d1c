package order

import (
	"errors"
	"math"
	"testing"
	"time"
)

// validOrder is a hand-checked document that satisfies every rule; tests
// break one rule at a time from it.
func validOrder(t testing.TB) Order {
	t.Helper()
	created := time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, time.UTC)
	return Order{
		OrderID:   "01959412-3f4d-7a2b-8c3d-4e5f60718293",
		Version:   1,
		Status:    StatusCreated,
		CreatedAt: created,
		UpdatedAt: created,
		Customer:  Customer{ID: "CUST-000042", Name: "Ada Lovelace", Email: "ada@example.com", Segment: "consumer"},
		Channel:   "web",
		Items: []Item{
			{SKU: "BOO-00001", Name: "Notes on the Engine", Category: "Books", UnitPrice: 12.99, Quantity: 2, LineTotal: 25.98},
			{SKU: "ELE-00002", Name: "Brass Gear", Category: "Electronics", UnitPrice: 0.1, Quantity: 3, LineTotal: 0.3},
			{SKU: "HOM-00003", Name: "Punched Cards", Category: "Home & Kitchen", UnitPrice: 0.2, Quantity: 1, LineTotal: 0.2},
		},
		ItemCount:    6,
		Currency:     "USD",
		Subtotal:     26.48,
		Discount:     1.32,
		Tax:          2.01,
		ShippingCost: 5.99,
		Total:        33.16,
		Payment:      Payment{Method: "card"},
		Shipping: Shipping{
			City: "London", State: "England", Country: "United Kingdom", CountryCode: "GB",
			PostalCode: "SW1A 1AA", Location: GeoPoint{Lat: 51.5074, Lon: -0.1278},
		},
	}
}

// wantInvalid asserts err is a *ValidationError for field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want errors.Is(err, ErrInvalid)", err)
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %T, want *ValidationError", err)
	}
	if verr.Field != field {
		t.Fatalf("Field = %q (%v), want %q", verr.Field, err, field)
	}
	if errors.Is(err, ErrMalformed) {
		t.Fatalf("validation error %v also matches ErrMalformed", err)
	}
}

func TestValidateAcceptsValidOrders(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Order)
	}{
		{"created", func(*Order) {}},
		{"paid", func(o *Order) { o.Status, o.Version = StatusPaid, 2 }},
		{"shipped", func(o *Order) { o.Status, o.Version = StatusShipped, 3 }},
		{"delivered", func(o *Order) { o.Status, o.Version = StatusDelivered, 4 }},
		{"cancelled before payment", func(o *Order) { o.Status, o.Version = StatusCancelled, 2 }},
		{"cancelled after payment", func(o *Order) { o.Status, o.Version = StatusCancelled, 3 }},
		{"later update", func(o *Order) { o.UpdatedAt = o.CreatedAt.Add(time.Hour) }},
		{"free items and shipping", func(o *Order) {
			o.Items = []Item{{SKU: "S", Name: "Gift", Category: "Toys", Quantity: 1}}
			o.ItemCount, o.Subtotal, o.Discount, o.Tax, o.ShippingCost, o.Total = 1, 0, 0, 0, 0, 0
		}},
		{"full discount", func(o *Order) { o.Discount, o.Total = 26.48, 8 }},
		{"edge coordinates", func(o *Order) { o.Shipping.Location = GeoPoint{Lat: -90, Lon: 180} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOrder(t)
			tt.mutate(&o)
			if err := o.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Order)
		field  string
	}{
		{"empty order_id", func(o *Order) { o.OrderID = "" }, "order_id"},
		{"order_id not a uuid", func(o *Order) { o.OrderID = "order-1" }, "order_id"},
		{"order_id braced", func(o *Order) { o.OrderID = "{" + o.OrderID + "}" }, "order_id"},
		{"version zero", func(o *Order) { o.Version = 0 }, "version"},
		{"unknown status", func(o *Order) { o.Status = "refunded" }, "status"},
		{"created_at unset", func(o *Order) { o.CreatedAt = time.Time{} }, "created_at"},
		{"updated_at unset", func(o *Order) { o.UpdatedAt = time.Time{} }, "updated_at"},
		{"updated before created", func(o *Order) { o.UpdatedAt = o.CreatedAt.Add(-time.Millisecond) }, "updated_at"},
		{"created with version 2", func(o *Order) { o.Version = 2 }, "version"},
		{"paid with version 3", func(o *Order) { o.Status, o.Version = StatusPaid, 3 }, "version"},
		{"shipped with version 2", func(o *Order) { o.Status, o.Version = StatusShipped, 2 }, "version"},
		{"delivered with version 3", func(o *Order) { o.Status, o.Version = StatusDelivered, 3 }, "version"},
		{"cancelled with version 1", func(o *Order) { o.Status = StatusCancelled }, "version"},
		{"cancelled with version 4", func(o *Order) { o.Status, o.Version = StatusCancelled, 4 }, "version"},
		{"customer id", func(o *Order) { o.Customer.ID = "" }, "customer.id"},
		{"customer name", func(o *Order) { o.Customer.Name = "" }, "customer.name"},
		{"customer email", func(o *Order) { o.Customer.Email = "ada.example.com" }, "customer.email"},
		{"customer segment", func(o *Order) { o.Customer.Segment = "vip" }, "customer.segment"},
		{"channel", func(o *Order) { o.Channel = "fax" }, "channel"},
		{"no items", func(o *Order) { o.Items = nil }, "items"},
		{"too many items", func(o *Order) { o.Items = make([]Item, maxItems+1) }, "items"},
		{"sku", func(o *Order) { o.Items[1].SKU = "" }, "items[1].sku"},
		{"item name", func(o *Order) { o.Items[1].Name = "" }, "items[1].name"},
		{"category", func(o *Order) { o.Items[2].Category = "" }, "items[2].category"},
		{"zero quantity", func(o *Order) { o.Items[0].Quantity = 0 }, "items[0].quantity"},
		{"negative quantity", func(o *Order) { o.Items[0].Quantity = -2 }, "items[0].quantity"},
		{"huge quantity", func(o *Order) { o.Items[0].Quantity = maxQuantity + 1 }, "items[0].quantity"},
		{"negative unit_price", func(o *Order) { o.Items[0].UnitPrice = -12.99 }, "items[0].unit_price"},
		{"unit_price sub-cent", func(o *Order) { o.Items[0].UnitPrice = 12.995 }, "items[0].unit_price"},
		{"unit_price NaN", func(o *Order) { o.Items[0].UnitPrice = math.NaN() }, "items[0].unit_price"},
		{"unit_price huge", func(o *Order) { o.Items[0].UnitPrice = 1e300 }, "items[0].unit_price"},
		{"line_total sub-cent", func(o *Order) { o.Items[2].LineTotal = 0.201 }, "items[2].line_total"},
		{"line_total wrong", func(o *Order) { o.Items[0].LineTotal = 25 }, "items[0].line_total"},
		{"item_count", func(o *Order) { o.ItemCount = 5 }, "item_count"},
		{"subtotal", func(o *Order) { o.Subtotal = 26.47 }, "subtotal"},
		{"subtotal sub-cent", func(o *Order) { o.Subtotal = 26.481 }, "subtotal"},
		{"negative discount", func(o *Order) { o.Discount = -1.32 }, "discount"},
		{"discount above subtotal", func(o *Order) { o.Discount = 26.49 }, "discount"},
		{"negative tax", func(o *Order) { o.Tax = -2.01 }, "tax"},
		{"negative shipping_cost", func(o *Order) { o.ShippingCost = -5.99 }, "shipping_cost"},
		{"total", func(o *Order) { o.Total = 33.17 }, "total"},
		{"total infinite", func(o *Order) { o.Total = math.Inf(1) }, "total"},
		{"currency lower-case", func(o *Order) { o.Currency = "usd" }, "currency"},
		{"currency too long", func(o *Order) { o.Currency = "USDT" }, "currency"},
		{"payment method", func(o *Order) { o.Payment.Method = "barter" }, "payment.method"},
		{"city", func(o *Order) { o.Shipping.City = "" }, "shipping.city"},
		{"country", func(o *Order) { o.Shipping.Country = "" }, "shipping.country"},
		{"country_code long", func(o *Order) { o.Shipping.CountryCode = "GBR" }, "shipping.country_code"},
		{"country_code lower-case", func(o *Order) { o.Shipping.CountryCode = "gb" }, "shipping.country_code"},
		{"lat", func(o *Order) { o.Shipping.Location.Lat = 90.5 }, "shipping.location.lat"},
		{"lat NaN", func(o *Order) { o.Shipping.Location.Lat = math.NaN() }, "shipping.location.lat"},
		{"lon", func(o *Order) { o.Shipping.Location.Lon = -180.5 }, "shipping.location.lon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOrder(t)
			tt.mutate(&o)
			wantInvalid(t, o.Validate(), tt.field)
		})
	}
}

func TestValidationErrorMessages(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Order)
		want   string
	}{
		{"line total", func(o *Order) { o.Items[0].LineTotal = 25 },
			"order: items[0].line_total: 25.00 is not unit_price × quantity = 25.98"},
		{"total", func(o *Order) { o.Total = 33.17 },
			"order: total: 33.17 is not subtotal − discount + tax + shipping_cost = 33.16"},
		{"sub-cent", func(o *Order) { o.Tax = 2.015 },
			"order: tax: 2.015 has more than 2 decimals"},
		{"version", func(o *Order) { o.Status = StatusShipped },
			`order: version: 1 does not match status "shipped" (expects 3)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOrder(t)
			tt.mutate(&o)
			err := o.Validate()
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestMoneyIsComparedInCents guards against float equality creeping back:
// the fixture's 0.10 × 3 line is 0.30000000000000004 in float arithmetic,
// yet it is a correct order.
func TestMoneyIsComparedInCents(t *testing.T) {
	o := validOrder(t)
	line := o.Items[1]
	if line.UnitPrice*float64(line.Quantity) == line.LineTotal {
		t.Fatal("fixture line no longer exercises float rounding")
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
}
