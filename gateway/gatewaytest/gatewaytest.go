// Package gatewaytest runs the parts around portcullis that tests need, so
// that every package's tests build, start and observe a gateway the same
// way: a recording upstream (Upstream), a gateway built from a configuration
// the way the binary builds it (Start, StartYAML, ParseConfig), and the
// built binary run as a process with its output captured (BuildBinary,
// StartProcess, StartGatewayProcess, WaitStatus, FreeAddr).
//
// Like net/http/httptest, it is for tests only: it imports package testing,
// fails tests and kills processes. Any package's _test.go files may import
// it; no other file may, least of all the request path (proxy, policy,
// token, jwks) or the binary (cmd/portcullis). Keys and tokens are minted
// by token/tokentest, not here.
package gatewaytest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/metrics"
)

// ReadyTimeout bounds how long Start waits for every issuer's keys: a
// loopback identity provider answers in milliseconds, so a gateway that is
// not ready by then never will be.
const ReadyTimeout = 10 * time.Second

// Gateway is a gateway built and started by Start. The embedded
// *gateway.Gateway is the real one: Handler, Admin, Metrics, KeySet,
// Reload, Serve and Config are its own.
type Gateway struct {
	*gateway.Gateway

	// Logs holds what the gateway logged at Options.LogLevel and above,
	// access log included when the configuration enables it. It is empty,
	// never nil, with Options.DiscardLogs.
	Logs *observer.ObservedLogs

	// Server serves the proxy handler on loopback when Options.Server is
	// set (closed when the test ends); nil otherwise.
	Server *httptest.Server
}

// Options say how Start builds a gateway. The zero value keeps logs at
// info level, waits for the keys and serves no listener: call Start
// directly for that.
type Options struct {
	// LogLevel is the lowest level kept in Gateway.Logs (zero: info).
	LogLevel zapcore.Level

	// DiscardLogs encodes every log line as JSON into io.Discard instead
	// of keeping it, for tests and benchmarks that count memory or
	// allocations across many requests: the cost of logging stays in the
	// figure, the lines do not pile up in memory.
	DiscardLogs bool

	// NoWait returns as soon as the key sets have started, without
	// waiting for them to load: for tests of a gateway that cannot get
	// ready.
	NoWait bool

	// Server also serves the proxy handler on an httptest.Server, for
	// tests that need a real HTTP client in front of the gateway.
	Server bool
}

// Start builds a gateway from cfg with gateway.New and a fresh metrics
// registry, starts its key sets until the test ends, and waits (at most
// ReadyTimeout) until every issuer's keys are loaded.
func Start(t testing.TB, cfg *config.Config) *Gateway {
	t.Helper()
	return Options{}.Start(t, cfg)
}

// Start is the package-level Start with these options.
func (o Options) Start(t testing.TB, cfg *config.Config) *Gateway {
	t.Helper()
	core, logs := observer.New(o.LogLevel)
	if o.DiscardLogs {
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		core = zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.DebugLevel)
	}
	g, err := gateway.New(cfg, zap.New(core), metrics.New())
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	g.Start(ctx)
	gw := &Gateway{Gateway: g, Logs: logs}
	if !o.NoWait {
		wctx, wcancel := context.WithTimeout(ctx, ReadyTimeout)
		defer wcancel()
		if err := g.WaitReady(wctx); err != nil {
			t.Fatalf("the gateway's keys did not load within %v: %v\nlogs: %v", ReadyTimeout, err, logs.All())
		}
	}
	if o.Server {
		gw.Server = httptest.NewServer(g.Handler())
		t.Cleanup(gw.Server.Close)
	}
	return gw
}

// StartYAML parses yaml as a configuration file (see ParseConfig) and
// starts a gateway from it (see Start).
func StartYAML(t testing.TB, yaml string) *Gateway {
	t.Helper()
	return Options{}.StartYAML(t, yaml)
}

// StartYAML is the package-level StartYAML with these options.
func (o Options) StartYAML(t testing.TB, yaml string) *Gateway {
	t.Helper()
	return o.Start(t, ParseConfig(t, "gateway.yaml", yaml))
}

// ParseConfig loads yaml as `portcullis serve` loads a file called name
// (config.Parse: strict keys, defaults, validation). A problem fails the
// test with the problems and the numbered document, so that a typo cannot
// quietly change what a test exercises.
func ParseConfig(t testing.TB, name, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), name)
	if err != nil {
		t.Fatalf("%s does not load:\n%v\n--- %s\n%s", name, err, name, numbered(yaml))
	}
	return cfg
}

// numbered prefixes each line with its number, as problems cite them.
func numbered(doc string) string {
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimSuffix(doc, "\n"), "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, line)
	}
	return b.String()
}

// CheckLogsHoldNoToken fails t if any captured log line, message or field,
// holds tok's signature: the part that makes a token usable.
func CheckLogsHoldNoToken(t testing.TB, logs *observer.ObservedLogs, tok string) {
	t.Helper()
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	for _, e := range logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		if strings.Contains(string(b)+e.Message, sig) {
			t.Errorf("a log line holds the token: %s %s", e.Message, b)
		}
	}
}
