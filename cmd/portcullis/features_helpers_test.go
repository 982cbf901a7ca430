package main

// Helpers shared by the end-to-end tests of audit mode (audit_test.go),
// protected resource metadata (resource_test.go), opaque tokens
// (opaque_test.go), revocation lists (revocation_test.go), rate limits
// (ratelimit_test.go) and tracing (tracing_test.go): the configuration's
// common parts, requests with a Host of their own, the access-log line of
// one request, a strict parser of WWW-Authenticate challenges, bounded
// polling and secret checks.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/gateway/gatewaytest/challenge"
	"github.com/portcullis/portcullis/token/tokentest"
)

// requestIDHeader is the header that carries the request id on every
// response and in the access log's request_id field.
const requestIDHeader = "X-Request-Id"

// doHost is do with the Host header set to host ("" keeps the URL's).
func doHost(t *testing.T, method, url, host string, headers map[string]string) *response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for name, v := range headers {
		req.Header[name] = append(req.Header[name], v)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %q): %v", method, url, host, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return &response{Response: res, body: body}
}

// withHeaders merges header maps; later ones win.
func withHeaders(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// accessLine returns the access-log line of the request whose response
// carried res's request id, waiting (at most 3s) for the process to write
// it: the line is written after the response, so it may lag behind it.
func accessLine(t *testing.T, g *gatewaytest.GatewayProcess, res *response) map[string]any {
	t.Helper()
	id := res.Header.Get(requestIDHeader)
	if id == "" {
		t.Fatalf("%s %s: the response has no %s", res.Request.Method, res.Request.URL, requestIDHeader)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		out := g.Output()
		for _, line := range strings.Split(out, "\n") {
			if !strings.Contains(line, id) {
				continue
			}
			var entry map[string]any
			if err := json.Unmarshal([]byte(line), &entry); err != nil {
				continue // a line still being written
			}
			if entry["msg"] == "request" && entry["request_id"] == id {
				return entry
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access-log line with request_id %s within 3s:\n%s", id, gatewaytest.Tail(out, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkFields asserts that a log entry holds each field with the value
// given (numbers as JSON decodes them: float64). A nil want means the field
// must be absent.
func checkFields(t *testing.T, entry map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		got, ok := entry[k]
		switch {
		case w == nil && ok:
			t.Errorf("access log %q = %v, want no such field (line %v)", k, got, entry)
		case w != nil && (!ok || got != w):
			t.Errorf("access log %q = %v (present %v), want %v (line %v)", k, got, ok, w, entry)
		}
	}
}

// eventually polls cond every 50ms until it reports true, for at most
// timeout, and fails the test with cond's last word if it never does.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// counter is one series of /metrics now (0 when absent); lbls as labels
// writes them.
func counter(t *testing.T, g *gatewaytest.GatewayProcess, name, lbls string) float64 {
	t.Helper()
	return series(scrape(t, g), name)[lbls]
}

// checkSeries asserts that a metric family holds exactly want (label set
// as labels writes it -> value).
func checkSeries(t *testing.T, g *gatewaytest.GatewayProcess, name string, want map[string]float64) {
	t.Helper()
	if got := series(scrape(t, g), name); !mapsEqual(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", name, got, want)
	}
}

// checkNoSecret fails t if text, called where, holds any of secrets.
func checkNoSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			t.Fatal("checkNoSecret: an empty secret would match anything")
		}
		if i := strings.Index(text, s); i >= 0 {
			lo, hi := max(0, i-80), min(len(text), i+len(s)+80)
			t.Errorf("%s holds a secret (%d bytes) at byte %d: ...%s...", where, len(s), i, text[lo:hi])
		}
	}
}

// onlyChallenge returns the one WWW-Authenticate challenge of res, parsed,
// failing the test when there is not exactly one or it is not valid syntax.
func onlyChallenge(t *testing.T, res *response) challenge.Challenge {
	t.Helper()
	values := res.Header.Values("WWW-Authenticate")
	if len(values) != 1 {
		t.Fatalf("%s %s: %d WWW-Authenticate headers %q, want exactly one", res.Request.Method, res.Request.URL, len(values), values)
	}
	c, err := challenge.Parse(values[0])
	if err != nil {
		t.Fatalf("WWW-Authenticate %q is not a valid RFC 9110 challenge: %v", values[0], err)
	}
	return c
}

// featureHead is the server and log sections of the feature tests'
// configurations: the given listeners, a short shutdown grace, any further
// server settings (each a line such as "trusted_proxies: [...]"), and JSON
// access logs that the tests read back.
func featureHead(listen, admin string, server ...string) string {
	var more strings.Builder
	for _, line := range server {
		more.WriteString("  " + line + "\n")
	}
	return fmt.Sprintf(`server:
  listen: %q
  admin_listen: %q
  shutdown_grace: 2s
%slog:
  level: info
  format: json
  access_log: true
`, listen, admin, more.String())
}

// ordersRoute is the feature tests' route "orders" as an entry of the
// routes list: /orders to upstream, for tokens with orders:read, with
// X-User-Id from sub and each of more ("Header: claim") forwarded too.
func ordersRoute(upstream string, more ...string) string {
	headers := "        X-User-Id: sub\n"
	for _, h := range more {
		headers += "        " + h + "\n"
	}
	return fmt.Sprintf(`  - name: orders
    match: {path_prefix: /orders}
    upstream: %q
    auth:
      scopes: {all_of: ["orders:read"]}
    forward:
      claims_to_headers:
`, upstream) + headers
}

// corpIssuer is the feature tests' issuer "corp" as an entry of the
// issuers list: idp's tokens for the audience orders-api, RS256, keys from
// its jwks_uri without discovery. A caller adds its own settings of the
// issuer on the lines that follow (indented four spaces).
func corpIssuer(idp *tokentest.Issuer) string {
	return fmt.Sprintf(`  - name: corp
    issuer: %q
    jwks_uri: %q
    discovery: false
    audiences: ["orders-api"]
    algorithms: ["RS256"]
`, idp.URL(), idp.JWKSURL())
}
