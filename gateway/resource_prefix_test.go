package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// With resources configured, the metadata prefix is the gateway's: no
// route forwards it (README, Protected resource metadata), whichever
// spelling of the path cleaning turns into it. A spelling that is not the
// document's own URL is answered the Set's fixed 404, never an upstream's
// answer (an upstream's own metadata, on a public catch-all route, that
// names other authorization servers than the gateway's document).
func TestMetadataPrefixIsNeverForwarded(t *testing.T) {
	t.Parallel()
	upstream := gatewaytest.NewUpstream(t)
	g := gatewaytest.StartYAML(t, fmt.Sprintf(`
resources:
  - name: orders
    resource: "https://api.example.com/orders"
    authorization_servers: ["https://idp.example.com/"]
routes:
  - name: everything
    match: {path_prefix: /}
    upstream: %q
    auth: {mode: public}
`, upstream.URL))
	for _, target := range []string{
		"/.well-known/oauth-protected-resource/orders", // the document itself
		"//.well-known/oauth-protected-resource/orders",
		"/.well-known//oauth-protected-resource/orders",
		"/x/../.well-known/oauth-protected-resource/orders",
		"/./.well-known/oauth-protected-resource",
		"/.well-known/./oauth-protected-resource/other",
	} {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Host = "api.example.com"
		rec := httptest.NewRecorder()
		before := upstream.Count()
		g.Handler().ServeHTTP(rec, req)
		if upstream.Count() != before || rec.Header().Get(gatewaytest.EchoHeader) != "" {
			t.Errorf("GET %s was forwarded to the upstream (status %d): the metadata prefix is the gateway's", target, rec.Code)
			continue
		}
		want := http.StatusNotFound
		if target == "/.well-known/oauth-protected-resource/orders" {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Errorf("GET %s: status %d, want %d: %s", target, rec.Code, want, rec.Body)
		}
	}
	// The prefix's neighbours are ordinary paths.
	req := httptest.NewRequest(http.MethodGet, "/.well-known/oauth-protected-resourcex", nil)
	req.Host = "api.example.com"
	rec := httptest.NewRecorder()
	g.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get(gatewaytest.EchoHeader) != "1" {
		t.Errorf("GET /.well-known/oauth-protected-resourcex: status %d, want the upstream's 200", rec.Code)
	}
}
