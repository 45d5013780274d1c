package main

// The parts of orderctl setup and SETUP_PARTS, which selects some of them:
// compose runs the Kafka and Elasticsearch parts in one one-shot that the
// ingest services wait for, and the Kibana part in another that waits for
// Kibana, so ingest never waits for Kibana.

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/orderpipe/orderpipe/internal/settings"
)

// The parts, in the order setup runs them.
const (
	partTopics   = "topics"   // the orders and dead-letter topics
	partSecurity = "security" // kibana_system password, writer role and users
	partTemplate = "template" // the orders index template
	partKibana   = "kibana"   // the Kibana saved objects
)

var setupPartNames = []string{partTopics, partSecurity, partTemplate, partKibana}

// setupParts is the set of parts one run does.
type setupParts map[string]bool

// parseSetupParts reads SETUP_PARTS: a comma-separated list of part names;
// empty selects every part, so a plain `orderctl setup` does everything.
func parseSetupParts(value string) (setupParts, error) {
	parts := setupParts{}
	if strings.TrimSpace(value) == "" {
		for _, p := range setupPartNames {
			parts[p] = true
		}
		return parts, nil
	}
	for _, p := range strings.Split(value, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(setupPartNames, p) {
			return nil, &settings.Error{Variable: "SETUP_PARTS",
				Reason: fmt.Sprintf("unknown part %q (parts: %s)", p, strings.Join(setupPartNames, ", "))}
		}
		parts[p] = true
	}
	if len(parts) == 0 {
		return nil, &settings.Error{Variable: "SETUP_PARTS",
			Reason: fmt.Sprintf("%q selects no part (parts: %s; empty: all)", value, strings.Join(setupPartNames, ", "))}
	}
	return parts, nil
}

// all reports whether every part runs, i.e. SETUP_PARTS chose nothing out.
func (s setupParts) all() bool { return len(s) == len(setupPartNames) }

// printSkipped prints one line for each part this run leaves out, so a log
// of a partial run says what it did not do.
func (s setupParts) printSkipped(w io.Writer) {
	for _, p := range setupPartNames {
		if !s[p] {
			fmt.Fprintf(w, "%s: not selected by SETUP_PARTS\n", p)
		}
	}
}
