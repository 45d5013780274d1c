package generator

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestGeneratorConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		field  string // "" if valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"zero value", func(c *Config) { *c = Config{} }, ""},
		{"all shares at bounds", func(c *Config) { c.LifecycleShare, c.CancelShare, c.MalformedShare = 1, 0, 1 }, ""},
		{"negative customers", func(c *Config) { c.Customers = -1 }, "Customers"},
		{"too many customers", func(c *Config) { c.Customers = maxCustomers + 1 }, "Customers"},
		{"negative products", func(c *Config) { c.Products = -5 }, "Products"},
		{"too many products", func(c *Config) { c.Products = maxProducts + 1 }, "Products"},
		{"currency", func(c *Config) { c.Currency = "dollar" }, "Currency"},
		{"lifecycle above 1", func(c *Config) { c.LifecycleShare = 1.01 }, "LifecycleShare"},
		{"lifecycle NaN", func(c *Config) { c.LifecycleShare = math.NaN() }, "LifecycleShare"},
		{"cancel negative", func(c *Config) { c.CancelShare = -0.1 }, "CancelShare"},
		{"negative delay", func(c *Config) { c.LifecycleDelay = -time.Second }, "LifecycleDelay"},
		{"malformed above 1", func(c *Config) { c.MalformedShare = 2 }, "MalformedShare"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(1)
			tt.mutate(&cfg)
			err := cfg.Validate()
			_, newErr := New(cfg)
			if tt.field == "" {
				if err != nil || newErr != nil {
					t.Fatalf("Validate() = %v, New() = %v; want nil", err, newErr)
				}
				return
			}
			var cerr *ConfigError
			if !errors.As(err, &cerr) || cerr.Field != tt.field || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want a *ConfigError for %s", err, tt.field)
			}
			if !errors.Is(newErr, ErrInvalidConfig) {
				t.Fatalf("New() = %v, want the config error", newErr)
			}
		})
	}
}

func TestZeroConfigUsesDefaults(t *testing.T) {
	g := newTestGenerator(t, Config{Seed: 1})
	if len(g.customers) != DefaultCustomers || len(g.catalog) != DefaultProducts || g.cfg.Currency != DefaultCurrency {
		t.Fatalf("zero config built %d customers, %d products, currency %q",
			len(g.customers), len(g.catalog), g.cfg.Currency)
	}
}
