package decision_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// Decisions count like proxied requests, under via="decision"; a refused
// call (an untrusted caller, a bad description) is no authentication
// failure, and neither the token nor the description reaches the log.
func TestDecisionsAreCountedAndLogged(t *testing.T) {
	f := newFixture(t, "127.0.0.1/32")
	g, tok := f.g, f.token("orders:read")
	call := func(remote, uri, auth string) int {
		h := map[string]string{"X-Original-Method": "GET", "X-Original-Host": "api.example.com"}
		if uri != "" {
			h["X-Original-URI"] = uri
		}
		if auth != "" {
			h["Authorization"] = auth
		}
		return f.call("/nginx", remote, h).Code
	}
	for _, c := range []struct {
		remote, uri, auth string
		want              int
	}{
		{"127.0.0.1:1", "/orders/1", tokentest.Bearer(tok), 200},
		{"127.0.0.1:1", "/orders/1", "", 401},
		{"192.0.2.1:1", "/orders/1", tokentest.Bearer(tok), 403},
		{"127.0.0.1:1", "", tokentest.Bearer(tok), 400},
	} {
		if got := call(c.remote, c.uri, c.auth); got != c.want {
			t.Fatalf("call from %s for %q: %d, want %d", c.remote, c.uri, got, c.want)
		}
	}
	m := g.Metrics()
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"orders", "GET", "200", "decision"}, 1},
		{[]string{"orders", "GET", "401", "decision"}, 1},
		{[]string{"unmatched", "GET", "403", "decision"}, 1},
		{[]string{"unmatched", "GET", "400", "decision"}, 1},
	} {
		if got := testutil.ToFloat64(m.Requests.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("portcullis_requests_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if got := testutil.ToFloat64(m.AuthDecisions.WithLabelValues("orders", "allowed", "enforce", "decision")); got != 1 {
		t.Errorf("allowed decisions = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(m.Requests, "portcullis_requests_total"); n != 4 {
		t.Errorf("%d request series, want 4 (nothing counted via proxy)", n)
	}
	if got := testutil.ToFloat64(m.AuthFailures.WithLabelValues("unknown", "missing")); got != 1 {
		t.Errorf("failures{missing} = %v, want 1: only the described request without a token", got)
	}
	if n := testutil.CollectAndCount(m.AuthFailures); n != 1 {
		t.Errorf("%d failure series, want 1: refused calls are no authentication failures", n)
	}
	var vias int
	for _, e := range g.Logs.FilterMessage("request").All() {
		if e.ContextMap()["via"] == "decision" {
			vias++
		}
	}
	if vias != 4 {
		t.Errorf("%d access-log lines say via=decision, want 4", vias)
	}
	gatewaytest.CheckLogsHoldNoToken(t, g.Logs, tok)
}
