package main

import (
	"testing"

	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// TestREADMESettingsTable: the README's producer table lists what -h lists,
// rendered from the same declarations; `make docs` rewrites it.
func TestREADMESettingsTable(t *testing.T) {
	servicetest.AssertREADMESettings(t, "producer", &config{})
}
