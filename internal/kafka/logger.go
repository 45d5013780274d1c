package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// limitedLogger is kafka-go's logger (kafkago.Logger) on a program's slog,
// rate-limited: each kind of line (kafka-go's format string, whatever its
// arguments) at most once per every, the next one logged saying how many
// were left out. kafka-go logs from loops that retry at once, such as a
// group member's partition lookups on a topic that does not exist
// (hundreds of lines a second): no condition of the client may flood the
// log, and one line a second still says what is going on.
type limitedLogger struct {
	log   *slog.Logger
	level slog.Level
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	seen map[string]*lineCount
}

type lineCount struct {
	last      time.Time
	notLogged int
}

func newLimitedLogger(log *slog.Logger, level slog.Level, every time.Duration) *limitedLogger {
	return &limitedLogger{log: log, level: level, every: every, now: time.Now, seen: map[string]*lineCount{}}
}

// Printf implements kafkago.Logger.
func (l *limitedLogger) Printf(format string, args ...any) {
	l.mu.Lock()
	now := l.now()
	c := l.seen[format]
	if c == nil {
		c = &lineCount{}
		l.seen[format] = c
	}
	if !c.last.IsZero() && now.Sub(c.last) < l.every {
		c.notLogged++
		l.mu.Unlock()
		return
	}
	notLogged := c.notLogged
	c.last, c.notLogged = now, 0
	l.mu.Unlock()
	attrs := []any{}
	if notLogged > 0 {
		attrs = append(attrs, "like_lines_not_logged", notLogged)
	}
	l.log.Log(context.Background(), l.level, "kafka client: "+fmt.Sprintf(format, args...), attrs...)
}
