package main

// Tests of the tuned bare proxy, the h2 and gRPC scenarios (h2load's
// output, the gRPC load generator, the generated configurations) and their
// report against the tuned bare proxy. Like the rest of bench's tests they
// check the instrument; the loads they start are a fraction of a second
// on loopback.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/policy"
)

func TestProtocolScenarios(t *testing.T) {
	cases := []struct {
		in       string
		protocol string
		conns    int
		targets  []string
	}{
		{"rs256-reused-h2", H2, 32, []string{Portcullis, TunedBare}},
		{"RS256-reused-grpc-c16", GRPC, 16, []string{Portcullis, TunedBare}},
		{"es256-reused", HTTP1, 32, []string{Portcullis, Bare, TunedBare}},
		{"eddsa-fresh", HTTP1, 32, []string{Portcullis, BareJWX, TunedBare}},
		{"decision-rs256-reused", HTTP1, 32, []string{DecisionEndpoint, Portcullis}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			s, err := ParseScenario(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if s.Protocol != c.protocol || s.Connections != c.conns {
				t.Fatalf("protocol %q, %d connections; want %q, %d", s.Protocol, s.Connections, c.protocol, c.conns)
			}
			if !slices.Equal(s.Targets(), c.targets) {
				t.Fatalf("targets %q, want %q", s.Targets(), c.targets)
			}
			if s.Tuned() != slices.Contains(c.targets, TunedBare) {
				t.Fatalf("Tuned() = %v", s.Tuned())
			}
			again, err := ParseScenario(s.Name())
			if err != nil || again != s {
				t.Fatalf("the canonical name %q reads back as %+v, %v", s.Name(), again, err)
			}
		})
	}
	h2, _ := ParseScenario("rs256-reused-h2")
	if h2.Baseline() != TunedBare {
		t.Errorf("an h2 scenario's baseline is %s, want %s", h2.Baseline(), TunedBare)
	}
}

func TestProtocolScenariosRefuse(t *testing.T) {
	for _, in := range []string{
		"rs256-fresh-h2",             // h2load cannot vary the token
		"rs256-fresh-grpc",           // reused only, like h2
		"decision-rs256-reused-h2",   // the decision endpoint is Envoy's HTTP/1.1 call
		"rs256-reused-h2-grpc",       // one protocol
		"rs256-reused-h2-h2",         // given twice
		"rs256-reused-c6-h2",         // 6 streams over 4 connections
		"rs256-reused-c1-grpc",       // fewer calls than connections
		"rs256-reused-http3",         // unknown
		"rs256-reused-h2c-noheaders", // h2c is not a scenario part
	} {
		if s, err := ParseScenario(in); err == nil {
			t.Errorf("%q was accepted as %+v", in, s)
		}
	}
}

func TestRoundsAlternateThreeTargets(t *testing.T) {
	targets := []string{Portcullis, Bare, TunedBare}
	if got := roundOrder(targets, 1); !slices.Equal(got, targets) {
		t.Errorf("round 1 runs %q", got)
	}
	if got := roundOrder(targets, 2); !slices.Equal(got, []string{TunedBare, Bare, Portcullis}) {
		t.Errorf("round 2 runs %q, want the reverse", got)
	}
}

// The h2 scenario's configuration terminates TLS with the harness's
// certificate; the gRPC one accepts h2c and routes the load's call to the
// gRPC upstream in h2c, with the same auth and claim headers as the HTTP
// route.
func TestGatewayConfigForProtocols(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := writeCertificate(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	base := gatewaySpec{Listen: "127.0.0.1:18080", AdminListen: "127.0.0.1:19090",
		JWKSURL: "http://127.0.0.1:18081/jwks", Upstream: "http://127.0.0.1:18082",
		Routes: 10, Headers: true, AccessLog: true}

	h2 := base
	h2.TLSCert, h2.TLSKey = certFile, keyFile
	cfg, err := config.Parse(gatewayConfig(h2), "generated.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.TLS.CertFile != certFile || cfg.Server.TLS.KeyFile != keyFile || cfg.Server.H2C {
		t.Fatalf("server: %+v", cfg.Server)
	}

	grpcSpec := base
	grpcSpec.GRPCUpstream = "http://127.0.0.1:18083"
	cfg, err = config.Parse(gatewayConfig(grpcSpec), "generated.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Server.H2C || cfg.Server.TLS.Enabled() {
		t.Fatalf("server: %+v", cfg.Server)
	}
	table, err := policy.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := table.Match("127.0.0.1:18080", grpcService+"/UnaryCall", http.MethodPost)
	if r == nil || r.Name != targetRoute {
		t.Fatalf("the load's call matched %v, want %s", r, targetRoute)
	}
	if r.Transport.Protocol != policy.H2C || r.Upstream.String() != grpcSpec.GRPCUpstream {
		t.Fatalf("the route goes to %v in %v, want %s in h2c", r.Upstream, r.Transport.Protocol, grpcSpec.GRPCUpstream)
	}
	if d := table.Authorize(r, "bench", map[string]any(benchClaims(0, time.Now()))); !d.Allowed {
		t.Fatalf("the bench token is refused: %+v", d)
	}
}

func TestParseH2load(t *testing.T) {
	out := `starting benchmark...
Application protocol: h2

finished in 5.01s, 21097.50 req/s, 515.37KB/s
requests: 105 total, 108 started, 104 done, 100 succeeded, 4 failed, 1 errored, 0 timeout
status codes: 100 2xx, 0 3xx, 3 4xx, 1 5xx
traffic: 1.01MB (1055479) total, 165.18KB (169140) headers (space savings 95.78%), 123.62KB (126585) data
`
	var log strings.Builder
	for i := 1; i <= 100; i++ {
		// 1 ms to 100 ms, in a shuffled order.
		log.WriteString("1796645823645860\t200\t" + strconv.Itoa(((i*37)%100+1)*1000) + "\n")
	}
	r, err := parseH2load(out, strings.NewReader(log.String()))
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{Requests: 104, Duration: 5010 * time.Millisecond, Errors: 5, Status: 4, Sent: 108,
		P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond,
		P999: 100 * time.Millisecond, Max: 100 * time.Millisecond}
	if r != want {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
	for name, bad := range map[string]string{
		"no summary":        "starting benchmark...\n",
		"no requests line":  "finished in 1.00s, 1 req/s, 1KB/s\n",
		"a garbled request": "finished in 1.00s, 1 req/s\nrequests: many total\n",
	} {
		if _, err := parseH2load(bad, strings.NewReader("")); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := parseH2load(out, strings.NewReader("")); err == nil {
		t.Error("an empty log for 104 requests was accepted")
	}
}

func TestH2loadArgsSpreadTheStreamsOverFourConnections(t *testing.T) {
	got := strings.Join(h2loadArgs("h2load", "https://127.0.0.1:1/x", "TOK", "/tmp/log", 32, 5), " ")
	want := "h2load -c 4 -m 8 -t 1 -D 5 -H authorization: Bearer TOK --log-file=/tmp/log https://127.0.0.1:1/x"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestPercentileIsTheNearestRank(t *testing.T) {
	var lat []time.Duration
	for i := 1000; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	var r wrkResult
	r.setLatencies(lat)
	if r.P50 != 500*time.Microsecond || r.P90 != 900*time.Microsecond || r.P99 != 990*time.Microsecond ||
		r.P999 != 999*time.Microsecond || r.Max != time.Millisecond {
		t.Fatalf("%+v", r)
	}
	if percentile(nil, 50) != 0 || percentile([]time.Duration{7}, 99.9) != 7 {
		t.Fatal("an empty or one-value set")
	}
}

// The gRPC load generator's line is the wrk script's, so that one parser
// reads both.
func TestBenchLineReadsBack(t *testing.T) {
	r := wrkResult{Requests: 1234, Duration: 5 * time.Second, Errors: 3, Status: 2, Sent: 1234,
		P50: 2 * time.Millisecond, P90: 3 * time.Millisecond, P99: 4 * time.Millisecond, P999: 5 * time.Millisecond, Max: 6 * time.Millisecond}
	got, err := parseWrk("some output\n" + r.benchLine(1) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if got != r {
		t.Fatalf("got %+v\nwant %+v", got, r)
	}
}

// The tuned bare proxy in h2c both sides carries gRPC calls to the gRPC
// upstream, and the load generator drives it, without errors, for the
// time it is given.
func TestTunedBareCarriesGRPCAndTheLoadGeneratorDrivesIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := newGRPCUpstream()
	go func() { _ = up.Serve(upLn) }()
	defer up.Stop()

	addr := startBaseline(ctx, t, options{serve: TunedBare, listen: "127.0.0.1:0", upstream: "http://" + upLn.Addr().String(), h2c: true})
	if got, err := grpcSmoke(ctx, addr, "tok"); err != nil || got != "" {
		t.Fatalf("smoke call through tuned-bare: %q, %v; want no claim and no error", got, err)
	}

	toks := filepath.Join(t.TempDir(), "tokens.txt")
	if err := os.WriteFile(toks, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	start := time.Now()
	err = grpcLoad(ctx, options{grpcTarget: addr, tokens: toks, calls: 4, conns: 2, loadFor: 300 * time.Millisecond}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a 300ms load took %v", took)
	}
	r, err := parseWrk(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.Errors != 0 || r.Duration < 300*time.Millisecond || r.P50 <= 0 || r.P99 < r.P50 {
		t.Fatalf("%+v from %s", r, out.String())
	}
}

// The tuned bare proxy with a certificate answers in HTTP/2 over TLS, as
// portcullis with server.tls does.
func TestTunedBareServesH2OverTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	up := httptest.NewServer(http.HandlerFunc(upstream))
	defer up.Close()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool, err := writeCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := startBaseline(ctx, t, options{serve: TunedBare, listen: "127.0.0.1:0", upstream: up.URL, tlsCert: certFile, tlsKey: keyFile})
	client := &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + addr + requestPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || !bytes.Equal(body, upstreamBody) {
		t.Fatalf("%s %d %q, want HTTP/2 200 and the upstream's body", resp.Proto, resp.StatusCode, body)
	}
}

// startBaseline runs serveBaseline in this process until the test ends
// and returns its address, from its ready line.
func startBaseline(ctx context.Context, t *testing.T, o options) string {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serveBaseline(ctx, o, pw); pw.Close() }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("the baseline did not stop")
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case line := <-lines:
		addr, ok := strings.CutPrefix(line, "ready listen=")
		if !ok {
			t.Fatalf("ready line %q", line)
		}
		return addr
	case err := <-done:
		t.Fatalf("the baseline ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the baseline was not ready")
	}
	return ""
}

func TestRenderReadsEveryScenarioAgainstTunedBare(t *testing.T) {
	reused, _ := ParseScenario("rs256-reused")
	h2, _ := ParseScenario("rs256-reused-h2")
	grpcS, _ := ParseScenario("rs256-reused-grpc")
	runs := slices.Concat(
		// HTTP/1.1: 0.95x tuned-bare's req/s at 1.10x its CPU: both met;
		// bare is 0.80x tuned-bare (the BufferPool's worth).
		runsOf(reused.Name(), Portcullis, []float64{9500, 9500}, 110, time.Millisecond, 30),
		runsOf(reused.Name(), Bare, []float64{8000, 8000}, 125, time.Millisecond, 10),
		runsOf(reused.Name(), TunedBare, []float64{10000, 10000}, 100, time.Millisecond, 10),
		// h2: 0.85x and 1.20x: both missed.
		runsOf(h2.Name(), Portcullis, []float64{8500, 8500}, 120, time.Millisecond, 30),
		runsOf(h2.Name(), TunedBare, []float64{10000, 10000}, 100, time.Millisecond, 10),
		// gRPC: 0.80x calls/s: missed by 0.05x.
		runsOf(grpcS.Name(), Portcullis, []float64{4000, 4000}, 150, time.Millisecond, 30),
		runsOf(grpcS.Name(), TunedBare, []float64{5000, 5000}, 100, time.Millisecond, 10),
	)
	out := render(Machine{H2load: "h2load nghttp2/1.52.0"}, []Scenario{reused, h2, grpcS}, runs)
	for _, want := range []string{
		"| rs256-reused | portcullis | 9500 | 1.19x |",         // against bare, as before
		"| rs256-reused | tuned-bare | 10000 | 1.25x |",        // tuned-bare against bare
		"| rs256-reused-h2 | tuned-bare | 10000 | baseline |",  // h2's own baseline
		"| rs256-reused | portcullis | 9500 | 10000 | 0.95x |", // against tuned-bare
		"| rs256-reused | bare | 8000 | 10000 | 0.80x |",
		"| rs256-reused-grpc | portcullis | 4000 | 5000 | 0.80x |",
		"## Targets (issue 4: against bare and bare+jwx)",
		"## Targets (issue 13: against tuned-bare)",
		"| rs256-reused (HTTP/1.1, 32 connections): req/s ≥ 0.90x tuned-bare | 0.95x | met |",
		"| rs256-reused (HTTP/1.1, 32 connections): CPU/request ≤ 1.15x tuned-bare | 1.10x | met |",
		"| rs256-reused-h2 (h2 over TLS, 32 streams): req/s ≥ 0.90x tuned-bare | 0.85x | **missed** by 0.05x |",
		"| rs256-reused-h2 (h2 over TLS, 32 streams): CPU/request ≤ 1.15x tuned-bare | 1.20x | **missed** by 0.05x |",
		"| rs256-reused-grpc (unary gRPC, h2c, 32 calls in flight): calls/s ≥ 0.85x tuned-bare | 0.80x | **missed** by 0.05x |",
		"h2 scenarios: h2load nghttp2/1.52.0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if got := len(tunedVerdicts(index(runs))); got != 5 {
		t.Errorf("%d verdicts against tuned-bare, want 5", got)
	}
	if got := tunedVerdicts(index(runsOf(reused.Name(), Portcullis, []float64{1}, 1, 1, 1))); len(got) != 0 {
		t.Errorf("verdicts without a tuned-bare run: %+v", got)
	}
}
