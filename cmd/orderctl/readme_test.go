package main

import (
	"bytes"
	"slices"
	"testing"

	"github.com/orderpipe/orderpipe/internal/settings"
	"github.com/orderpipe/orderpipe/internal/settings/settingstest"
)

// TestREADMESettingsTable: the README's orderctl table lists what the
// subcommands' -h list, rendered from the same declarations, one row per
// variable with the subcommands that read it; `make docs` rewrites it.
func TestREADMESettingsTable(t *testing.T) {
	cmds := []settings.Command{{Name: "setup", Spec: &setupConfig{}}, {Name: "tail", Spec: &tailConfig{}}, {Name: "verify", Spec: &verifyConfig{}}, {Name: "dashboard", Spec: &dashboardConfig{}}}
	// A new subcommand's settings belong in the table too.
	var want []string
	for _, c := range subcommands() {
		want = append(want, c.name)
	}
	var have []string
	for _, c := range cmds {
		have = append(have, c.Name)
	}
	if !slices.Equal(have, want) {
		t.Fatalf("the table covers subcommands %v, orderctl has %v: add the new one's settings struct here", have, want)
	}
	var table bytes.Buffer
	if err := settings.MarkdownCommands(&table, cmds...); err != nil {
		t.Fatal(err)
	}
	settingstest.AssertREADMESection(t, "orderctl", table.Bytes())
}
