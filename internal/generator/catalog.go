package generator

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strconv"
	"strings"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/orderpipe/orderpipe/internal/order"
)

// weighted picks values with fixed relative weights. The cumulative table is
// built once so a pick costs one random number and a binary search.
type weighted[T any] struct {
	values     []T
	cumulative []int
}

func newWeighted[T any](values []T, weights []int) weighted[T] {
	if len(values) != len(weights) || len(values) == 0 {
		panic("generator: weighted table needs one positive weight per value")
	}
	w := weighted[T]{values: values, cumulative: make([]int, len(weights))}
	sum := 0
	for i, weight := range weights {
		sum += weight
		w.cumulative[i] = sum
	}
	return w
}

func (w *weighted[T]) pick(r *rand.Rand) T {
	x := r.Intn(w.cumulative[len(w.cumulative)-1])
	// First bucket whose cumulative weight exceeds x.
	i, _ := slices.BinarySearch(w.cumulative, x+1)
	return w.values[i]
}

// city is a real shipping destination. Coordinates are the city centre;
// customers are scattered a few kilometres around it.
type city struct {
	name, state, country, countryCode string
	lat, lon                          float64
	// postalPattern: '#' is a digit and '?' an upper-case letter.
	postalPattern string
	// taxRate approximates the local sales tax or VAT, as a fraction.
	taxRate float64
	weight  int
}

// cities is weighted toward a few big markets so country breakdowns on the
// dashboards look like a real shop's rather than a uniform spread.
var cities = []city{
	{"New York", "New York", "United States", "US", 40.7128, -74.0060, "100##", 0.08875, 60},
	{"Los Angeles", "California", "United States", "US", 34.0522, -118.2437, "900##", 0.095, 50},
	{"Chicago", "Illinois", "United States", "US", 41.8781, -87.6298, "606##", 0.1025, 40},
	{"Houston", "Texas", "United States", "US", 29.7604, -95.3698, "770##", 0.0825, 30},
	{"Phoenix", "Arizona", "United States", "US", 33.4484, -112.0740, "850##", 0.086, 20},
	{"Philadelphia", "Pennsylvania", "United States", "US", 39.9526, -75.1652, "191##", 0.08, 20},
	{"San Antonio", "Texas", "United States", "US", 29.4241, -98.4936, "782##", 0.0825, 15},
	{"San Diego", "California", "United States", "US", 32.7157, -117.1611, "921##", 0.0775, 15},
	{"Dallas", "Texas", "United States", "US", 32.7767, -96.7970, "752##", 0.0825, 20},
	{"Seattle", "Washington", "United States", "US", 47.6062, -122.3321, "981##", 0.1035, 20},
	{"Boston", "Massachusetts", "United States", "US", 42.3601, -71.0589, "021##", 0.0625, 18},
	{"Miami", "Florida", "United States", "US", 25.7617, -80.1918, "331##", 0.07, 18},
	{"Atlanta", "Georgia", "United States", "US", 33.7490, -84.3880, "303##", 0.089, 15},
	{"Denver", "Colorado", "United States", "US", 39.7392, -104.9903, "802##", 0.0881, 12},
	{"San Francisco", "California", "United States", "US", 37.7749, -122.4194, "941##", 0.08625, 20},
	{"Toronto", "Ontario", "Canada", "CA", 43.6532, -79.3832, "M#? #?#", 0.13, 15},
	{"Vancouver", "British Columbia", "Canada", "CA", 49.2827, -123.1207, "V#? #?#", 0.12, 8},
	{"Montreal", "Quebec", "Canada", "CA", 45.5017, -73.5673, "H#? #?#", 0.14975, 8},
	{"London", "England", "United Kingdom", "GB", 51.5074, -0.1278, "SW# #??", 0.20, 35},
	{"Manchester", "England", "United Kingdom", "GB", 53.4808, -2.2426, "M# #??", 0.20, 10},
	{"Birmingham", "England", "United Kingdom", "GB", 52.4862, -1.8904, "B# #??", 0.20, 8},
	{"Edinburgh", "Scotland", "United Kingdom", "GB", 55.9533, -3.1883, "EH# #??", 0.20, 5},
	{"Berlin", "Berlin", "Germany", "DE", 52.5200, 13.4050, "10###", 0.19, 20},
	{"Munich", "Bavaria", "Germany", "DE", 48.1351, 11.5820, "80###", 0.19, 12},
	{"Hamburg", "Hamburg", "Germany", "DE", 53.5511, 9.9937, "20###", 0.19, 10},
	{"Frankfurt", "Hesse", "Germany", "DE", 50.1109, 8.6821, "60###", 0.19, 8},
	{"Paris", "Île-de-France", "France", "FR", 48.8566, 2.3522, "750##", 0.20, 20},
	{"Lyon", "Auvergne-Rhône-Alpes", "France", "FR", 45.7640, 4.8357, "6900#", 0.20, 6},
	{"Marseille", "Provence-Alpes-Côte d'Azur", "France", "FR", 43.2965, 5.3698, "130##", 0.20, 5},
	{"Madrid", "Community of Madrid", "Spain", "ES", 40.4168, -3.7038, "280##", 0.21, 8},
	{"Barcelona", "Catalonia", "Spain", "ES", 41.3874, 2.1686, "080##", 0.21, 7},
	{"Rome", "Lazio", "Italy", "IT", 41.9028, 12.4964, "001##", 0.22, 6},
	{"Milan", "Lombardy", "Italy", "IT", 45.4642, 9.1900, "201##", 0.22, 6},
	{"Amsterdam", "North Holland", "Netherlands", "NL", 52.3676, 4.9041, "10## ??", 0.21, 7},
	{"Dublin", "Leinster", "Ireland", "IE", 53.3498, -6.2603, "D0# ?#?#", 0.23, 4},
	{"Stockholm", "Stockholm County", "Sweden", "SE", 59.3293, 18.0686, "1## ##", 0.25, 4},
	{"Warsaw", "Masovian", "Poland", "PL", 52.2297, 21.0122, "0#-###", 0.23, 4},
	{"Sydney", "New South Wales", "Australia", "AU", -33.8688, 151.2093, "20##", 0.10, 8},
	{"Melbourne", "Victoria", "Australia", "AU", -37.8136, 144.9631, "30##", 0.10, 6},
	{"Tokyo", "Tokyo", "Japan", "JP", 35.6762, 139.6503, "1##-####", 0.10, 8},
	{"São Paulo", "São Paulo", "Brazil", "BR", -23.5505, -46.6333, "0####-###", 0.17, 6},
	{"Mexico City", "Mexico City", "Mexico", "MX", 19.4326, -99.1332, "0####", 0.16, 5},
	{"Mumbai", "Maharashtra", "India", "IN", 19.0760, 72.8777, "4000##", 0.18, 5},
	{"Bengaluru", "Karnataka", "India", "IN", 12.9716, 77.5946, "5600##", 0.18, 4},
	{"Singapore", "Singapore", "Singapore", "SG", 1.3521, 103.8198, "######", 0.09, 4},
}

// fillPattern expands a postal-code pattern. gofakeit's Numerify is not
// used because it rewrites a leading literal '0' (Boston's "021##" would
// become "821##"), and its Lexify yields lower-case letters.
func fillPattern(r *rand.Rand, pattern string) string {
	b := []byte(pattern)
	for i, c := range b {
		switch c {
		case '#':
			b[i] = byte('0' + r.Intn(10))
		case '?':
			b[i] = byte('A' + r.Intn(26))
		}
	}
	return string(b)
}

// category carries the price range from which catalog prices are drawn and
// the nouns that make product names plausible for it.
type category struct {
	name             string
	skuPrefix        string
	minPrice         float64
	maxPrice         float64
	weight           int // share of the catalog
	nouns, modifiers []string
}

var categories = []category{
	{"Electronics", "ELE", 20, 1500, 14,
		[]string{"Wireless Earbuds", "Bluetooth Speaker", "4K Monitor", "Mechanical Keyboard", "Smartwatch", "USB-C Charger", "Tablet", "Laptop", "Action Camera", "Noise-Cancelling Headphones"},
		[]string{"Pro", "Mini", "Max", "Ultra", "Lite", "Plus"}},
	{"Books", "BOO", 5, 60, 12,
		[]string{"Cookbook", "Thriller Novel", "Travel Guide", "Biography", "Science Fiction Novel", "Children's Picture Book", "Programming Handbook", "History Atlas"},
		[]string{"Paperback", "Hardcover", "Illustrated", "Second Edition", "Collector's Edition"}},
	{"Clothing", "CLO", 10, 200, 16,
		[]string{"T-Shirt", "Hoodie", "Denim Jacket", "Running Shorts", "Wool Sweater", "Chinos", "Rain Jacket", "Sneakers", "Socks 3-Pack"},
		[]string{"Slim Fit", "Organic Cotton", "Classic", "Oversized", "Recycled", "Performance"}},
	{"Home & Kitchen", "HOM", 8, 400, 14,
		[]string{"Chef's Knife", "Cast Iron Skillet", "Coffee Grinder", "Blender", "Bath Towel Set", "Table Lamp", "Storage Baskets", "Air Fryer", "Duvet Cover"},
		[]string{"Stainless", "Nordic", "Compact", "Deluxe", "Bamboo", "Ceramic"}},
	{"Sports", "SPO", 10, 500, 10,
		[]string{"Yoga Mat", "Dumbbell Set", "Road Bike Helmet", "Tennis Racket", "Hiking Backpack", "Football", "Resistance Bands", "Camping Tent"},
		[]string{"Trail", "Pro", "Lightweight", "Adjustable", "All-Weather"}},
	{"Toys", "TOY", 5, 120, 8,
		[]string{"Building Blocks", "Board Game", "Plush Bear", "Puzzle 1000 Pieces", "Remote Control Car", "Art Set", "Dollhouse"},
		[]string{"Junior", "Deluxe", "Classic", "Family", "Mini"}},
	{"Beauty", "BEA", 4, 90, 10,
		[]string{"Face Serum", "Shampoo", "Lip Balm", "Sunscreen SPF 50", "Hand Cream", "Eau de Parfum", "Hair Dryer"},
		[]string{"Hydrating", "Sensitive", "Travel Size", "Organic", "Night"}},
	{"Grocery", "GRO", 1, 40, 16,
		[]string{"Ground Coffee", "Green Tea", "Olive Oil", "Dark Chocolate", "Pasta", "Granola", "Honey", "Sparkling Water 12-Pack"},
		[]string{"Organic", "Fair Trade", "Family Size", "Italian", "Single Origin"}},
}

type product struct {
	sku, name, category string
	priceCents          int64
	// bulky products (groceries) are often bought several at a time.
	bulky bool
}

// buildCatalog draws n products. Prices are log-uniform within the category
// range (cheap items dominate, as in real shops) and end in .99, .49 or .00.
func buildCatalog(f *gofakeit.Faker, n int) []product {
	weights := make([]int, len(categories))
	for i, c := range categories {
		weights[i] = c.weight
	}
	pickCategory := newWeighted(categories, weights)
	catalog := make([]product, n)
	for i := range catalog {
		c := pickCategory.pick(f.Rand)
		price := math.Exp(f.Float64Range(math.Log(c.minPrice), math.Log(c.maxPrice)))
		cents := int64(price)*100 + []int64{99, 49, 0}[f.Rand.Intn(3)]
		cents = min(max(cents, int64(c.minPrice*100)), int64(c.maxPrice*100))
		catalog[i] = product{
			sku:        fmt.Sprintf("%s-%05d", c.skuPrefix, i+1),
			name:       f.LastName() + " " + c.modifiers[f.Rand.Intn(len(c.modifiers))] + " " + c.nouns[f.Rand.Intn(len(c.nouns))],
			category:   c.name,
			priceCents: cents,
			bulky:      c.name == "Grocery",
		}
	}
	return catalog
}

// customer is a returning buyer; address and tax rate are fixed so repeat
// orders from one customer ship to the same place.
type customer struct {
	order.Customer
	shipping order.Shipping
	taxRate  float64
}

var (
	segmentPicker = newWeighted(order.Segments, []int{80, 15, 5})
	mailDomains   = newWeighted(
		[]string{"gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "proton.me", "aol.com"},
		[]int{45, 15, 15, 10, 8, 4, 3})
)

func buildCustomers(f *gofakeit.Faker, n int) []customer {
	weights := make([]int, len(cities))
	for i, c := range cities {
		weights[i] = c.weight
	}
	pickCity := newWeighted(cities, weights)
	customers := make([]customer, n)
	for i := range customers {
		first, last := f.FirstName(), f.LastName()
		segment := segmentPicker.pick(f.Rand)
		domain := mailDomains.pick(f.Rand)
		if segment != "consumer" {
			domain = emailLocalPart(f.Company()) + ".com"
		}
		c := pickCity.pick(f.Rand)
		// About ±5 km around the centre, so map tiles show a cloud, not a dot.
		lat := math.Round((c.lat+f.Float64Range(-0.05, 0.05))*1e5) / 1e5
		lon := math.Round((c.lon+f.Float64Range(-0.05, 0.05))*1e5) / 1e5
		customers[i] = customer{
			Customer: order.Customer{
				ID:      fmt.Sprintf("CUST-%06d", i+1),
				Name:    first + " " + last,
				Email:   emailLocalPart(first) + "." + emailLocalPart(last) + strconv.Itoa(f.Rand.Intn(100)) + "@" + domain,
				Segment: segment,
			},
			shipping: order.Shipping{
				City:        c.name,
				State:       c.state,
				Country:     c.country,
				CountryCode: c.countryCode,
				PostalCode:  fillPattern(f.Rand, c.postalPattern),
				Location:    order.GeoPoint{Lat: lat, Lon: lon},
			},
			taxRate: c.taxRate,
		}
	}
	return customers
}

// emailLocalPart keeps the ASCII letters and digits of s, lower-cased.
func emailLocalPart(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return -1
	}, s)
}
