package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// TestReloadDoesNotTurnTracingOn: the tracing block needs a restart. A
// reload that turns it on is reported as such, and the request path stays
// untraced: a client's traceparent still reaches the upstream untouched.
func TestReloadDoesNotTurnTracingOn(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	doc := func(tracing string) string {
		return fmt.Sprintf(`%s
routes:
  - name: open
    match: {path_prefix: /}
    upstream: %q
    auth: {mode: public}
`, tracing, up.URL)
	}
	g := gatewaytest.Options{Server: true}.StartYAML(t, doc(""))
	on := gatewaytest.ParseConfig(t, "on.yaml", doc("tracing:\n  enabled: true\n  endpoint: 127.0.0.1:1\n  insecure: true"))
	if err := g.Reload(context.Background(), on); err != nil {
		t.Fatal(err)
	}
	warned := false
	for _, e := range g.Logs.FilterMessageSnippet("need a restart").All() {
		if fields, ok := e.ContextMap()["fields"].([]any); ok && slices.Contains(fields, any("tracing")) {
			warned = true
		}
	}
	if !warned {
		t.Errorf("the reload did not report that tracing needs a restart: %v", g.Logs.All())
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req, _ := http.NewRequest(http.MethodGet, g.Server.URL+"/x", nil)
	req.Header.Set("Traceparent", tp)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := up.Last().Header.Get("Traceparent"); got != tp {
		t.Errorf("upstream traceparent %q, want the client's %q: tracing must stay off until a restart", got, tp)
	}
}
