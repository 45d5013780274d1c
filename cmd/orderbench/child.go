package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a child gets between SIGTERM and SIGKILL: the
// consumer's own shutdown budget is 15 s.
const stopGrace = 20 * time.Second

// child is one program orderbench started. Its output goes to a log file in
// the run's folder; the goroutine started with it waits for it, and done
// closes once it has exited and its process group is gone.
type child struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	exited  time.Time // valid after done
	err     error     // valid after done
}

// start runs path in its own process group, with only the environment given
// (plus PATH, HOME and JAVA_HOME), so that nothing from the caller's shell
// changes what is measured. Cancelling ctx stops it like stop does.
func (b *bench) start(ctx context.Context, name, path string, args, env []string) (*child, error) {
	logPath := filepath.Join(b.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", logPath, err)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(baseEnv(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	c := &child{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c.started = time.Now()
	pid := cmd.Process.Pid
	go func() {
		defer close(c.done)
		c.err = cmd.Wait()
		c.exited = time.Now()
		// Whatever the program left in its group goes with it.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		f.Close()
	}()
	return c, nil
}

func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "JAVA_HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// exitErr is the child's exit status as an error naming its log.
func (c *child) exitErr() error {
	if c.err != nil {
		return fmt.Errorf("%s: %w (log: %s)", c.name, c.err, c.logPath)
	}
	return nil
}

func (c *child) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// wait waits for the child to finish on its own; after timeout it is stopped
// and that is an error.
func (c *child) wait(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
		return c.exitErr()
	case <-ctx.Done():
		c.stop()
		return ctx.Err()
	case <-t.C:
		c.stop()
		return fmt.Errorf("%s did not finish within %v (log: %s)", c.name, timeout, c.logPath)
	}
}

// stop sends SIGTERM to the child's group, then SIGKILL after stopGrace,
// and returns once it has exited. Stopping an exited child is a no-op.
func (c *child) stop() error {
	if c.running() {
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-c.done:
		case <-t.C:
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.done
		}
	}
	return c.exitErr()
}

// maxRSS is the child's peak resident set in bytes (rusage ru_maxrss, which
// Linux reports in KiB); 0 before it exited.
func (c *child) maxRSS() int64 {
	if c.running() || c.cmd.ProcessState == nil {
		return 0
	}
	if ru, ok := c.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024
	}
	return 0
}

// freePort picks a loopback port for a child's ops listener. The tiny window
// between closing it here and the child binding it is acceptable on a
// machine whose other users are the tests (which bind port 0).
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// scrapeMetric returns the sum over all label sets of one metric on a
// child's /metrics.
func scrapeMetric(ctx context.Context, addr, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, fmt.Errorf("build metrics request: %w", err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", addr, err)
	}
	return metricSum(body, name)
}

// metricSum reads one metric out of the Prometheus text format. Only plain
// samples ("name value" or "name{labels} value") are needed here, so this
// small reader stands in for a full parser.
func metricSum(text []byte, name string) (float64, error) {
	var sum float64
	found := false
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		switch {
		case strings.HasPrefix(rest, " "):
		case strings.HasPrefix(rest, "{"):
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				return 0, fmt.Errorf("metric %s: bad line %q", name, line)
			}
			rest = rest[end+1:]
		default:
			continue // another metric sharing the prefix
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, fmt.Errorf("metric %s: bad line %q", name, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: %w", name, err)
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("metric %s not exposed", name)
	}
	return sum, nil
}

// waitFirst polls a counter every 50 ms until it is above zero and returns
// when that poll was answered: the start of the child's work, late by at
// most one poll.
func waitFirst(ctx context.Context, c *child, addr, metric string, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if v, err := scrapeMetric(ctx, addr, metric); err == nil && v > 0 {
			return time.Now(), nil
		}
		if !c.running() {
			return time.Time{}, fmt.Errorf("%s exited before %s rose: %v (log: %s)", c.name, metric, c.err, c.logPath)
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s: %s still 0 after %v (log: %s)", c.name, metric, timeout, c.logPath)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-tick.C:
		}
	}
}
