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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process the harness started, pinned to its CPUs. Every child
// is ended by its PID in stop, with a bounded wait.
type child struct {
	name string
	cmd  *exec.Cmd
	out  *capped // the first bytes of its stderr, for error reports
	done chan struct{}
	err  error // of Wait, once done is closed
}

// capped keeps the first max bytes written to it and drops the rest.
type capped struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := max(c.max-c.buf.Len(), 0)
	c.buf.Write(p[:min(room, len(p))])
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSpace(c.buf.String())
}

// pinned prefixes argv with taskset when cpus is set. taskset execs the
// program, so the PID is the program's.
func pinned(cpus string, argv []string) []string {
	if cpus == "" {
		return argv
	}
	return append([]string{"taskset", "-c", cpus}, argv...)
}

// startChild starts argv on cpus and returns its stdout. With quiet, its
// stdout and stderr go to /dev/null (and the reader is nil): the gateway's
// access log writes a line per request, and a pipe read by the harness
// would put the harness's own CPU time into the measurement. Otherwise
// stderr is kept (its first 64 KiB, for error reports).
func startChild(name, cpus string, quiet bool, argv ...string) (*child, io.Reader, error) {
	argv = pinned(cpus, argv)
	c := &child{name: name, out: &capped{max: 64 << 10}, done: make(chan struct{})}
	c.cmd = exec.Command(argv[0], argv[1:]...)
	c.cmd.Env = os.Environ()
	var stdout io.Reader
	if quiet {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, nil, err
		}
		defer null.Close() // the child has its own descriptor after Start
		c.cmd.Stdout, c.cmd.Stderr = null, null
	} else {
		c.cmd.Stderr = c.out
		pipe, err := c.cmd.StdoutPipe()
		if err != nil {
			return nil, nil, err
		}
		stdout = pipe
	}
	if err := c.cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	return c, stdout, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports, without waiting, whether the child has ended and why.
func (c *child) exited() (bool, error) {
	select {
	case <-c.done:
		if c.err == nil {
			return true, fmt.Errorf("%s exited", c.name)
		}
		return true, fmt.Errorf("%s exited: %v", c.name, c.err)
	default:
		return false, nil
	}
}

// stop sends SIGTERM, waits up to grace, then SIGKILL and waits again.
func (c *child) stop(grace time.Duration) {
	if c == nil {
		return
	}
	if done, _ := c.exited(); done {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return
	case <-time.After(grace):
	}
	_ = c.cmd.Process.Kill()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
}

// readyLine waits for the first line a child of this binary prints on
// stdout ("ready key=value ..."), bounded by timeout.
func readyLine(c *child, stdout io.Reader, timeout time.Duration) (map[string]string, error) {
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			<-c.done
			return nil, fmt.Errorf("%s ended before it was ready: %v: %s", c.name, c.err, c.out)
		}
		rest, ok := strings.CutPrefix(line, "ready")
		if !ok {
			return nil, fmt.Errorf("%s: unexpected first line %q", c.name, line)
		}
		kv := map[string]string{}
		for _, f := range strings.Fields(rest) {
			k, v, _ := strings.Cut(f, "=")
			kv[k] = v
		}
		return kv, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("%s not ready after %v: %s", c.name, timeout, c.out)
	}
}

// waitHTTP polls url until it answers 200, the child exits, or timeout.
func waitHTTP(ctx context.Context, c *child, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	var last string
	for time.Now().Before(deadline) {
		if done, err := c.exited(); done {
			return err
		}
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: %s not ready after %v: %s", c.name, url, timeout, last)
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// procCPU is a process's CPU time so far, all threads, user and system:
// the sum of its threads' run time from /proc/PID/task/*/schedstat
// (nanoseconds, as the scheduler counts it), or, where schedstat is
// missing, utime+stime from /proc/PID/stat (clock ticks, sampled).
func procCPU(pid int, ticksPerSecond int64) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err == nil {
		var sum time.Duration
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // the thread ended between the two reads
				}
				sum = -1
				break
			}
			ns, err := parseSchedstat(string(b))
			if err != nil {
				sum = -1
				break
			}
			sum += ns
		}
		if sum >= 0 {
			return sum, nil
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	ticks, err := parseStatTicks(string(b))
	return time.Duration(ticks) * time.Second / time.Duration(ticksPerSecond), err
}

// parseSchedstat reads the first field of schedstat: time on the CPU, ns.
func parseSchedstat(s string) (time.Duration, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return 0, fmt.Errorf("schedstat: %q", s)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns), err
}

// parseStatTicks reads utime and stime (fields 14 and 15 of proc(5)) from
// a /proc/PID/stat line. The command name (field 2) may hold spaces and
// parentheses, so the fields are counted from its last ')'.
func parseStatTicks(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state): utime is field 14, f[11].
	if len(f) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	return u + s, nil
}

// memory reads the resident set now (VmRSS) and its peak (VmHWM), in bytes.
func memory(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseStatus(string(b))
}

func parseStatus(status string) (rss, peak int64, err error) {
	for line := range strings.Lines(status) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("status: %s: %q", k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("status: %s: %v", k, err)
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			peak = n << 10
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("status: no VmRSS")
	}
	return rss, peak, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times.
func clockTicks() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
}

// scrapeSum adds up the values of every sample of the named metrics in a
// Prometheus text exposition, by name.
func scrapeSum(text string, names ...string) map[string]float64 {
	sums := map[string]float64{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		for _, n := range names {
			rest, ok := strings.CutPrefix(line, n)
			if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
				continue
			}
			if strings.HasPrefix(rest, "{") {
				j := strings.LastIndexByte(rest, '}')
				if j < 0 {
					continue
				}
				rest = rest[j+1:]
			}
			f := strings.Fields(rest)
			if len(f) == 0 {
				continue
			}
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				sums[n] += v
			}
		}
	}
	return sums
}

// cpuTimes is one CPU's busy time since boot, in ticks.
type cpuTimes struct {
	Busy int64 // user, nice, system, irq, softirq, steal
	IRQ  int64 // irq and softirq: on loopback, mostly the network traffic of the run itself
}

// cpuBusy reads /proc/stat: the busy ticks of each CPU since boot.
func cpuBusy() (map[int]cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	return parseProcStat(string(b))
}

func parseProcStat(stat string) (map[int]cpuTimes, error) {
	out := map[int]cpuTimes{}
	for line := range strings.Lines(stat) {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		cpu, err := strconv.Atoi(f[0][3:])
		if err != nil {
			return nil, fmt.Errorf("/proc/stat: %q", f[0])
		}
		var t cpuTimes
		// user nice system idle iowait irq softirq steal: idle and
		// iowait are not busy.
		for i, v := range f[1:9] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/stat: %s: %v", f[0], err)
			}
			switch i {
			case 3, 4:
				continue
			case 5, 6:
				t.IRQ += n
			}
			t.Busy += n
		}
		out[cpu] = t
	}
	if len(out) == 0 {
		return nil, errors.New("/proc/stat: no cpuN lines")
	}
	return out, nil
}

// busyOn is the busy and interrupt ticks of the listed CPUs between two
// readings.
func busyOn(before, after map[int]cpuTimes, cpus []int) cpuTimes {
	var d cpuTimes
	for _, c := range cpus {
		d.Busy += after[c].Busy - before[c].Busy
		d.IRQ += after[c].IRQ - before[c].IRQ
	}
	return d
}

// cpuList expands a taskset list such as "0", "2-3" or "0,2" into CPU
// numbers; an empty or unreadable list gives nil.
func cpuList(list string) []int {
	var out []int
	for _, part := range strings.Split(list, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil
		}
		z := a
		if isRange {
			if z, err = strconv.Atoi(hi); err != nil || z < a {
				return nil
			}
		}
		for c := a; c <= z; c++ {
			out = append(out, c)
		}
	}
	return out
}
