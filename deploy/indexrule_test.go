package deploy_test

import (
	"testing"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/elastic"
)

// TestLogstashWritesOnlyWhereTheTemplateGoverns: Logstash cannot check the
// index at start as the consumer does, so the rule is held here: the index
// its pipeline writes to is one the built-in template covers, by the same
// function the consumer, orderctl and the dashboard use.
func TestLogstashWritesOnlyWhereTheTemplateGoverns(t *testing.T) {
	tmpl, err := elastic.ParseTemplate(deploy.OrdersTemplateName, deploy.OrdersTemplate)
	if err != nil {
		t.Fatal(err)
	}
	if index := deploy.LogstashIndex(t); !tmpl.Covers(index) {
		t.Errorf("logstash writes to index %q, which template %s (patterns %v) does not cover: Elasticsearch would guess its mapping", index, tmpl.Name, tmpl.Patterns)
	}
}
