package main

// These tests hold the gateway's /metrics to the real Prometheus: promtool's
// linter on the live output, and a Prometheus server on loopback that
// scrapes the built binary and answers a query about it. Both programs come
// from Debian's prometheus package; without them the tests skip, unless
// PORTCULLIS_PROMETHEUS_REQUIRED=1 (CI), where their absence is a failure.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// prometheusRequiredEnv set to 1 makes a missing promtool or prometheus a
// failure instead of a skip, so that CI cannot pass by not running these.
const prometheusRequiredEnv = "PORTCULLIS_PROMETHEUS_REQUIRED"

// prometheusTool returns the path of a program of the prometheus package,
// or skips the test (fails it, with prometheusRequiredEnv=1) when it is not
// on PATH.
func prometheusTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv(prometheusRequiredEnv) == "1" {
		t.Fatalf("%s is not on PATH and %s=1: install it (Debian: apt-get install prometheus)", name, prometheusRequiredEnv)
	}
	t.Skipf("%s is not on PATH: install it (Debian: apt-get install prometheus) to run this test, or set %s=1 to make its absence a failure", name, prometheusRequiredEnv)
	return ""
}

// checkMetrics pipes an exposition to `promtool check metrics` and returns
// its exit code and output (the problems it found, one a line).
func checkMetrics(t *testing.T, exposition []byte) (int, string) {
	t.Helper()
	bin := prometheusTool(t, "promtool")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(exposition))
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	return cmd.ProcessState.ExitCode(), strings.TrimSpace(string(out))
}

func TestMetricsMeetPrometheusConventions(t *testing.T) {
	t.Parallel()
	idp, keys := newIssuer(t, "k1")
	upstream := gatewaytest.NewUpstream(t)
	g := startGateway(t, gatewayConfig([]testIssuer{{"corp", idp, viaJWKSURI}}, upstream.URL, "5s"))
	waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)
	// Something of every kind, so that every family has samples to lint:
	// an allowed request (both histograms), a refused one, an unmatched one.
	tok := keys[0].Sign(tokentest.Standard(idp.URL(), "orders-api", "alice", "orders:read", time.Hour))
	for _, r := range []struct {
		path    string
		headers map[string]string
		want    int
	}{
		{"/orders/1", bearer(tok), http.StatusOK},
		{"/orders/1", nil, http.StatusUnauthorized},
		{"/nowhere", nil, http.StatusNotFound},
	} {
		if res := do(t, http.MethodGet, g.URL(r.path), r.headers); res.StatusCode != r.want {
			t.Fatalf("GET %s: status %d, want %d: %s", r.path, res.StatusCode, r.want, res.body)
		}
	}

	t.Run("promtool check metrics finds nothing to fix in the live /metrics", func(t *testing.T) {
		body := metricsText(t, g)
		code, out := checkMetrics(t, body)
		if code != 0 || out != "" {
			t.Errorf("promtool check metrics: exit code %d, want 0 and no complaint:\n%s", code, out)
		}
		if !strings.Contains(string(body), "portcullis_requests_total{") {
			t.Errorf("the linted body holds no portcullis_requests_total sample:\n%s", gatewaytest.Tail(string(body), 20))
		}
	})
	t.Run("promtool check metrics does complain about a counter without _total", func(t *testing.T) {
		// The control: the check above would pass vacuously if promtool
		// never complained.
		code, out := checkMetrics(t, []byte("# HELP portcullis_requests Requests.\n# TYPE portcullis_requests counter\nportcullis_requests 1\n"))
		if code == 0 || !strings.Contains(out, "_total") {
			t.Errorf("promtool check metrics on a counter without _total: exit code %d, output %q; want a complaint about _total", code, out)
		}
	})
	t.Run("duration buckets run from under a millisecond to tens of seconds", func(t *testing.T) {
		mfs := scrape(t, g)
		for _, name := range []string{"portcullis_request_duration_seconds", "portcullis_upstream_duration_seconds"} {
			mf := mfs[name]
			if mf == nil || len(mf.GetMetric()) == 0 || mf.GetMetric()[0].GetHistogram() == nil {
				t.Errorf("/metrics has no %s histogram", name)
				continue
			}
			b := mf.GetMetric()[0].GetHistogram().GetBucket()
			lowest, highest := b[0].GetUpperBound(), b[len(b)-1].GetUpperBound()
			if lowest > 0.0005 || highest < 10 {
				t.Errorf("%s buckets run from %gs to %gs, want from at most 0.5ms to at least 10s", name, lowest, highest)
			}
		}
	})
}

// prometheusServer is one `prometheus` process started by a test.
type prometheusServer struct {
	*gatewaytest.Process
	addr string // host:port of its web API
}

func (p *prometheusServer) url(path string) string { return "http://" + p.addr + path }

// stop ends the server by its PID: SIGTERM, then SIGKILL if it has not
// exited within 10s. It reports whether the SIGTERM was enough.
func (p *prometheusServer) stop(t *testing.T) bool {
	t.Helper()
	return p.Stop(t, 10*time.Second)
}

// startPrometheus runs a Prometheus on a free loopback port that scrapes
// target's /metrics every second as job "portcullis", with its storage in
// a temporary directory, and waits (at most 30s) until it is ready. It is
// stopped by its PID at the end of the test.
func startPrometheus(t *testing.T, target string) *prometheusServer {
	t.Helper()
	bin := prometheusTool(t, "prometheus")
	dir := t.TempDir() // removed after the server is stopped: cleanups run last-in first-out
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 1s
scrape_configs:
  - job_name: portcullis
    static_configs:
      - targets: [%q]
`, target)), 0o600); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		addr := gatewaytest.FreeAddr(t)
		cmd := exec.Command(bin,
			"--config.file="+config,
			"--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("data-%d", attempt)),
			"--web.listen-address="+addr,
			"--log.level=warn",
		)
		cmd.Env = baseEnv()
		// Killed by its PID and its output logged on failure by
		// StartProcess; stopped gracefully first, since cleanups run
		// last-registered first.
		p := &prometheusServer{Process: gatewaytest.StartProcess(t, "prometheus", cmd), addr: addr}
		t.Cleanup(func() { p.stop(t) })

		if gatewaytest.WaitServing(t, p.Process, p.url("/-/ready"), 30*time.Second) {
			return p
		}
		if !strings.Contains(p.Output(), "address already in use") || attempt == 3 {
			t.Fatalf("prometheus exited before it was ready:\n%s", gatewaytest.Tail(p.Output(), 30))
		}
	}
}

// promSample is one element of a Prometheus instant-query vector.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [unix time, "value"]
}

// query runs an instant query through Prometheus's HTTP API.
func (p *prometheusServer) query(t *testing.T, promql string) ([]promSample, error) {
	t.Helper()
	res, err := client.Get(p.url("/api/v1/query?query=" + url.QueryEscape(promql)))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var body struct {
		Status    string `json:"status"`
		Error     string `json:"error"`
		ErrorType string `json:"errorType"`
		Data      struct {
			ResultType string       `json:"resultType"`
			Result     []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("status %d, body not JSON: %w", res.StatusCode, err)
	}
	if body.Status != "success" || body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("status %d %s %s: %s (result type %q)", res.StatusCode, body.Status, body.ErrorType, body.Error, body.Data.ResultType)
	}
	return body.Data.Result, nil
}

// vector flattens query results into label set -> value, without the
// labels in drop, the label set written as by labels.
func vector(samples []promSample, drop ...string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range samples {
		var kv []string
		for k, v := range s.Metric {
			if k != "__name__" && !slices.Contains(drop, k) {
				kv = append(kv, k, v)
			}
		}
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			v = math.NaN() // never equal to an expected count
		}
		out[labels(kv...)] = v
	}
	return out
}

func TestPrometheusScrapesTheGateway(t *testing.T) {
	t.Parallel()
	prometheusTool(t, "prometheus") // skip before starting anything
	idp, keys := newIssuer(t, "k1")
	upstream := gatewaytest.NewUpstream(t)
	g := startGateway(t, gatewayConfig([]testIssuer{{"corp", idp, viaJWKSURI}}, upstream.URL, "5s"))
	waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)

	// Every request is sent before Prometheus starts, so that every scrape
	// it makes sees the final counts.
	claims := tokentest.Standard(idp.URL(), "orders-api", "alice", "orders:read", time.Hour)
	allowed, noScope := keys[0].Sign(claims), keys[0].Sign(claims.With("scope", "profile"))
	sends := []struct {
		method, path string
		headers      map[string]string
		times        int
	}{
		{http.MethodGet, "/orders/1", bearer(allowed), 3},
		{http.MethodHead, "/orders/1", bearer(allowed), 1},
		{http.MethodGet, "/orders/1", nil, 2},
		{http.MethodGet, "/orders/1", bearer(noScope), 1},
		{http.MethodGet, "/elsewhere", nil, 1},
	}
	for _, s := range sends {
		for range s.times {
			do(t, s.method, g.URL(s.path), s.headers)
		}
	}
	want := map[string]float64{
		labels("route", "orders", "method", "GET", "code", "200", "via", "proxy"):    3,
		labels("route", "orders", "method", "HEAD", "code", "200", "via", "proxy"):   1,
		labels("route", "orders", "method", "GET", "code", "401", "via", "proxy"):    2,
		labels("route", "orders", "method", "GET", "code", "403", "via", "proxy"):    1,
		labels("route", "unmatched", "method", "GET", "code", "404", "via", "proxy"): 1,
	}
	// The gateway's own count, which Prometheus must reproduce.
	if got := series(scrape(t, g), "portcullis_requests_total"); !mapsEqual(got, want) {
		t.Fatalf("the gateway's /metrics: portcullis_requests_total\n got %v\nwant %v", got, want)
	}

	prom := startPrometheus(t, g.Admin)

	t.Run("the query API returns portcullis_requests_total as the gateway counted it", func(t *testing.T) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			samples, err := prom.query(t, "portcullis_requests_total")
			got := vector(samples, "job", "instance")
			if err == nil && mapsEqual(got, want) {
				for _, s := range samples {
					if s.Metric["job"] != "portcullis" || s.Metric["instance"] != g.Admin {
						t.Errorf("series %v: want job=portcullis and instance=%s", s.Metric, g.Admin)
					}
				}
				return
			}
			if time.Now().After(deadline) {
				targets, _ := client.Get(prom.url("/api/v1/targets"))
				var detail []byte
				if targets != nil {
					detail, _ = io.ReadAll(targets.Body)
					targets.Body.Close()
				}
				t.Fatalf("no matching answer within 30s\n got %v (error %v)\nwant %v\ntargets: %s", got, err, want, detail)
			}
			time.Sleep(250 * time.Millisecond)
		}
	})
	t.Run("the scrape target is up", func(t *testing.T) {
		// A scrape can time out on a loaded machine; the target must be up
		// again within a few scrapes.
		deadline := time.Now().Add(20 * time.Second)
		for {
			samples, err := prom.query(t, `up{job="portcullis"}`)
			got := vector(samples)
			if err == nil && len(got) == 1 && got[labels("job", "portcullis", "instance", g.Admin)] == 1 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf(`up{job="portcullis"} = %v (error %v), want 1 for instance %s`, got, err, g.Admin)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
	t.Run("prometheus stops on SIGTERM", func(t *testing.T) {
		if !prom.stop(t) {
			t.Errorf("prometheus (pid %d) needed SIGKILL", prom.PID())
		}
	})
}
