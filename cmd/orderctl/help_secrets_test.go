package main

import (
	"testing"

	"github.com/orderpipe/orderpipe/internal/settings/settingstest"
)

// TestHelpPrintsNoSecret: each subcommand's -h lists every variable, secrets included, by
// name and default only; with every secret set in the environment, none of
// their values is printed.
func TestHelpPrintsNoSecret(t *testing.T) {
	settingstest.AssertHelpHidesSecrets(t, settingstest.Program{Run: run, ExitCode: exitCode},
		[]string{"setup", "-h"}, []string{"verify", "-h"}, []string{"tail", "-h"}, []string{"dashboard", "-h"})
}
