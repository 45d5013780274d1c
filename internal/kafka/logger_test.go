package kafka

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimitedLoggerLogsEachKindOfLineOnceASecondWithACount(t *testing.T) {
	var buf bytes.Buffer
	l := newLimitedLogger(slog.New(slog.NewJSONHandler(&buf, nil)), slog.LevelWarn, time.Second)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	for i := range 1000 { // a client loop that fails at once, 1,000 times in 100 ms
		l.Printf("Problem getting partitions during startup, %v\n, Returning and setting up nil partitions", i)
		l.Printf("the kafka reader got an unknown error reading partition %d", i)
		now = now.Add(100 * time.Microsecond)
	}
	now = now.Add(time.Second)
	l.Printf("Problem getting partitions during startup, %v\n, Returning and setting up nil partitions", "again")

	var lines []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("line %q: %v", s, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (each kind once, then the first again a second later): %s", len(lines), buf.String())
	}
	if got := lines[2]["like_lines_not_logged"]; got != float64(999) {
		t.Errorf("like_lines_not_logged = %v, want 999", got)
	}
	if lvl := lines[0]["level"]; lvl != "WARN" {
		t.Errorf("level %v, want WARN", lvl)
	}
}
