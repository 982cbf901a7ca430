package jwks_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/token/tokentest"
)

const issuerName = "corp"

// Keys are made once: 2048-bit RSA generation is slow under -race, and the
// tests need distinct keys, not fresh ones.
var (
	ecA = sync.OnceValue(func() *tokentest.Key { return tokentest.EC("ec-a", jwa.ES256) })
	ecB = sync.OnceValue(func() *tokentest.Key { return tokentest.EC("ec-b", jwa.ES256) })
	rsa = sync.OnceValue(func() *tokentest.Key { return tokentest.RSA("rsa", 2048) })
)

// harness is a key set under test with what it reports.
type harness struct {
	set     *jwks.KeySet
	metrics *metrics.Metrics
	logs    *observer.ObservedLogs
}

// newHarness builds a key set for src with a test client (short timeouts)
// unless client is given. Algorithms default to ES256.
func newHarness(t *testing.T, src jwks.Source, client *http.Client) *harness {
	t.Helper()
	if src.Issuer == "" {
		src.Issuer = issuerName
	}
	if src.Algorithms == nil {
		src.Algorithms = []string{"ES256"}
	}
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	core, logs := observer.New(zapcore.DebugLevel)
	m := metrics.New()
	return &harness{set: jwks.New(src, client, zap.New(core), m), metrics: m, logs: logs}
}

// refreshes counts fetches with result "success" or "error".
func (h *harness) refreshes(result string) float64 {
	return testutil.ToFloat64(h.metrics.JWKSRefresh.WithLabelValues(issuerName, result))
}

// keysGauge is the portcullis_jwks_keys gauge.
func (h *harness) keysGauge() float64 {
	return testutil.ToFloat64(h.metrics.JWKSKeys.WithLabelValues(issuerName))
}

// kids lists the kids of the current set.
func (h *harness) kids() []string { return kidsOf(h.set.Keys()) }

func kidsOf(keys []jwk.Key) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.KeyID())
	}
	return out
}

// dropped returns the reasons logged for dropping the key with kid.
func (h *harness) dropped(kid string) []string {
	var reasons []string
	for _, e := range h.logs.FilterMessage("jwks key dropped").FilterField(zap.String("kid", kid)).All() {
		reasons = append(reasons, e.ContextMap()["reason"].(string))
	}
	return reasons
}

// document renders a JWK Set from keys: jwk.Key values or raw JSON.
func document(t testing.TB, keys ...any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// modified returns a copy of key with fields set; a nil value removes one.
func modified(t testing.TB, key jwk.Key, kv ...any) jwk.Key {
	t.Helper()
	c, err := key.Clone()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		name := kv[i].(string)
		if kv[i+1] == nil {
			err = c.Remove(name)
		} else {
			err = c.Set(name, kv[i+1])
		}
		if err != nil {
			t.Fatalf("set %s: %v", name, err)
		}
	}
	return c
}

// eventually polls cond until it holds or within has passed.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// clock is a settable clock for the rate limit.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func equalKids(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("kids = %q, want %q", got, want)
	}
}

func errContains(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want an error containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %q, want it to contain %q", err, want)
	}
}
