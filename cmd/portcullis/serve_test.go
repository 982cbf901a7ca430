package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// keySource says how a configured issuer finds its keys.
type keySource int

const (
	viaJWKSURI keySource = iota
	viaDiscovery
)

// testIssuer is one identity provider of a test configuration.
type testIssuer struct {
	name   string
	idp    *tokentest.Issuer
	source keySource
}

// gatewayConfig renders a configuration: the given issuers, and one route,
// "orders" on /orders, that requires scope orders:read and forwards sub as
// X-User-Id to upstream.
func gatewayConfig(issuers []testIssuer, upstream, grace string) func(listen, admin string) string {
	return func(listen, admin string) string {
		var b strings.Builder
		fmt.Fprintf(&b, `server:
  listen: %q
  admin_listen: %q
  shutdown_grace: %s
log:
  level: info
  format: json
  access_log: true
issuers:
`, listen, admin, grace)
		for _, is := range issuers {
			fmt.Fprintf(&b, "  - name: %s\n    issuer: %q\n", is.name, is.idp.URL())
			if is.source == viaDiscovery {
				b.WriteString("    discovery: true\n")
			} else {
				fmt.Fprintf(&b, "    jwks_uri: %q\n    discovery: false\n", is.idp.JWKSURL())
			}
			b.WriteString(`    audiences: ["orders-api"]
    algorithms: ["RS256"]
    required_claims: ["sub", "exp"]
`)
		}
		fmt.Fprintf(&b, `routes:
  - name: orders
    match:
      path_prefix: /orders
    upstream: %q
    timeout: 30s
    auth:
      mode: required
      scopes:
        all_of: ["orders:read"]
    forward:
      claims_to_headers:
        X-User-Id: sub
`, upstream)
		return b.String()
	}
}

// newIssuer starts an identity provider serving the given RSA keys, closed
// at the end of the test.
func newIssuer(t *testing.T, kids ...string) (*tokentest.Issuer, []*tokentest.Key) {
	t.Helper()
	var keys []*tokentest.Key
	for _, kid := range kids {
		keys = append(keys, tokentest.RSA(kid, 2048))
	}
	idp := tokentest.NewIssuer(keys...)
	t.Cleanup(idp.Close)
	return idp, keys
}

func bearer(tok string) map[string]string {
	return map[string]string{"Authorization": tokentest.Bearer(tok)}
}

func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	for _, source := range []keySource{viaJWKSURI, viaDiscovery} {
		name := map[keySource]string{viaJWKSURI: "keys from jwks_uri", viaDiscovery: "keys found by discovery"}[source]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			idp, keys := newIssuer(t, "k1", "k2")
			upstream := gatewaytest.NewUpstream(t)
			g := startGateway(t, gatewayConfig([]testIssuer{{"corp", idp, source}}, upstream.URL, "5s"))
			waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)
			checkServingLine(t, g)

			claims := tokentest.Standard(idp.URL(), "orders-api", "alice", "orders:read profile", time.Hour)
			allowed := keys[1].Sign(claims)
			noScope := keys[0].Sign(claims.With("scope", "profile"))

			t.Run("a token with the scope is forwarded with X-User-Id from sub", func(t *testing.T) {
				res := do(t, "GET", g.URL("/orders/42"), bearer(allowed))
				if res.StatusCode != http.StatusOK {
					t.Fatalf("status %d, want 200: %s", res.StatusCode, res.body)
				}
				var echo gatewaytest.Echo
				decodeJSON(t, res, &echo)
				if got := echo.Header.Values("X-User-Id"); !slices.Equal(got, []string{"alice"}) {
					t.Errorf("upstream got X-User-Id %q, want [alice]", got)
				}
				if echo.Path != "/orders/42" {
					t.Errorf("upstream got path %q, want /orders/42", echo.Path)
				}
			})
			t.Run("no token is 401 with a bare Bearer challenge", func(t *testing.T) {
				res := do(t, "GET", g.URL("/orders/42"), nil)
				if res.StatusCode != http.StatusUnauthorized {
					t.Errorf("status %d, want 401: %s", res.StatusCode, res.body)
				}
				if got, want := res.Header.Values("WWW-Authenticate"), []string{`Bearer realm="portcullis"`}; !slices.Equal(got, want) {
					t.Errorf("WWW-Authenticate = %q, want %q", got, want)
				}
			})
			t.Run("a token without the scope is 403 insufficient_scope", func(t *testing.T) {
				res := do(t, "GET", g.URL("/orders/42"), bearer(noScope))
				if res.StatusCode != http.StatusForbidden {
					t.Errorf("status %d, want 403: %s", res.StatusCode, res.body)
				}
				if c := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(c, `Bearer realm="portcullis"`) ||
					!strings.Contains(c, `error="insufficient_scope"`) || !strings.Contains(c, `scope="orders:read"`) {
					t.Errorf("WWW-Authenticate = %q, want an insufficient_scope challenge naming orders:read", c)
				}
				var body map[string]string
				decodeJSON(t, res, &body)
				if body["error"] != "insufficient_scope" {
					t.Errorf(`body error = %q, want "insufficient_scope"`, body["error"])
				}
			})
			// The last request on the proxy port: once its access line
			// is written, every earlier one is (lines leave in order).
			var last *response
			t.Run("metrics are not served on the proxy port", func(t *testing.T) {
				res := do(t, "GET", g.URL("/metrics"), nil)
				last = res
				if res.StatusCode != http.StatusNotFound {
					t.Errorf("GET /metrics on the proxy port: status %d, want 404", res.StatusCode)
				}
				var body map[string]string
				decodeJSON(t, res, &body)
				if body["error"] == "" || strings.Contains(string(res.body), "go_goroutines") {
					t.Errorf("GET /metrics on the proxy port: want the gateway's JSON 404, got %s", res.body)
				}
			})
			t.Run("healthz is 200", func(t *testing.T) {
				if res := do(t, "GET", g.AdminURL("/healthz"), nil); res.StatusCode != http.StatusOK {
					t.Errorf("status %d, want 200", res.StatusCode)
				}
			})

			t.Run("log lines are JSON objects with unique keys and never hold a token", func(t *testing.T) {
				if last == nil { // the subtest above was not selected (-run): send its request
					last = do(t, "GET", g.URL("/metrics"), nil)
				}
				accessLine(t, g, last) // the access log is written in batches
				checkJSONLog(t, g.Stderr(), allowed, noScope)
			})
			t.Run("metrics count exactly what happened", func(t *testing.T) {
				mfs := scrape(t, g)
				exact := []struct {
					name string
					want map[string]float64
				}{
					{"portcullis_requests_total", map[string]float64{
						labels("route", "orders", "method", "GET", "code", "200", "via", "proxy"):    1,
						labels("route", "orders", "method", "GET", "code", "401", "via", "proxy"):    1,
						labels("route", "orders", "method", "GET", "code", "403", "via", "proxy"):    1,
						labels("route", "unmatched", "method", "GET", "code", "404", "via", "proxy"): 1,
					}},
					{"portcullis_auth_decisions_total", map[string]float64{
						labels("route", "orders", "decision", "allowed", "mode", "enforce", "via", "proxy"):         1,
						labels("route", "orders", "decision", "unauthenticated", "mode", "enforce", "via", "proxy"): 1,
						labels("route", "orders", "decision", "forbidden", "mode", "enforce", "via", "proxy"):       1,
					}},
					{"portcullis_auth_failures_total", map[string]float64{
						labels("issuer", "unknown", "reason", "missing"):         1,
						labels("issuer", "corp", "reason", "insufficient_scope"): 1,
					}},
					{"portcullis_jwks_keys", map[string]float64{
						labels("issuer", "corp"): float64(len(keys)),
					}},
				}
				for _, m := range exact {
					if got := series(mfs, m.name); !mapsEqual(got, m.want) {
						t.Errorf("%s:\n got %v\nwant %v", m.name, got, m.want)
					}
				}
				refresh := series(mfs, "portcullis_jwks_refresh_total")
				if v := refresh[labels("issuer", "corp", "result", "success")]; v < 1 {
					t.Errorf(`portcullis_jwks_refresh_total{issuer="corp",result="success"} = %v, want >= 1 (all: %v)`, v, refresh)
				}
				for _, name := range []string{"go_goroutines", "process_cpu_seconds_total",
					"portcullis_request_duration_seconds", "portcullis_upstream_duration_seconds"} {
					if mfs[name] == nil {
						t.Errorf("/metrics has no %s", name)
					}
				}
			})
		})
	}
}

// checkServingLine: the start-up log line counts the routes it serves.
func checkServingLine(t *testing.T, g *gatewaytest.GatewayProcess) {
	t.Helper()
	cfg, err := config.Load(g.Config)
	if err != nil {
		t.Fatal(err)
	}
	// The process's stderr reaches the test through a pipe that another
	// goroutine copies: /readyz can answer before the line is copied.
	eventually(t, 5*time.Second, "the serving line", func() (bool, string) {
		return strings.Contains(g.Stderr(), `"msg":"serving"`), gatewaytest.Tail(g.Stderr(), 3)
	})
	for _, line := range strings.Split(g.Stderr(), "\n") {
		if !strings.Contains(line, `"msg":"serving"`) {
			continue
		}
		var entry struct {
			Routes  int `json:"routes"`
			Issuers int `json:"issuers"`
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("serving line %s: %v", line, err)
		}
		if entry.Routes != len(cfg.Routes) || entry.Issuers != len(cfg.Issuers) {
			t.Errorf("serving line says %d routes and %d issuers, the file has %d and %d: %s",
				entry.Routes, entry.Issuers, len(cfg.Routes), len(cfg.Issuers), line)
		}
		return
	}
	t.Errorf("no serving line in the log:\n%s", gatewaytest.Tail(g.Stderr(), 10))
}

// checkJSONLog asserts that every line of a log written with format json is
// one JSON object whose keys are unique (log pipelines reject or silently
// drop duplicates), that the access log recorded requests, and that no
// secret appears anywhere. The access log is written in batches: a caller
// whose process still runs waits for the access line of its last request
// first (accessLine).
func checkJSONLog(t *testing.T, log string, secrets ...string) {
	t.Helper()
	// Only whole lines: the process may be writing the next one.
	log = log[:strings.LastIndex(log, "\n")+1]
	access := 0
	for i, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		keys, err := objectKeys(line)
		if err != nil {
			t.Errorf("log line %d is not a JSON object (%v): %s", i+1, err, line)
			continue
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Errorf("log line %d has the key %q twice: %s", i+1, k, line)
			}
			seen[k] = true
		}
		if seen["route"] && seen["status"] {
			access++
		}
	}
	if access == 0 {
		t.Errorf("access_log is true but no access log line was written:\n%s", log)
	}
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the log contains a bearer token")
		}
		// The signature alone is what makes a token usable.
		if sig := s[strings.LastIndex(s, ".")+1:]; strings.Contains(log, sig) {
			t.Errorf("the log contains a token's signature")
		}
	}
}

// objectKeys returns the top-level keys of one JSON object, in order and
// with repeats (encoding/json would silently keep the last).
func objectKeys(line string) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("does not start with {")
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, fmt.Errorf("does not end with }")
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return keys, nil
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// readiness is /readyz's JSON body.
type readiness struct {
	Status  string   `json:"status"`
	Missing []string `json:"issuers_without_keys"`
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		breakIdP func(*tokentest.Issuer)
		recover  func(*tokentest.Issuer)
		// failing: the key set endpoint answers errors (not merely slowly).
		failing bool
	}{
		{
			name:     "JWKS failing at start: 503 naming the issuer, then 200 once the IdP recovers",
			breakIdP: func(is *tokentest.Issuer) { is.SetStatus(http.StatusInternalServerError) },
			recover:  func(is *tokentest.Issuer) { is.SetStatus(0) },
			failing:  true,
		},
		{
			name:     "JWKS slow at start: 503 naming the issuer, then 200 once it answers",
			breakIdP: func(is *tokentest.Issuer) { is.SetDelay(2 * time.Second) },
			recover:  func(is *tokentest.Issuer) { is.SetDelay(0) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			healthy, _ := newIssuer(t, "h1")
			sick, sickKeys := newIssuer(t, "s1")
			tc.breakIdP(sick)
			upstream := gatewaytest.NewUpstream(t)
			g := startGateway(t, gatewayConfig([]testIssuer{
				{"healthy", healthy, viaJWKSURI},
				{"sick", sick, viaJWKSURI},
			}, upstream.URL, "5s"))

			res := do(t, "GET", g.AdminURL("/readyz"), nil)
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("/readyz: status %d, want 503 while an issuer has no keys: %s", res.StatusCode, res.body)
			}
			var body readiness
			decodeJSON(t, res, &body)
			// The healthy issuer may or may not have loaded yet; the sick one
			// cannot have.
			if !slices.Contains(body.Missing, "sick") {
				t.Errorf("/readyz body %s does not name the issuer without keys (sick)", res.body)
			}
			if tc.failing {
				// Once the healthy issuer is loaded, only the sick one is named.
				deadline := time.Now().Add(5 * time.Second)
				for !slices.Equal(body.Missing, []string{"sick"}) && time.Now().Before(deadline) {
					time.Sleep(25 * time.Millisecond)
					res = do(t, "GET", g.AdminURL("/readyz"), nil)
					body = readiness{}
					decodeJSON(t, res, &body)
				}
				if res.StatusCode != http.StatusServiceUnavailable || !slices.Equal(body.Missing, []string{"sick"}) {
					t.Errorf("/readyz: %d %s, want 503 naming only the issuer without keys", res.StatusCode, res.body)
				}
				tok := sickKeys[0].Sign(tokentest.Standard(sick.URL(), "orders-api", "alice", "orders:read", time.Hour))
				if res := do(t, "GET", g.URL("/orders/1"), bearer(tok)); res.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("a valid token of an issuer without keys: status %d, want 503: %s", res.StatusCode, res.body)
				}
			}

			tc.recover(sick)
			// The binary retries after 1s, 2s, ... (±10%): 8s covers three tries.
			res = waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 8*time.Second)
			body = readiness{}
			decodeJSON(t, res, &body)
			if body.Status != "ready" || len(body.Missing) != 0 {
				t.Errorf("/readyz body after recovery: %s", res.body)
			}
			tok := sickKeys[0].Sign(tokentest.Standard(sick.URL(), "orders-api", "alice", "orders:read", time.Hour))
			if res := do(t, "GET", g.URL("/orders/1"), bearer(tok)); res.StatusCode != http.StatusOK {
				t.Errorf("after recovery, a valid token: status %d, want 200: %s", res.StatusCode, res.body)
			}
			if tc.failing {
				refresh := series(scrape(t, g), "portcullis_jwks_refresh_total")
				if refresh[labels("issuer", "sick", "result", "error")] < 1 || refresh[labels("issuer", "sick", "result", "success")] < 1 {
					t.Errorf("portcullis_jwks_refresh_total = %v, want errors then a success for issuer sick", refresh)
				}
			}
		})
	}
}

// blockingUpstream receives requests, reports each on received, and answers
// only when release is closed (or the request is abandoned).
type blockingUpstream struct {
	*httptest.Server
	received chan struct{}
	release  chan struct{}
	body     string
	// releaseNow lets every held request answer; it may be called once or
	// more.
	releaseNow func()
}

func newBlockingUpstream(t *testing.T, body string) *blockingUpstream {
	t.Helper()
	u := &blockingUpstream{received: make(chan struct{}, 16), release: make(chan struct{}), body: body}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.received <- struct{}{}
		select {
		case <-u.release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, u.body)
	}))
	var once sync.Once
	// Cleanups run last-registered first: release, then close.
	t.Cleanup(u.Close)
	t.Cleanup(func() { once.Do(func() { close(u.release) }) })
	u.releaseNow = func() { once.Do(func() { close(u.release) }) }
	return u
}

// inflight is the outcome of a request sent in the background.
type inflight struct {
	status int
	body   string
	err    error
}

func sendInBackground(url, tok string) <-chan inflight {
	out := make(chan inflight, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		req.Header.Set("Authorization", tokentest.Bearer(tok))
		c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
		res, err := c.Do(req)
		if err != nil {
			out <- inflight{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		out <- inflight{status: res.StatusCode, body: string(b), err: err}
	}()
	return out
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()

	t.Run("SIGTERM lets an in-flight request finish, then exits 0", func(t *testing.T) {
		t.Parallel()
		const grace = 5 * time.Second
		idp, keys := newIssuer(t, "k1")
		body := strings.Repeat("portcullis drains in-flight requests\n", 4096)
		upstream := newBlockingUpstream(t, body)
		g := startGateway(t, gatewayConfig([]testIssuer{{"corp", idp, viaJWKSURI}}, upstream.URL, grace.String()))
		waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)

		tok := keys[0].Sign(tokentest.Standard(idp.URL(), "orders-api", "alice", "orders:read", time.Hour))
		result := sendInBackground(g.URL("/orders/slow"), tok)
		select {
		case <-upstream.received:
		case r := <-result:
			t.Fatalf("the request finished before reaching the upstream: %+v", r)
		case <-time.After(5 * time.Second):
			t.Fatal("the upstream did not receive the request within 5s")
		}

		g.Signal(t, syscall.SIGTERM)
		sent := time.Now()

		// Load balancers must see the drain: /readyz 503, or the admin port gone.
		deadline := time.Now().Add(3 * time.Second)
		for {
			res, err := client.Get(g.AdminURL("/readyz"))
			if err != nil {
				break
			}
			res.Body.Close()
			if res.StatusCode == http.StatusServiceUnavailable {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz still answers %d 3s after SIGTERM", res.StatusCode)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// New connections are no longer accepted on the proxy port.
		for !isRefused(g.Listen) {
			if time.Now().After(deadline) {
				t.Errorf("the proxy port still accepts connections 3s after SIGTERM")
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if g.Exited() {
			t.Fatalf("portcullis exited (code %d) before its in-flight request finished", g.ExitCode())
		}

		upstream.releaseNow()
		select {
		case r := <-result:
			if r.err != nil || r.status != http.StatusOK {
				t.Errorf("in-flight request: status %d, error %v; want 200", r.status, r.err)
			} else if r.body != body {
				t.Errorf("in-flight request: got %d bytes of body, want the full %d", len(r.body), len(body))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the in-flight request did not complete within 5s of the upstream answering")
		}
		if code := g.Wait(t, grace+3*time.Second-time.Since(sent)); code != 0 {
			t.Errorf("exit code %d after SIGTERM, want 0", code)
		}
		checkJSONLog(t, g.Stderr(), tok)
	})

	t.Run("access lines still waiting for their batch are written before exit", func(t *testing.T) {
		t.Parallel()
		idp, keys := newIssuer(t, "k1")
		upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		t.Cleanup(upstream.Close)
		render := gatewayConfig([]testIssuer{{"corp", idp, viaJWKSURI}}, upstream.URL, "1s")
		g := startGateway(t, func(listen, admin string) string {
			return strings.Replace(render(listen, admin), "  access_log: true\n", "  access_log: true\n  flush_interval: 10s\n", 1)
		})
		waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)

		req, err := http.NewRequest(http.MethodGet, g.URL("/orders/1"), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+keys[0].Sign(tokentest.Standard(idp.URL(), "orders-api", "alice", "orders:read", time.Hour)))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		id := res.Header.Get(requestIDHeader)
		if res.StatusCode != http.StatusOK || id == "" {
			t.Fatalf("status %d, request id %q; want 200 and an id", res.StatusCode, id)
		}
		// With flush_interval 10s, the line waits in the batch: what
		// writes it out below is the exit, not the clock.
		time.Sleep(300 * time.Millisecond)
		if strings.Contains(g.Stderr(), id) {
			t.Fatalf("the access line was written 300ms after the request, with flush_interval 10s:\n%s", gatewaytest.Tail(g.Stderr(), 5))
		}
		g.Signal(t, syscall.SIGTERM)
		if code := g.Wait(t, 5*time.Second); code != 0 {
			t.Errorf("exit code %d after SIGTERM, want 0", code)
		}
		if !strings.Contains(g.Stderr(), `"request_id":"`+id+`"`) {
			t.Errorf("after exit, stderr has no access line for request %s:\n%s", id, gatewaytest.Tail(g.Stderr(), 10))
		}
	})

	t.Run("SIGTERM with an upstream that never answers exits 0 shortly after the grace", func(t *testing.T) {
		t.Parallel()
		const grace = time.Second
		idp, keys := newIssuer(t, "k1")
		upstream := newBlockingUpstream(t, "never sent")
		g := startGateway(t, gatewayConfig([]testIssuer{{"corp", idp, viaJWKSURI}}, upstream.URL, grace.String()))
		waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)

		tok := keys[0].Sign(tokentest.Standard(idp.URL(), "orders-api", "alice", "orders:read", time.Hour))
		result := sendInBackground(g.URL("/orders/stuck"), tok)
		select {
		case <-upstream.received:
		case <-time.After(5 * time.Second):
			t.Fatal("the upstream did not receive the request within 5s")
		}

		g.Signal(t, syscall.SIGTERM)
		sent := time.Now()
		code := g.Wait(t, grace+3*time.Second)
		elapsed := time.Since(sent)
		if code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
		if elapsed < grace*8/10 {
			t.Errorf("exited %v after SIGTERM: the in-flight request was not given its %v grace", elapsed, grace)
		}
		select {
		case r := <-result:
			if r.err == nil && r.status == http.StatusOK {
				t.Errorf("the stuck request got 200 %q; the upstream never answered", r.body)
			}
		case <-time.After(5 * time.Second):
			t.Error("the stuck request was still open 5s after portcullis exited")
		}
	})
}
