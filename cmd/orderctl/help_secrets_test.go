package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// TestHelpPrintsNoSecret: -h lists every variable, secrets included, by
// name and default only; with every secret set in the environment, none of
// their values is printed.
func TestHelpPrintsNoSecret(t *testing.T) {
	for _, args := range [][]string{{"setup", "-h"}, {"verify", "-h"}, {"tail", "-h"}, {"dashboard", "-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			servicetest.AssertHelpHidesSecrets(t, func(t *testing.T) string {
				t.Helper()
				var stdout, stderr bytes.Buffer
				if err := run(context.Background(), args, &stdout, &stderr); exitCode(err, &stderr) != 0 {
					t.Fatalf("%v: %v\n%s", args, err, stderr.String())
				}
				return stdout.String() + stderr.String()
			})
		})
	}
}
