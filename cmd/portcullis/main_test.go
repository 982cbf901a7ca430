package main

// The tests of this package drive the real binary across the process
// boundary: TestMain builds it once, and every test starts it with
// exec.Command, talks to it over loopback HTTP and reads its exit code,
// stdout and stderr, as an operator or a load balancer would. Every process a
// test starts is ended by its PID in t.Cleanup, and every wait is bounded.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var (
	// binary is the portcullis built by TestMain.
	binary string
	// goVersion is what `go env GOVERSION` says: the toolchain that built
	// binary, which `portcullis version` must print.
	goVersion string
	// raceEnabled is set by race_test.go when the tests run with -race; the
	// binary is then built with -race too, so that a data race inside the
	// gateway fails the test that provoked it.
	raceEnabled bool
)

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "portcullis-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot create a directory for the binary:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "portcullis")

	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go %s: %v\n%s", strings.Join(build.Args[1:], " "), err, out)
		return 1
	}
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "go env GOVERSION:", err)
		return 1
	}
	goVersion = strings.TrimSpace(string(out))
	return m.Run()
}

// baseEnv is the test's environment without any PORTCULLIS_* variable, so
// that the caller's shell cannot change what a test means.
func baseEnv() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PORTCULLIS_")
	})
	// A race in the binary makes it exit 66: exit-code assertions catch it.
	return append(env, "GORACE=exitcode=66")
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is one running portcullis.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{} // closed when the process has exited
	waitErr        error         // Wait's result; read only after done
}

// startProcess starts the binary with args and extra environment entries.
// The process is killed (by its PID) at the end of the test if it is still
// running, and its output is logged if the test failed.
func startProcess(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(baseEnv(), env...)
	p := &process{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	cmd.WaitDelay = 2 * time.Second // never wait on pipes forever
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", strings.Join(cmd.Args, " "), err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				t.Errorf("portcullis (pid %d) still running 5s after SIGKILL", cmd.Process.Pid)
			}
		}
		if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("the race detector found a data race in portcullis:\n%s", p.stderr.String())
		}
		if t.Failed() {
			t.Logf("portcullis %s (pid %d)\n--- stdout (tail)\n%s\n--- stderr (tail)\n%s",
				strings.Join(cmd.Args[1:], " "), cmd.Process.Pid, tail(p.stdout.String(), 30), tail(p.stderr.String(), 30))
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits at most timeout for the process to exit and returns its exit
// code; it fails the test if the process is still running.
func (p *process) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("portcullis (pid %d) did not exit within %v\nstderr (tail):\n%s", p.cmd.Process.Pid, timeout, tail(p.stderr.String(), 20))
	}
	var exitErr *exec.ExitError
	if p.waitErr != nil && !errors.As(p.waitErr, &exitErr) {
		t.Fatalf("waiting for portcullis: %v", p.waitErr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// signal sends sig to the process by its PID.
func (p *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to pid %d: %v", sig, p.cmd.Process.Pid, err)
	}
}

// output is stdout and stderr together, for messages.
func (p *process) output() string { return p.stdout.String() + p.stderr.String() }

// runCommand runs a command that is expected to finish on its own and returns its
// exit code and output.
func runCommand(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := startProcess(t, env, args...)
	code = p.wait(t, 10*time.Second)
	return code, p.stdout.String(), p.stderr.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d earlier lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// freeAddr returns a loopback address whose port was free a moment ago.
// Another process may take it before portcullis does: callers that start a
// server retry on "address already in use".
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("no free loopback port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// isRefused reports whether nothing listens at addr.
func isRefused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	c.Close()
	return false
}

// writeFile writes content into a file of the test's temporary directory
// and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// gatewayProc is a `portcullis serve` whose listeners are up.
type gatewayProc struct {
	*process
	listen, admin string // host:port of the proxy and of the admin server
	config        string // path of its configuration file
}

func (g *gatewayProc) url(path string) string      { return "http://" + g.listen + path }
func (g *gatewayProc) adminURL(path string) string { return "http://" + g.admin + path }

// startGateway writes the configuration that render returns for two free
// loopback addresses, runs `portcullis serve -config` with it and waits (at
// most 10s) until the admin port answers /healthz. A port taken in the
// meantime by someone else is retried with new ones.
func startGateway(t *testing.T, render func(listen, admin string) string) *gatewayProc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		listen, admin := freeAddr(t), freeAddr(t)
		path := writeFile(t, "portcullis.yaml", render(listen, admin))
		p := startProcess(t, nil, "serve", "-config", path)
		g := &gatewayProc{process: p, listen: listen, admin: admin, config: path}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if res, err := client.Get(g.adminURL("/healthz")); err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					return g
				}
			}
			if p.exited() {
				if strings.Contains(p.stderr.String(), "address already in use") && attempt < 3 {
					break
				}
				t.Fatalf("portcullis serve exited with code %d before serving\nstderr:\n%s",
					p.cmd.ProcessState.ExitCode(), tail(p.stderr.String(), 30))
			}
			if time.Now().After(deadline) {
				t.Fatalf("portcullis serve: no 200 from %s within 10s", g.adminURL("/healthz"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// client is the tests' HTTP client: bounded, no proxy from the environment,
// no connection reuse (so that shutdown tests see what a new client sees).
var client = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
}

// response is a fully read HTTP response.
type response struct {
	*http.Response
	body []byte
}

// do sends a request built from method, url and headers (kept exactly as
// spelled, e.g. "X_User_Id") and reads the whole response.
func do(t *testing.T, method, url string, headers map[string]string) *response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range headers {
		req.Header[name] = append(req.Header[name], v)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return &response{Response: res, body: body}
}

// decodeJSON decodes a response body, failing the test with the body when it
// is not the expected JSON.
func decodeJSON(t *testing.T, r *response, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%s %s: body is not JSON (%v):\n%s", r.Request.Method, r.Request.URL, err, r.body)
	}
}

// waitStatus polls url until it answers want, for at most timeout, and
// returns the last response. It fails the test if the process exits.
func waitStatus(t *testing.T, p *process, url string, want int, timeout time.Duration) *response {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		res, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == want {
				return &response{Response: res, body: body}
			}
			last = fmt.Sprintf("%d %s", res.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		if p.exited() {
			t.Fatalf("portcullis exited (code %d) while waiting for %d from %s", p.cmd.ProcessState.ExitCode(), want, url)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: no %d within %v; last answer: %s", url, want, timeout, last)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// scrape reads /metrics from the admin server as Prometheus text.
func scrape(t *testing.T, g *gatewayProc) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.adminURL("/metrics"), nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", res.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("GET /metrics: not the Prometheus text format: %v", err)
	}
	return mfs
}

// series flattens one metric family into label set -> value, the label set
// written as by labels.
func series(mfs map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	mf := mfs[name]
	if mf == nil {
		return out
	}
	for _, m := range mf.GetMetric() {
		var kv []string
		for _, lp := range m.GetLabel() {
			kv = append(kv, lp.GetName(), lp.GetValue())
		}
		var v float64
		switch {
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Untyped != nil:
			v = m.GetUntyped().GetValue()
		}
		out[labels(kv...)] = v
	}
	return out
}

// labels writes a label set in one canonical form: name="value" pairs
// sorted by name, comma-separated.
func labels(kv ...string) string {
	var pairs []string
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", kv[i], kv[i+1]))
	}
	slices.Sort(pairs)
	return "{" + strings.Join(pairs, ",") + "}"
}
