package order

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// ErrInvalid is matched (via errors.Is) by every error that reports a
// well-formed document breaking a rule of the contract.
var ErrInvalid = errors.New("order: invalid order")

// ValidationError names the first field, as a JSON path such as
// "items[2].line_total", that breaks the contract and why. Consumers log
// Field to tell a producer bug from a transport problem at a glance.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	return "order: " + e.Field + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalid) true without callers needing the type.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Limits that keep money arithmetic in int64 cents far from overflow, whatever
// a hostile document claims: a line is at most maxCents, so a product
// unit × quantity fits, and the sum of maxItems lines fits as well.
const (
	maxCents    = 1_000_000_000_000 // 10 billion in currency units
	maxQuantity = 1_000_000
	maxItems    = 1_000
)

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Validate reports the first rule of the contract that o breaks, as a
// *ValidationError, or nil. Money is compared in integer cents: float sums
// such as 0.1+0.2 would otherwise fail equality on perfectly good orders.
func (o *Order) Validate() error {
	if err := o.validateIdentity(); err != nil {
		return err
	}
	if err := o.validateCustomer(); err != nil {
		return err
	}
	if !slices.Contains(Channels, o.Channel) {
		return invalid("channel", "%q is not one of %s", o.Channel, strings.Join(Channels, ", "))
	}
	if err := o.validateMoney(); err != nil {
		return err
	}
	if !isUpperCode(o.Currency, 3) {
		return invalid("currency", "%q is not an ISO 4217 code (3 upper-case letters)", o.Currency)
	}
	if !slices.Contains(PaymentMethods, o.Payment.Method) {
		return invalid("payment.method", "%q is not one of %s", o.Payment.Method, strings.Join(PaymentMethods, ", "))
	}
	return o.validateShipping()
}

func (o *Order) validateIdentity() error {
	// uuid.Parse also accepts the braced, urn: and hyphen-less forms; the
	// contract promises the canonical 36-character one.
	if _, err := uuid.Parse(o.OrderID); err != nil || len(o.OrderID) != 36 {
		return invalid("order_id", "%q is not a canonical UUID", o.OrderID)
	}
	if o.Version < 1 {
		return invalid("version", "%d is below 1", o.Version)
	}
	if !slices.Contains(Statuses, o.Status) {
		return invalid("status", "%q is not a known status", o.Status)
	}
	if o.CreatedAt.IsZero() {
		return invalid("created_at", "is not set")
	}
	if o.UpdatedAt.IsZero() {
		return invalid("updated_at", "is not set")
	}
	if o.UpdatedAt.Before(o.CreatedAt) {
		return invalid("updated_at", "%s is before created_at %s",
			o.UpdatedAt.Format(timeLayout), o.CreatedAt.Format(timeLayout))
	}
	if o.Status == StatusCancelled {
		if o.Version != 2 && o.Version != 3 {
			return invalid("version", "%d does not match status %q (expects 2 or 3)", o.Version, o.Status)
		}
	} else if want := versionOf[o.Status]; o.Version != want {
		return invalid("version", "%d does not match status %q (expects %d)", o.Version, o.Status, want)
	}
	return nil
}

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func (o *Order) validateCustomer() error {
	c := &o.Customer
	switch {
	case c.ID == "":
		return invalid("customer.id", "is empty")
	case c.Name == "":
		return invalid("customer.name", "is empty")
	case !strings.Contains(c.Email, "@"):
		return invalid("customer.email", "%q is not an e-mail address", c.Email)
	case !slices.Contains(Segments, c.Segment):
		return invalid("customer.segment", "%q is not one of %s", c.Segment, strings.Join(Segments, ", "))
	}
	return nil
}

func (o *Order) validateMoney() error {
	if len(o.Items) == 0 {
		return invalid("items", "is empty")
	}
	if len(o.Items) > maxItems {
		return invalid("items", "has %d lines, more than %d", len(o.Items), maxItems)
	}
	var subtotal int64
	var quantities int
	for i := range o.Items {
		lineTotal, err := o.Items[i].validate("items[" + strconv.Itoa(i) + "]")
		if err != nil {
			return err
		}
		subtotal += lineTotal
		quantities += o.Items[i].Quantity
	}
	if o.ItemCount != quantities {
		return invalid("item_count", "%d is not the sum of quantities = %d", o.ItemCount, quantities)
	}
	sub, err := cents("subtotal", o.Subtotal)
	if err != nil {
		return err
	}
	if sub != subtotal {
		return invalid("subtotal", "%s is not the sum of line_total = %s", formatCents(sub), formatCents(subtotal))
	}
	discount, err := cents("discount", o.Discount)
	if err != nil {
		return err
	}
	if discount > sub {
		return invalid("discount", "%s exceeds subtotal %s", formatCents(discount), formatCents(sub))
	}
	tax, err := cents("tax", o.Tax)
	if err != nil {
		return err
	}
	shippingCost, err := cents("shipping_cost", o.ShippingCost)
	if err != nil {
		return err
	}
	total, err := cents("total", o.Total)
	if err != nil {
		return err
	}
	if want := sub - discount + tax + shippingCost; total != want {
		return invalid("total", "%s is not subtotal − discount + tax + shipping_cost = %s", formatCents(total), formatCents(want))
	}
	return nil
}

// validate checks one line and returns its total in cents.
func (it *Item) validate(path string) (int64, error) {
	switch {
	case it.SKU == "":
		return 0, invalid(path+".sku", "is empty")
	case it.Name == "":
		return 0, invalid(path+".name", "is empty")
	case it.Category == "":
		return 0, invalid(path+".category", "is empty")
	case it.Quantity < 1:
		return 0, invalid(path+".quantity", "%d is below 1", it.Quantity)
	case it.Quantity > maxQuantity:
		return 0, invalid(path+".quantity", "%d is above %d", it.Quantity, maxQuantity)
	}
	unit, err := cents(path+".unit_price", it.UnitPrice)
	if err != nil {
		return 0, err
	}
	line, err := cents(path+".line_total", it.LineTotal)
	if err != nil {
		return 0, err
	}
	if want := unit * int64(it.Quantity); line != want {
		return 0, invalid(path+".line_total", "%s is not unit_price × quantity = %s", formatCents(line), formatCents(want))
	}
	return line, nil
}

// cents converts a non-negative money amount to integer cents, rejecting
// amounts with sub-cent digits. The check is exact: a decimal with at most
// two fractional digits parses to the float nearest n/100, which is what
// float64(n)/100 yields because IEEE division is correctly rounded.
func cents(field string, amount float64) (int64, error) {
	switch {
	case math.IsNaN(amount) || math.IsInf(amount, 0):
		return 0, invalid(field, "%v is not a finite amount", amount)
	case amount < 0:
		return 0, invalid(field, "%s is negative", strconv.FormatFloat(amount, 'f', -1, 64))
	case amount > maxCents/100:
		return 0, invalid(field, "%s is above %d", strconv.FormatFloat(amount, 'f', -1, 64), maxCents/100)
	}
	c := int64(math.Round(amount * 100))
	if float64(c)/100 != amount {
		return 0, invalid(field, "%s has more than 2 decimals", strconv.FormatFloat(amount, 'f', -1, 64))
	}
	return c, nil
}

func formatCents(c int64) string {
	return strconv.FormatFloat(float64(c)/100, 'f', 2, 64)
}

// IsCurrencyCode reports whether s has the shape of an ISO 4217 code, the
// rule Validate applies to Currency, so configuration (the generator's) can
// be checked against the same rule before any order exists.
func IsCurrencyCode(s string) bool { return isUpperCode(s, 3) }

// isUpperCode reports whether s is exactly n ASCII upper-case letters, the
// shape shared by ISO 4217 currency and ISO 3166 country codes.
func isUpperCode(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := range len(s) {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func (o *Order) validateShipping() error {
	s := &o.Shipping
	switch {
	case s.City == "":
		return invalid("shipping.city", "is empty")
	case s.Country == "":
		return invalid("shipping.country", "is empty")
	case !isUpperCode(s.CountryCode, 2):
		return invalid("shipping.country_code", "%q is not an ISO 3166-1 alpha-2 code", s.CountryCode)
	case !(s.Location.Lat >= -90 && s.Location.Lat <= 90): // negated so NaN fails too
		return invalid("shipping.location.lat", "%v is outside [-90, 90]", s.Location.Lat)
	case !(s.Location.Lon >= -180 && s.Location.Lon <= 180):
		return invalid("shipping.location.lon", "%v is outside [-180, 180]", s.Location.Lon)
	}
	return nil
}
