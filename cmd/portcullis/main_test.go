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
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

var (
	// binary is the portcullis built by TestMain (with -race when the
	// tests run with it: see gatewaytest.BuildBinary).
	binary string
	// goVersion is what `go env GOVERSION` says: the toolchain that built
	// binary, which `portcullis version` must print.
	goVersion string
)

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	bin, remove, err := gatewaytest.BuildBinary(".", "portcullis")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer remove()
	binary = bin
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

// startProcess starts the binary with args and, besides baseEnv, the
// extra environment entries (see gatewaytest.StartProcess: it is killed by
// its PID when the test ends, and its output is logged if the test failed).
func startProcess(t *testing.T, env []string, args ...string) *gatewaytest.Process {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(baseEnv(), env...)
	return gatewaytest.StartProcess(t, "portcullis", cmd)
}

// runCommand runs a command that is expected to finish on its own and returns its
// exit code and output.
func runCommand(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := startProcess(t, env, args...)
	code = p.Wait(t, 10*time.Second)
	return code, p.Stdout(), p.Stderr()
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

// startGateway runs `portcullis serve` with the configuration that render
// returns for two free loopback addresses, and waits (at most 10s) until
// the admin port answers /healthz (see gatewaytest.StartGatewayProcess).
func startGateway(t *testing.T, render func(listen, admin string) string) *gatewaytest.GatewayProcess {
	t.Helper()
	return gatewaytest.StartGatewayProcess(t, binary, baseEnv(), render)
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
// returns that response (see gatewaytest.WaitStatus). It fails the test if
// the process exits.
func waitStatus(t *testing.T, p *gatewaytest.Process, url string, want int, timeout time.Duration) *response {
	t.Helper()
	res, body := gatewaytest.WaitStatus(t, p, url, want, timeout)
	return &response{Response: res, body: body}
}

// metricsText reads /metrics in the text format Prometheus scrapes.
func metricsText(t *testing.T, g *gatewaytest.GatewayProcess) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.AdminURL("/metrics"), nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, %v", res.StatusCode, err)
	}
	return body
}

// scrape reads /metrics from the admin server as Prometheus text.
func scrape(t *testing.T, g *gatewaytest.GatewayProcess) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(metricsText(t, g)))
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
