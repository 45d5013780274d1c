package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// profileProducer profiles the producer binary during a full-speed run of
// its own (PRODUCER_COUNT=0, stopped after the profile), so that profiling
// never slows a timed run.
func (b *bench) profileProducer(ctx context.Context) string {
	topic := b.prefix + "profile-producer"
	b.topics = append(b.topics, topic)
	b.logf("profiling the producer for %d s", b.opts.profileSeconds)
	port, err := freePort()
	if err != nil {
		return "producer: profile FAILED: " + err.Error()
	}
	env := append(b.producerEnv(topic, port, 0, 0), "OPS_PPROF=true")
	c, err := b.start(ctx, "profile-producer", b.bin("producer"), nil, env)
	if err != nil {
		return "producer: profile FAILED: " + err.Error()
	}
	defer func() { _ = c.stop() }() // a cleanup: the measurement has its result already
	if _, err := waitFirst(ctx, c, port, "orderpipe_producer_produced_total", time.Minute); err != nil {
		return "producer: profile FAILED: " + err.Error()
	}
	path, err := b.fetchProfile(ctx, port, "producer", b.opts.profileSeconds)
	if err == nil {
		err = c.stop()
	}
	if err != nil {
		return "producer: profile FAILED: " + err.Error()
	}
	return b.summarize(ctx, "producer", path)
}

// profileConsumer profiles the consumer binary over the throughput topic
// with a group and index of its own, from its first consumed message on.
func (b *bench) profileConsumer(ctx context.Context, t throughput) string {
	if t.err != nil {
		return "consumer: profile not taken: " + t.err.Error()
	}
	// The consumer stops working once it has caught up: a profile longer
	// than its timed runs would be mostly idle.
	secs := b.opts.profileSeconds
	for _, r := range t.consumer {
		if r.err == nil {
			secs = max(1, min(secs, int(r.elapsed.Seconds())))
		}
	}
	b.logf("profiling the consumer for %d s", secs)
	var path string
	_, err := b.consumeAll(ctx, &t, "profile-consumer", true, func(addr string) error {
		var err error
		path, err = b.fetchProfile(ctx, addr, "consumer", secs)
		return err
	})
	if err != nil {
		return "consumer: profile FAILED: " + err.Error()
	}
	return b.summarize(ctx, "consumer", path)
}

// fetchProfile saves a CPU profile of secs seconds from a child's
// /debug/pprof into the run's folder.
func (b *bench) fetchProfile(ctx context.Context, addr, name string, secs int) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
	if err != nil {
		return "", fmt.Errorf("build profile request: %w", err)
	}
	// Not httpClient: its timeout is shorter than a profile.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch %s profile: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch %s profile: %s", name, resp.Status)
	}
	path := filepath.Join(b.dir, name+"-cpu.pb.gz")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("save profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return "", fmt.Errorf("save profile: %w", err)
	}
	return path, f.Close()
}

// summarize turns `go tool pprof -top` into one line.
func (b *bench) summarize(ctx context.Context, name, path string) string {
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=8", b.bin(name), path)
	cmd.Dir = b.root
	out, err := cmd.Output()
	if err != nil {
		return fmt.Sprintf("%s: go tool pprof failed: %v", name, err)
	}
	top, err := parseTop(string(out))
	if err != nil {
		return fmt.Sprintf("%s: %v", name, err)
	}
	rel, _ := filepath.Rel(b.root, path)
	s := top.summary(name) + " (`" + rel + "`)"
	b.logf("%s", s)
	return s
}

// topEntry is one line of `go tool pprof -top`.
type topEntry struct {
	flatPct, cumPct float64
	name            string
}

type topProfile struct {
	header  string // "Duration: 10s, Total samples = 9.5s (95.00%)"
	entries []topEntry
}

func parseTop(out string) (topProfile, error) {
	var p topProfile
	inTable := false
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Duration:"):
			p.header = line
		case strings.HasPrefix(line, "flat ") && strings.Contains(line, "cum%"):
			inTable = true
		case inTable && line != "":
			f := strings.Fields(line)
			if len(f) < 6 {
				continue
			}
			flat, err1 := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
			cum, err2 := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
			if err1 != nil || err2 != nil {
				return p, fmt.Errorf("unexpected pprof line %q", line)
			}
			p.entries = append(p.entries, topEntry{flatPct: flat, cumPct: cum, name: strings.Join(f[5:], " ")})
		}
	}
	if len(p.entries) == 0 {
		return p, fmt.Errorf("no functions in the pprof output")
	}
	return p, nil
}

// categories name what a function's time is spent on, first match wins.
var categories = []struct{ match, what string }{
	{"lz4", "lz4 compression"},
	{"encoding/json", "JSON"},
	{"syscall", "syscalls (network I/O)"},
	{"runtime.futex", "scheduler wake-ups"},
	{"runtime.usleep", "scheduler wake-ups"},
	{"runtime.epoll", "network polling"},
	{"runtime.gc", "garbage collection"},
	{"runtime.scanobject", "garbage collection"},
	{"runtime.greyobject", "garbage collection"},
	{"runtime.findObject", "garbage collection"},
	{"runtime.mallocgc", "allocation"},
	{"runtime.memclr", "allocation"},
	{"runtime.memmove", "memory copies"},
	{"kafka-go", "kafka-go protocol"},
	{"orderpipe/internal/generator", "order generation"},
	{"orderpipe/internal/order", "order generation"},
	{"gofakeit", "order generation"},
	{"net/http", "HTTP"},
}

func category(fn string) string {
	for _, c := range categories {
		if strings.Contains(fn, c.match) {
			return c.what
		}
	}
	return "other"
}

// summary names the five functions with the most flat time and the kind of
// work with the largest flat share among the top eight, which is what
// bounds the program.
func (p topProfile) summary(name string) string {
	share := map[string]float64{}
	var bound string
	for _, e := range p.entries {
		c := category(e.name)
		share[c] += e.flatPct
		if bound == "" || share[c] > share[bound] {
			bound = c
		}
	}
	var top []string
	for _, e := range p.entries[:min(5, len(p.entries))] {
		top = append(top, fmt.Sprintf("%s %.1f%%", e.name, e.flatPct))
	}
	return fmt.Sprintf("%s: bound by %s (%.0f%% flat in the top 8); top 5 flat: %s; %s",
		name, bound, share[bound], strings.Join(top, ", "), p.header)
}
