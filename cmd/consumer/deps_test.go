package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestConsumerLinksNoGenerator keeps the consumer's binary to what reading
// orders needs: the order contract yes, the traffic generator and its
// fake-data library no. A stray import of internal/generator (say, for a
// constant) would quietly pull gofakeit's data tables into every consumer.
func TestConsumerLinksNoGenerator(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("find the go command to list the consumer's dependencies: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	tests := []struct {
		name      string
		forbidden string
	}{
		{"fake-data library", "github.com/brianvoe/gofakeit"},
		{"order generator", "github.com/orderpipe/orderpipe/internal/generator"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, dep := range deps {
				if strings.HasPrefix(dep, tc.forbidden) {
					t.Errorf("consumer depends on %s", dep)
				}
			}
		})
	}
	// A contract package the consumer must link proves the listing is real
	// and not, say, empty output from a broken go command.
	if !strings.Contains(string(out), "github.com/orderpipe/orderpipe/internal/order\n") {
		t.Fatalf("go list -deps does not list internal/order; output:\n%s", out)
	}
}
