package deploy

import "testing"

// LogstashIndex is the index Logstash's elasticsearch output writes to, for
// the external tests that hold it to rules this package cannot import
// (internal/elastic imports deploy).
func LogstashIndex(t *testing.T) string {
	t.Helper()
	outs := findPlugins(loadPipeline(t), "output", "elasticsearch")
	if len(outs) != 1 {
		t.Fatalf("want exactly one elasticsearch output, got %d", len(outs))
	}
	return setting(t, outs[0], "index")
}
