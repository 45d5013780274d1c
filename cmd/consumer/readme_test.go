package main

import (
	"testing"

	"github.com/orderpipe/orderpipe/internal/settings/settingstest"
)

// TestREADMESettingsTable: the README's consumer table lists what -h lists,
// rendered from the same declarations; `make docs` rewrites it.
func TestREADMESettingsTable(t *testing.T) {
	settingstest.AssertREADMESettings(t, "consumer", &config{})
}
