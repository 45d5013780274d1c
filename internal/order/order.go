package order

import "time"

// Status is the lifecycle state of an order.
type Status string

// The lifecycle states. An order is created, then either paid, shipped and
// delivered, or cancelled before it ships.
const (
	StatusCreated   Status = "created"
	StatusPaid      Status = "paid"
	StatusShipped   Status = "shipped"
	StatusDelivered Status = "delivered"
	StatusCancelled Status = "cancelled"
)

// Enumerated values of the contract. They are exported so producers, consumers
// and tests check against one list instead of copying it; treat them as
// read-only.
var (
	Statuses       = []Status{StatusCreated, StatusPaid, StatusShipped, StatusDelivered, StatusCancelled}
	Channels       = []string{"web", "mobile", "marketplace", "store"}
	PaymentMethods = []string{"card", "paypal", "apple_pay", "google_pay", "bank_transfer", "cash_on_delivery"}
	Segments       = []string{"consumer", "small_business", "corporate"}
)

// Order is one version of an order document, exactly as it travels on the
// wire. Every lifecycle event republishes the whole document with a higher
// Version, so a consumer can upsert by OrderID and keep the highest version.
type Order struct {
	OrderID      string    `json:"order_id"`
	Version      int       `json:"version"`
	Status       Status    `json:"status"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Customer     Customer  `json:"customer"`
	Channel      string    `json:"channel"`
	Items        []Item    `json:"items"`
	ItemCount    int       `json:"item_count"`
	Currency     string    `json:"currency"`
	Subtotal     float64   `json:"subtotal"`
	Discount     float64   `json:"discount"`
	Tax          float64   `json:"tax"`
	ShippingCost float64   `json:"shipping_cost"`
	Total        float64   `json:"total"`
	Payment      Payment   `json:"payment"`
	Shipping     Shipping  `json:"shipping"`
}

// Customer is who placed the order. ID is stable across a customer's orders
// so dashboards can count returning customers.
type Customer struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Email   string `json:"email"`
	Segment string `json:"segment"`
}

// Item is one order line. LineTotal is carried rather than derived so that
// Elasticsearch can aggregate revenue per SKU or category without scripts.
type Item struct {
	SKU       string  `json:"sku"`
	Name      string  `json:"name"`
	Category  string  `json:"category"`
	UnitPrice float64 `json:"unit_price"`
	Quantity  int     `json:"quantity"`
	LineTotal float64 `json:"line_total"`
}

// Payment describes how the order is paid.
type Payment struct {
	Method string `json:"method"`
}

// Shipping is the delivery address. Location uses lat/lon field names so it
// maps directly onto an Elasticsearch geo_point.
type Shipping struct {
	City        string   `json:"city"`
	State       string   `json:"state"`
	Country     string   `json:"country"`
	CountryCode string   `json:"country_code"`
	PostalCode  string   `json:"postal_code"`
	Location    GeoPoint `json:"location"`
}

// GeoPoint is a WGS 84 coordinate in degrees.
type GeoPoint struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Timestamp normalises t the way the contract stores times: UTC, millisecond
// precision. Truncating here rather than at encoding time keeps the in-memory
// order equal to what a consumer decodes, so round trips compare exactly.
func Timestamp(t time.Time) time.Time {
	return t.Truncate(time.Millisecond).UTC()
}

// versionOf is the version a document in status s must carry. Cancellation
// can happen before payment (version 2) or after it (version 3), so it has no
// single answer and is handled by the caller.
var versionOf = map[Status]int{
	StatusCreated:   1,
	StatusPaid:      2,
	StatusShipped:   3,
	StatusDelivered: 4,
}
