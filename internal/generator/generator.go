package generator

import (
	"container/heap"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"time"

	"github.com/brianvoe/gofakeit/v6"
	"github.com/google/uuid"

	"github.com/orderpipe/orderpipe/internal/order"
)

// ErrInvalidConfig is matched (via errors.Is) by every *ConfigError.
var ErrInvalidConfig = errors.New("generator: invalid config")

// ConfigError names the Config field that is out of range.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return "generator: config: " + e.Field + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalidConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// Config tunes the order generator.
//
// Customers, Products and Currency fall back to their defaults when zero,
// because zero is never a usable value for them. The shares and
// LifecycleDelay are taken literally, because zero is meaningful there (no
// lifecycle events, no cancellations, follow-ups due immediately, no
// malformed messages); start from DefaultConfig to get the
// documented defaults for those.
type Config struct {
	// Seed makes the output reproducible; 0 picks a random seed, which
	// Generator.Seed reports so a run can be replayed.
	Seed int64
	// Customers is the size of the pool of returning customers (default 5000).
	Customers int
	// Products is the catalog size (default 500).
	Products int
	// Currency is the ISO 4217 code used for every order, so revenue
	// sums are meaningful (default "USD").
	Currency string
	// LifecycleShare is the share of created orders that go on to later
	// events (default 0.8); the rest stay "created", like abandoned carts.
	LifecycleShare float64
	// CancelShare is the share of those that end cancelled instead of
	// delivered (default 0.1).
	CancelShare float64
	// LifecycleDelay is the mean delay between two lifecycle steps (default
	// 30s). Payment comes sooner and delivery later than the mean; each
	// delay is drawn uniformly from 0.5× to 1.5× its step's mean.
	LifecycleDelay time.Duration
	// MalformedShare is the share of Next calls that return a deliberately
	// broken message (default 0), to exercise consumers' dead-letter paths.
	MalformedShare float64
}

// Defaults for Config; see its documentation.
const (
	DefaultCustomers      = 5000
	DefaultProducts       = 500
	DefaultCurrency       = "USD"
	DefaultLifecycleShare = 0.8
	DefaultCancelShare    = 0.1
	DefaultLifecycleDelay = 30 * time.Second
)

// Upper bounds keep a typo in a flag from allocating gigabytes up front.
const (
	maxCustomers = 1_000_000
	maxProducts  = 1_000_000
)

// DefaultConfig returns the documented defaults with a random seed.
func DefaultConfig() Config {
	return Config{
		Customers:      DefaultCustomers,
		Products:       DefaultProducts,
		Currency:       DefaultCurrency,
		LifecycleShare: DefaultLifecycleShare,
		CancelShare:    DefaultCancelShare,
		LifecycleDelay: DefaultLifecycleDelay,
	}
}

// Validate reports the first out-of-range field as a *ConfigError.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.Customers < 0 || c.Customers > maxCustomers:
		return bad("Customers", "%d is outside [0, %d]", c.Customers, maxCustomers)
	case c.Products < 0 || c.Products > maxProducts:
		return bad("Products", "%d is outside [0, %d]", c.Products, maxProducts)
	case c.Currency != "" && !order.IsCurrencyCode(c.Currency):
		return bad("Currency", "%q is not an ISO 4217 code (3 upper-case letters)", c.Currency)
	case !isShare(c.LifecycleShare):
		return bad("LifecycleShare", "%v is outside [0, 1]", c.LifecycleShare)
	case !isShare(c.CancelShare):
		return bad("CancelShare", "%v is outside [0, 1]", c.CancelShare)
	case c.LifecycleDelay < 0:
		return bad("LifecycleDelay", "%v is negative", c.LifecycleDelay)
	case !isShare(c.MalformedShare):
		return bad("MalformedShare", "%v is outside [0, 1]", c.MalformedShare)
	}
	return nil
}

// isShare is written as a negation-free range test so that NaN fails it.
func isShare(x float64) bool { return x >= 0 && x <= 1 }

// Event is one message for the orders topic.
type Event struct {
	// Key is the order_id, so all versions of an order land on one
	// partition and stay ordered. Malformed messages get a fresh id so
	// they spread over partitions like real traffic.
	Key []byte
	// Value is the JSON document. It belongs to the caller; the generator
	// never touches it again.
	Value []byte
	// At is the event time: the document's updated_at.
	At time.Time

	OrderID string
	Version int          // 0 for malformed messages
	Status  order.Status // "" for malformed messages

	// Malformed is "" for valid orders, otherwise one of MalformedKinds.
	Malformed string
}

// maxLines bounds the lines per generated order, so an order's items can
// live in a fixed array inside its follow-up record (one allocation).
const maxLines = 5

// followUp is an order whose lifecycle is still running, plus when its next
// event is due. seq breaks ties between equal due times deterministically.
type followUp struct {
	order       order.Order
	lines       [maxLines]order.Item
	due         time.Time
	seq         uint64
	cancelAfter order.Status // status after which the order is cancelled; "" if it is delivered
}

// followUpQueue is a min-heap by (due, seq) for container/heap.
type followUpQueue []*followUp

func (q followUpQueue) Len() int { return len(q) }
func (q followUpQueue) Less(i, j int) bool {
	if c := q[i].due.Compare(q[j].due); c != 0 {
		return c < 0
	}
	return q[i].seq < q[j].seq
}
func (q followUpQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *followUpQueue) Push(x any)   { *q = append(*q, x.(*followUp)) }
func (q *followUpQueue) Pop() any {
	old := *q
	last := old[len(old)-1]
	old[len(old)-1] = nil // let the finished order be collected
	*q = old[:len(old)-1]
	return last
}

// Generator produces realistic orders and their lifecycle events.
//
// Its output is a pure function of the seed, the configuration and the
// sequence of calls with their time arguments: every random choice comes
// from one seeded source and nothing iterates over a map. A Generator is not
// safe for concurrent use; the producer owns it from one goroutine.
type Generator struct {
	cfg       Config
	seed      int64
	rand      *rand.Rand // gofakeit's seeded source: the only randomness used
	customers []customer
	catalog   []product
	// Zipf draws make a few customers buy often and a few products sell
	// best, as in real shops, instead of a uniform spread.
	customerRank *rand.Zipf
	productRank  *rand.Zipf

	pending followUpQueue
	seq     uint64

	// scratch holds orders that need no follow-up, so they cost no
	// allocation of their own.
	scratch followUp
	enc     order.Encoder
}

// New validates cfg, fills defaults and builds the customer pool and
// product catalog.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Customers == 0 {
		cfg.Customers = DefaultCustomers
	}
	if cfg.Products == 0 {
		cfg.Products = DefaultProducts
	}
	if cfg.Currency == "" {
		cfg.Currency = DefaultCurrency
	}
	seed := cfg.Seed
	for seed == 0 { // 0 means "pick one", so it cannot be a picked seed
		var b [8]byte
		if _, err := crand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("generator: pick a random seed: %w", err)
		}
		seed = int64(binary.LittleEndian.Uint64(b[:]))
	}
	// Unlocked: the Generator has one owner (see its doc), and the lock of
	// gofakeit.New was a mutex round trip on every one of an order's
	// dozens of draws.
	faker := gofakeit.NewUnlocked(seed)
	g := &Generator{
		cfg:  cfg,
		seed: seed,
		rand: faker.Rand,
	}
	g.customers = buildCustomers(faker, cfg.Customers)
	g.catalog = buildCatalog(faker, cfg.Products)
	g.customerRank = rand.NewZipf(g.rand, 1.05, 50, uint64(cfg.Customers-1))
	g.productRank = rand.NewZipf(g.rand, 1.1, 10, uint64(cfg.Products-1))
	return g, nil
}

// Seed returns the seed in use, including one picked at random.
func (g *Generator) Seed() int64 { return g.seed }

// Pending returns how many orders still have lifecycle events to come.
func (g *Generator) Pending() int { return len(g.pending) }

// NextDue returns when the earliest follow-up event is due.
func (g *Generator) NextDue() (time.Time, bool) {
	if len(g.pending) == 0 {
		return time.Time{}, false
	}
	return g.pending[0].due, true
}

// Next returns a new order created at now and schedules its lifecycle
// events, or, with probability MalformedShare, a deliberately malformed
// message.
func (g *Generator) Next(now time.Time) Event {
	now = order.Timestamp(now)
	if g.cfg.MalformedShare > 0 && g.rand.Float64() < g.cfg.MalformedShare {
		return g.malformed(now)
	}
	if g.rand.Float64() >= g.cfg.LifecycleShare {
		g.fillOrder(&g.scratch, now)
		return g.event(&g.scratch.order)
	}
	fu := new(followUp)
	g.fillOrder(fu, now)
	if g.rand.Float64() < g.cfg.CancelShare {
		// Most cancellations are unpaid orders; some are refunded after
		// payment but before shipping.
		fu.cancelAfter = order.StatusCreated
		if g.rand.Intn(5) < 2 {
			fu.cancelAfter = order.StatusPaid
		}
	}
	g.schedule(fu, now)
	heap.Push(&g.pending, fu)
	return g.event(&fu.order)
}

// Due pops the earliest follow-up due at or before now and returns its event:
// the same document with the next status, version+1 and updated_at set to the
// scheduled time (not now, so a late caller does not skew event times).
func (g *Generator) Due(now time.Time) (Event, bool) {
	if len(g.pending) == 0 || g.pending[0].due.After(now) {
		return Event{}, false
	}
	fu := g.pending[0]
	o := &fu.order
	o.Status = nextStatus(o.Status, fu.cancelAfter)
	o.Version++
	o.UpdatedAt = fu.due
	ev := g.event(o)
	if o.Status == order.StatusDelivered || o.Status == order.StatusCancelled {
		heap.Pop(&g.pending)
	} else {
		g.schedule(fu, fu.due)
		heap.Fix(&g.pending, 0)
	}
	return ev, true
}

func nextStatus(current, cancelAfter order.Status) order.Status {
	if current == cancelAfter {
		return order.StatusCancelled
	}
	switch current {
	case order.StatusCreated:
		return order.StatusPaid
	case order.StatusPaid:
		return order.StatusShipped
	default:
		return order.StatusDelivered
	}
}

// schedule sets when fu's next step happens, counted from its last event.
func (g *Generator) schedule(fu *followUp, last time.Time) {
	// Payment (or an unpaid cancellation) follows checkout quickly;
	// shipping and delivery take longer. The factors average 1 over a
	// delivered order so LifecycleDelay stays the mean step delay.
	factor := 0.5
	switch nextStatus(fu.order.Status, fu.cancelAfter) {
	case order.StatusShipped:
		factor = 1
	case order.StatusDelivered:
		factor = 1.5
	}
	jitter := 0.5 + g.rand.Float64()
	delay := time.Duration(float64(g.cfg.LifecycleDelay) * factor * jitter)
	fu.due = last.Add(delay.Truncate(time.Millisecond))
	fu.seq = g.seq
	g.seq++
}

// event encodes o into the reused buffer and returns it as an Event.
func (g *Generator) event(o *order.Order) Event {
	value, err := g.enc.Encode(o)
	if err != nil {
		// Only NaN or infinite floats can fail, and every amount here
		// is built from integer cents and fixed coordinates.
		panic("generator: encode generated order: " + err.Error())
	}
	ev := newEvent(o.OrderID, value, o.UpdatedAt)
	ev.Version = o.Version
	ev.Status = o.Status
	return ev
}

// newEvent copies key and value into one allocation the caller owns.
func newEvent(orderID string, value []byte, at time.Time) Event {
	kv := make([]byte, 0, len(orderID)+len(value))
	kv = append(kv, orderID...)
	kv = append(kv, value...)
	return Event{
		Key:     kv[:len(orderID):len(orderID)],
		Value:   kv[len(orderID):],
		At:      at,
		OrderID: orderID,
	}
}

// newOrderID builds a UUIDv7 (RFC 9562) from now's milliseconds and seeded
// random bits. uuid.NewV7 would read the wall clock and crypto/rand, which
// breaks both replay and backfill.
func (g *Generator) newOrderID(now time.Time) string {
	var id uuid.UUID
	binary.BigEndian.PutUint64(id[0:8], uint64(now.UnixMilli())<<16|g.rand.Uint64()&0xffff)
	binary.BigEndian.PutUint64(id[8:16], g.rand.Uint64())
	id[6] = id[6]&0x0f | 0x70 // version 7
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	return id.String()
}

var (
	channelPicker = newWeighted(order.Channels, []int{45, 35, 12, 8})
	// Businesses pay by invoice far more often than consumers.
	consumerPayment = newWeighted(order.PaymentMethods, []int{50, 18, 10, 8, 4, 10})
	businessPayment = newWeighted(order.PaymentMethods, []int{45, 5, 2, 2, 45, 1})
	linesPicker     = newWeighted([]int{1, 2, 3, 4, 5}, []int{40, 27, 17, 10, 6})
	quantityPicker  = newWeighted([]int{1, 2, 3, 4, 5}, []int{72, 17, 6, 3, 2})
	discountPercent = newWeighted([]int64{5, 10, 15, 20, 25}, []int{25, 35, 20, 15, 5})
)

// Shipping is free above a threshold, as most shops do, and store orders
// are picked up.
const (
	freeShippingDomesticCents = 50_00
	freeShippingAbroadCents   = 100_00
	domesticCountry           = "US"
)

// fillOrder writes a new valid order created at now into fu.order.
func (g *Generator) fillOrder(fu *followUp, now time.Time) {
	r := g.rand
	cust := &g.customers[g.customerRank.Uint64()]
	o := &fu.order
	*o = order.Order{
		OrderID:   g.newOrderID(now),
		Version:   1,
		Status:    order.StatusCreated,
		CreatedAt: now,
		UpdatedAt: now,
		Customer:  cust.Customer,
		Channel:   channelPicker.pick(r),
		Currency:  g.cfg.Currency,
		Shipping:  cust.shipping,
	}
	business := cust.Segment != "consumer"
	if business {
		o.Payment.Method = businessPayment.pick(r)
	} else {
		o.Payment.Method = consumerPayment.pick(r)
	}

	var subtotal int64
	items := fu.lines[:0]
	for range linesPicker.pick(r) {
		p := &g.catalog[g.productRank.Uint64()]
		qty := quantityPicker.pick(r)
		if p.bulky {
			qty += r.Intn(3)
		}
		if cust.Segment == "corporate" {
			qty *= 1 + r.Intn(5)
		}
		subtotal += p.priceCents * int64(qty)
		o.ItemCount += qty
		items = addLine(items, p, qty)
	}
	o.Items = items

	var discount int64
	switch x := r.Float64(); {
	case x < 0.18:
		discount = subtotal * discountPercent.pick(r) / 100
	case x < 0.25 && subtotal >= 20_00:
		discount = []int64{5_00, 10_00}[r.Intn(2)]
	}
	taxable := subtotal - discount
	tax := int64(math.Round(float64(taxable) * cust.taxRate))
	var shipping int64
	switch {
	case o.Channel == "store":
	case o.Shipping.CountryCode == domesticCountry:
		if taxable < freeShippingDomesticCents {
			shipping = 5_99
		}
	case taxable < freeShippingAbroadCents:
		shipping = 14_99
	}
	o.Subtotal = money(subtotal)
	o.Discount = money(discount)
	o.Tax = money(tax)
	o.ShippingCost = money(shipping)
	o.Total = money(taxable + tax + shipping)
}

// addLine appends a line for p, or, when the order already has p, raises
// that line's quantity: shops merge repeated products into one line.
func addLine(items []order.Item, p *product, qty int) []order.Item {
	for i := range items {
		if items[i].SKU == p.sku {
			items[i].Quantity += qty
			items[i].LineTotal = money(p.priceCents * int64(items[i].Quantity))
			return items
		}
	}
	return append(items, order.Item{
		SKU:       p.sku,
		Name:      p.name,
		Category:  p.category,
		UnitPrice: money(p.priceCents),
		Quantity:  qty,
		LineTotal: money(p.priceCents * int64(qty)),
	})
}

// money converts cents to the wire's decimal amount. Dividing an exact
// integer by 100 gives the float nearest the 2-decimal value, which encodes
// back to exactly those digits.
func money(cents int64) float64 { return float64(cents) / 100 }
