package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// stopGrace is how long a child gets between SIGTERM and SIGKILL: the
// consumer's own shutdown budget is 15 s.
const stopGrace = 20 * time.Second

// child is one program orderbench started. Its output goes to a log file in
// the run's folder; the goroutine started with it waits for it (and for the
// memory sampler it starts), and done closes once it has exited and its
// process group is gone.
type child struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	peakRSS atomic.Int64 // bytes, the highest VmHWM sampled
	exited  time.Time    // valid after done
	err     error        // valid after done
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
	exited := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		c.sampleRSS(pid, exited)
	}()
	go func() {
		defer close(c.done)
		c.err = cmd.Wait()
		c.exited = time.Now()
		close(exited)
		<-sampled
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
// because is err for a message that explains a failure, or errNone where
// there was no error to name (a child that exited 0, a check that was not
// yet true), so the message never reads %!w(<nil>).
func because(err error) error {
	if err == nil {
		return errNone
	}
	return err
}

var errNone = errors.New("no error")

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
		_ = c.stop() // the reason to report is ctx's, not how the child took the stop
		return ctx.Err()
	case <-t.C:
		_ = c.stop()
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

// maxRSS is the child's peak resident set in bytes, as last sampled.
//
// It is not rusage's ru_maxrss: Go starts children with CLONE_VM, and
// Linux's execve folds the address space it replaces (the parent's) into
// the new program's ru_maxrss, so every child would report at least
// orderbench's own peak (a /bin/true started by a 300 MB parent reports
// 300 MB). VmHWM belongs to the child's own address space only.
func (c *child) maxRSS() int64 { return c.peakRSS.Load() }

// sampleRSS reads the child's VmHWM (its peak resident set so far) every
// 50 ms until exited closes. VmHWM only grows, so the last reading is the
// peak but for growth in the final 50 ms.
func (c *child) sampleRSS(pid int, exited <-chan struct{}) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if hwm, ok := readHWM(path); ok && hwm > c.peakRSS.Load() {
			c.peakRSS.Store(hwm)
		}
		select {
		case <-exited:
			return
		case <-tick.C:
		}
	}
}

// readHWM returns VmHWM in bytes from a /proc/<pid>/status file; false once
// the process is gone or a zombie (no address space left).
func readHWM(path string) (int64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024, err == nil
			}
		}
	}
	return 0, false
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
	return c.pollUntil(ctx, metric+" > 0", timeout, func() (bool, error) {
		v, err := scrapeMetric(ctx, addr, metric)
		return err == nil && v > 0, err
	})
}

// pollUntil checks every 50 ms until done says so, and returns when the
// check that said so was answered; it gives up when the child exits, after
// timeout, or when ctx ends, naming what it waited for and the last error.
func (c *child) pollUntil(ctx context.Context, what string, timeout time.Duration, done func() (bool, error)) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := done()
		if ok {
			return time.Now(), nil
		}
		if !c.running() {
			return time.Time{}, fmt.Errorf("%s exited before %s: %w (log: %s)", c.name, what, because(c.err), c.logPath)
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s: not %s after %v (last error: %w; log: %s)", c.name, what, timeout, because(err), c.logPath)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-tick.C:
		}
	}
}
