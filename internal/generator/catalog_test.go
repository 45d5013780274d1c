package generator

import (
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/order"
)

func TestGeneratorRealism(t *testing.T) {
	events := drive(t, newTestGenerator(t, testConfig(17)), testStart, 5000, time.Second)
	ordersPerCustomer := map[string]int{}
	seen := map[string]map[string]bool{"channel": {}, "payment": {}, "country": {}, "category": {}}
	discounted, freeShipping := 0, 0
	for _, ev := range events {
		if ev.Version != 1 {
			continue
		}
		o := decodeValid(t, ev)
		ordersPerCustomer[o.Customer.ID]++
		seen["channel"][o.Channel] = true
		seen["payment"][o.Payment.Method] = true
		seen["country"][o.Shipping.CountryCode] = true
		for _, it := range o.Items {
			seen["category"][it.Category] = true
		}
		if o.Discount > 0 {
			discounted++
		}
		if o.ShippingCost == 0 {
			freeShipping++
		}
		if len(o.Items) > maxLines {
			t.Fatalf("%d lines, want at most %d", len(o.Items), maxLines)
		}
	}
	busiest := 0
	for _, n := range ordersPerCustomer {
		busiest = max(busiest, n)
	}
	if len(ordersPerCustomer) > 4000 || busiest < 5 {
		t.Errorf("%d distinct customers in 5000 orders, busiest placed %d; want returning customers", len(ordersPerCustomer), busiest)
	}
	for what, want := range map[string]int{"channel": len(order.Channels), "payment": len(order.PaymentMethods), "country": 10, "category": len(categories)} {
		if len(seen[what]) < want {
			t.Errorf("only %d distinct %s values, want at least %d", len(seen[what]), what, want)
		}
	}
	if discounted < 500 || discounted > 2000 || freeShipping < 500 || freeShipping > 4500 {
		t.Errorf("%d discounted and %d free-shipping orders of 5000", discounted, freeShipping)
	}
}

func TestCityTable(t *testing.T) {
	if len(cities) < 40 {
		t.Errorf("%d cities, want about 40", len(cities))
	}
	// Any valid order will do as the rest of the document; a generated one
	// keeps this package's tests off the contract's own fixtures.
	base := decodeValid(t, newTestGenerator(t, testConfig(1)).Next(testStart))
	for _, c := range cities {
		o := base
		o.Shipping = order.Shipping{City: c.name, State: c.state, Country: c.country, CountryCode: c.countryCode,
			Location: order.GeoPoint{Lat: c.lat, Lon: c.lon}}
		if err := o.Validate(); err != nil || c.postalPattern == "" || c.taxRate <= 0 || c.taxRate > 0.3 || c.weight <= 0 {
			t.Errorf("city %+v: %v", c, err)
		}
	}
}

func TestTinyPools(t *testing.T) {
	cfg := testConfig(23)
	cfg.Customers, cfg.Products = 1, 1
	events := drive(t, newTestGenerator(t, cfg), testStart, 200, time.Second)
	for _, ev := range events {
		o := decodeValid(t, ev)
		if len(o.Items) != 1 || o.Customer.ID != "CUST-000001" {
			t.Fatalf("one customer and one product should give single-line orders by CUST-000001: %s", ev.Value)
		}
	}
}
