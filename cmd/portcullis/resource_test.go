package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

const wellKnown = "/.well-known/oauth-protected-resource"

// resourceConfig renders a gateway describing two protected resources
// (RFC 9728): "orders", identified by the proxy's own loopback URL, and
// "catalog", by https://api.example.com/catalog. Routes: orders and
// catalog name theirs; plain names none; shadow names orders and is in
// audit mode (auth.enforce: false, the defaults enforcing).
func resourceConfig(idp *tokentest.Issuer, upstream string) func(listen, admin string) string {
	return func(listen, admin string) string {
		return featureHead(listen, admin) + "issuers:\n" + corpIssuer(idp) + fmt.Sprintf(`resources:
  - name: orders
    resource: "http://%[1]s/orders"
    authorization_servers: [%[2]q]
    scopes_supported: ["orders:read", "orders:write"]
    bearer_methods_supported: ["header"]
    resource_name: "Orders API"
  - name: catalog
    resource: "https://api.example.com/catalog"
    authorization_servers: ["https://idp.example.com/"]
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: %[3]q
    resource: orders
    auth: {scopes: {all_of: ["orders:read"]}}
  - name: catalog
    match: {hosts: [api.example.com], path_prefix: /catalog}
    upstream: %[3]q
    resource: catalog
    auth: {scopes: {all_of: ["catalog:read"]}}
  - name: plain
    match: {path_prefix: /plain}
    upstream: %[3]q
    auth: {scopes: {all_of: ["orders:read"]}}
  - name: shadow
    match: {path_prefix: /shadow}
    upstream: %[3]q
    resource: orders
    auth: {enforce: false, scopes: {all_of: ["orders:read"]}}
`, listen, idp.URL(), upstream)
	}
}

// TestProtectedResourceMetadata drives `portcullis serve` with RFC 9728
// resources: the documents are served on the proxy port without a token,
// for the right Host only; every challenge of a route naming a resource
// points at its document with a well-formed resource_metadata auth-param,
// and a route naming none carries none.
func TestProtectedResourceMetadata(t *testing.T) {
	t.Parallel()
	idp, keys := newIssuer(t, "k1")
	upstream := gatewaytest.NewUpstream(t)
	g := startGateway(t, resourceConfig(idp, upstream.URL))
	waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)

	ordersID := "http://" + g.Listen + "/orders"
	ordersMeta := "http://" + g.Listen + wellKnown + "/orders"
	catalogMeta := "https://api.example.com" + wellKnown + "/catalog"
	claims := tokentest.Standard(idp.URL(), "orders-api", "alice", "orders:read catalog:read", time.Hour)
	noScope := keys[0].Sign(claims.With("scope", "profile"))
	forged := tokentest.RSA("k1", 2048).Sign(claims)
	metadataGets := map[int]float64{} // status -> GETs of metadata URLs

	t.Run("the document is served at its well-known URL without a token", func(t *testing.T) {
		res := do(t, http.MethodGet, ordersMeta, nil)
		metadataGets[res.StatusCode]++
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d, want 200: %s", ordersMeta, res.StatusCode, res.body)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
		if v := res.Header.Values("WWW-Authenticate"); len(v) != 0 {
			t.Errorf("the metadata document carries a challenge %q", v)
		}
		var doc map[string]any
		decodeJSON(t, res, &doc)
		want := map[string]any{
			"resource":                 ordersID,
			"authorization_servers":    []any{idp.URL()},
			"scopes_supported":         []any{"orders:read", "orders:write"},
			"bearer_methods_supported": []any{"header"},
			"resource_name":            "Orders API",
		}
		if got, w := fmt.Sprint(doc), fmt.Sprint(want); got != w {
			t.Errorf("document:\n got %s\nwant %s", got, w)
		}
		if upstream.Count() != 0 {
			t.Errorf("a metadata request reached the upstream")
		}
	})
	t.Run("a document is served only for its own origin", func(t *testing.T) {
		for _, c := range []struct {
			host, path string
			want       int
			resource   string
		}{
			{"api.example.com", wellKnown + "/catalog", http.StatusOK, "https://api.example.com/catalog"},
			{"API.Example.com:443", wellKnown + "/catalog", http.StatusOK, "https://api.example.com/catalog"},
			{"", wellKnown + "/catalog", http.StatusNotFound, ""},               // Host 127.0.0.1:PORT
			{"api.example.com", wellKnown + "/orders", http.StatusNotFound, ""}, // orders lives on the loopback origin
			{"", wellKnown + "/nothing", http.StatusNotFound, ""},
			{"", wellKnown, http.StatusNotFound, ""},
		} {
			res := doHost(t, http.MethodGet, g.URL(c.path), c.host, nil)
			metadataGets[res.StatusCode]++
			if res.StatusCode != c.want {
				t.Errorf("GET %s (Host %q): status %d, want %d: %s", c.path, c.host, res.StatusCode, c.want, res.body)
				continue
			}
			var doc map[string]any
			decodeJSON(t, res, &doc)
			if c.want == http.StatusOK && doc["resource"] != c.resource {
				t.Errorf("GET %s (Host %q): resource %v, want %s", c.path, c.host, doc["resource"], c.resource)
			}
			if c.want == http.StatusNotFound && doc["error"] != "not_found" {
				t.Errorf("GET %s (Host %q): 404 body %s, want the fixed not_found error", c.path, c.host, res.body)
			}
		}
	})
	t.Run("POST to a document is 405 with Allow", func(t *testing.T) {
		res := do(t, http.MethodPost, ordersMeta, nil)
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s: status %d, Allow %q; want 405, GET, HEAD", ordersMeta, res.StatusCode, res.Header.Get("Allow"))
		}
	})

	type refusal struct {
		name, host, path string
		headers          map[string]string
		status           int
		errorCode        string // the challenge's error, "" for none
		metadata         string // the challenge's resource_metadata, "" for none
	}
	for _, c := range []refusal{
		{"no token on a route with a resource", "", "/orders/1", nil, 401, "", ordersMeta},
		{"a forged token on a route with a resource", "", "/orders/1", bearer(forged), 401, "invalid_token", ordersMeta},
		{"a token without the scope on a route with a resource", "", "/orders/1", bearer(noScope), 403, "insufficient_scope", ordersMeta},
		{"not a JWT on a route with a resource", "", "/orders/1", bearer("a.b.c"), 401, "invalid_token", ordersMeta},
		{"no token on a route whose resource has an https identifier", "api.example.com", "/catalog/1", nil, 401, "", catalogMeta},
		{"a token without the scope there", "api.example.com", "/catalog/1", bearer(noScope), 403, "insufficient_scope", catalogMeta},
		{"no token on a route without a resource", "", "/plain/1", nil, 401, "", ""},
		{"a forged token on a route without a resource", "", "/plain/1", bearer(forged), 401, "invalid_token", ""},
		{"a token without the scope on a route without a resource", "", "/plain/1", bearer(noScope), 403, "insufficient_scope", ""},
	} {
		t.Run("challenge: "+c.name, func(t *testing.T) {
			res := doHost(t, http.MethodGet, g.URL(c.path), c.host, c.headers)
			if res.StatusCode != c.status {
				t.Fatalf("GET %s: status %d, want %d: %s", c.path, res.StatusCode, c.status, res.body)
			}
			ch := onlyChallenge(t, res)
			if ch.Scheme != "Bearer" || ch.Params["realm"] != "portcullis" {
				t.Errorf("challenge %+v: want scheme Bearer, realm portcullis", ch)
			}
			if got := ch.Params["error"]; got != c.errorCode {
				t.Errorf("challenge error = %q, want %q (%+v)", got, c.errorCode, ch)
			}
			got, ok := ch.Params["resource_metadata"]
			switch {
			case c.metadata == "" && ok:
				t.Errorf("a route without a resource has resource_metadata=%q in %q", got, res.Header.Get("WWW-Authenticate"))
			case c.metadata != "" && got != c.metadata:
				t.Errorf("resource_metadata = %q (present %v), want %q in %q", got, ok, c.metadata, res.Header.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("the URL a challenge names serves the document of the resource", func(t *testing.T) {
		res := do(t, http.MethodGet, g.URL("/orders/1"), nil)
		url := onlyChallenge(t, res).Params["resource_metadata"]
		if url == "" {
			t.Fatalf("no resource_metadata in %q", res.Header.Get("WWW-Authenticate"))
		}
		doc := do(t, http.MethodGet, url, nil) // what a client does next (RFC 9728 §5)
		metadataGets[doc.StatusCode]++
		var m struct{ Resource string }
		decodeJSON(t, doc, &m)
		if doc.StatusCode != http.StatusOK || m.Resource != ordersID {
			t.Errorf("GET %s: status %d, resource %q; want 200 and %q (RFC 9728 §3.3)", url, doc.StatusCode, m.Resource, ordersID)
		}
	})
	t.Run("an audit route naming a resource forwards without a challenge", func(t *testing.T) {
		res := do(t, http.MethodGet, g.URL("/shadow/1"), nil)
		if res.StatusCode != http.StatusOK || res.Header.Get(gatewaytest.EchoHeader) != "1" {
			t.Fatalf("status %d, want 200 from the upstream: %s", res.StatusCode, res.body)
		}
		if v := res.Header.Values("WWW-Authenticate"); len(v) != 0 {
			t.Errorf("a forwarded request carries WWW-Authenticate %q", v)
		}
		checkFields(t, accessLine(t, g, res), map[string]any{"route": "shadow", "mode": "audit", "reason": "missing", "status": 200.0})
	})

	t.Run("metadata requests count under route resource_metadata, with no auth decision", func(t *testing.T) {
		mfs := scrape(t, g)
		requests := series(mfs, "portcullis_requests_total")
		want := map[string]float64{labels("route", "resource_metadata", "method", "POST", "code", "405", "via", "proxy"): 1}
		for status, n := range metadataGets {
			want[labels("route", "resource_metadata", "method", "GET", "code", fmt.Sprint(status), "via", "proxy")] = n
		}
		got := map[string]float64{}
		for k, v := range requests {
			if containsLabel(k, "route", "resource_metadata") {
				got[k] = v
			}
		}
		if !mapsEqual(got, want) {
			t.Errorf("portcullis_requests_total{route=\"resource_metadata\"}:\n got %v\nwant %v", got, want)
		}
		for k := range series(mfs, "portcullis_auth_decisions_total") {
			if containsLabel(k, "route", "resource_metadata") {
				t.Errorf("portcullis_auth_decisions_total has %s: a metadata request makes no auth decision", k)
			}
		}
		decisions := series(mfs, "portcullis_auth_decisions_total")
		if v := decisions[labels("route", "shadow", "decision", "unauthenticated", "mode", "audit", "via", "proxy")]; v != 1 {
			t.Errorf(`portcullis_auth_decisions_total{route="shadow",decision="unauthenticated",mode="audit"} = %v, want 1 (all: %v)`, v, decisions)
		}
	})
}

// containsLabel reports whether a label set written by labels holds
// name="value".
func containsLabel(set, name, value string) bool {
	pair := fmt.Sprintf("%s=%q", name, value)
	inner := strings.TrimSuffix(strings.TrimPrefix(set, "{"), "}")
	return strings.HasPrefix(inner+",", pair+",") || strings.Contains(","+inner+",", ","+pair+",")
}
