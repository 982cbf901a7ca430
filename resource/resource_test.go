package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/gateway/gatewaytest/challenge"
)

func TestMetadataURL(t *testing.T) {
	tests := []struct {
		name     string
		resource string
		want     string
	}{
		{"a host alone is described at the prefix", "https://api.example.com", "https://api.example.com/.well-known/oauth-protected-resource"},
		{"the slash that only ends the host is dropped", "https://api.example.com/", "https://api.example.com/.well-known/oauth-protected-resource"},
		{"a path goes after the prefix", "https://api.example.com/orders", "https://api.example.com/.well-known/oauth-protected-resource/orders"},
		{"a deeper path goes after the prefix whole", "https://api.example.com/v1/orders", "https://api.example.com/.well-known/oauth-protected-resource/v1/orders"},
		{"a trailing slash after a path is part of the path", "https://api.example.com/orders/", "https://api.example.com/.well-known/oauth-protected-resource/orders/"},
		{"an explicit port stays in the authority", "https://api.example.com:8443/orders", "https://api.example.com:8443/.well-known/oauth-protected-resource/orders"},
		{"http is accepted on loopback for development", "http://127.0.0.1:8080/orders", "http://127.0.0.1:8080/.well-known/oauth-protected-resource/orders"},
		{"http is accepted on localhost", "http://localhost:3000", "http://localhost:3000/.well-known/oauth-protected-resource"},
		{"http is accepted on the IPv6 loopback", "http://[::1]:8080/api", "http://[::1]:8080/.well-known/oauth-protected-resource/api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MetadataURL(tt.resource)
			if err != nil {
				t.Fatalf("MetadataURL(%q): %v", tt.resource, err)
			}
			if got != tt.want {
				t.Fatalf("MetadataURL(%q) = %q, want %q", tt.resource, got, tt.want)
			}
		})
	}
}

func TestMetadataURLRefusesWhatValidateRefuses(t *testing.T) {
	for _, resource := range []string{"", "/orders", "https://api.example.com/orders?x=1", "http://api.example.com", "https://api.example.com/#f"} {
		if got, err := MetadataURL(resource); err == nil {
			t.Errorf("MetadataURL(%q) = %q, want an error", resource, got)
		}
	}
}

// valid is a document that passes Validate, for the refusals to break one
// member of.
func valid() Metadata {
	return Metadata{
		Resource:                           "https://api.example.com/orders",
		AuthorizationServers:               []string{"https://idp.example.com", "https://idp.example.com/realms/acme"},
		JWKSURI:                            "https://api.example.com/jwks.json",
		ScopesSupported:                    []string{"orders:read", "orders:write"},
		BearerMethodsSupported:             []string{"header"},
		ResourceSigningAlgValuesSupported:  []string{"RS256", "ES256"},
		ResourceName:                       "Orders API",
		ResourceDocumentation:              "https://docs.example.com/orders",
		ResourcePolicyURI:                  "https://example.com/privacy?lang=en",
		ResourceTOSURI:                     "https://example.com/tos",
		AuthorizationDetailsTypesSupported: []string{"payment_initiation"},
	}
}

func TestValidateAcceptsACompleteDocument(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Metadata{Resource: "https://api.example.com"}).Validate(); err != nil {
		t.Fatalf("a document with only its resource: %v", err)
	}
}

func TestValidateRefuses(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Metadata)
		member string
	}{
		{"a missing resource", func(m *Metadata) { m.Resource = "" }, "resource"},
		{"a relative resource", func(m *Metadata) { m.Resource = "/orders" }, "resource"},
		{"a resource with no host", func(m *Metadata) { m.Resource = "https:///orders" }, "resource"},
		{"a resource with a fragment", func(m *Metadata) { m.Resource = "https://api.example.com/orders#top" }, "resource"},
		{"a resource with an empty fragment", func(m *Metadata) { m.Resource = "https://api.example.com/orders#" }, "resource"},
		{"a resource with a query", func(m *Metadata) { m.Resource = "https://api.example.com/orders?tenant=acme" }, "resource"},
		{"an http resource on a public host", func(m *Metadata) { m.Resource = "http://api.example.com/orders" }, "resource"},
		{"a resource in another scheme", func(m *Metadata) { m.Resource = "wss://api.example.com/orders" }, "resource"},
		{"a resource with user information", func(m *Metadata) { m.Resource = "https://user@api.example.com/orders" }, "resource"},
		{"a resource with a quote in its host", func(m *Metadata) { m.Resource = `https://api.exa"mple.com/orders` }, "resource"},
		{"a resource with a quote in its path", func(m *Metadata) { m.Resource = `https://api.example.com/or"ders` }, "resource"},
		{"a resource with a backslash", func(m *Metadata) { m.Resource = `https://api.example.com/or\ders` }, "resource"},
		{"a resource with a control character", func(m *Metadata) { m.Resource = "https://api.example.com/orders\r\nX: y" }, "resource"},
		{"a resource in uppercase", func(m *Metadata) { m.Resource = "https://API.example.com/orders" }, "resource"},
		{"a resource with a percent-encoded path", func(m *Metadata) { m.Resource = "https://api.example.com/or%64ers" }, "resource"},
		{"a resource with a dot segment", func(m *Metadata) { m.Resource = "https://api.example.com/a/../orders" }, "resource"},
		{"a resource with an empty segment", func(m *Metadata) { m.Resource = "https://api.example.com//orders" }, "resource"},
		{"a resource with port 0", func(m *Metadata) { m.Resource = "https://api.example.com:0/orders" }, "resource"},
		{"a resource with an empty port", func(m *Metadata) { m.Resource = "https://api.example.com:/orders" }, "resource"},
		{"bearer method body, which the gateway never reads", func(m *Metadata) { m.BearerMethodsSupported = []string{"header", "body"} }, "bearer_methods_supported[1]"},
		{"bearer method query, which the gateway never reads", func(m *Metadata) { m.BearerMethodsSupported = []string{"query"} }, "bearer_methods_supported[0]"},
		{"an unknown bearer method", func(m *Metadata) { m.BearerMethodsSupported = []string{"cookie"} }, "bearer_methods_supported[0]"},
		{"an authorization server that is no URL", func(m *Metadata) { m.AuthorizationServers = []string{"idp.example.com"} }, "authorization_servers[0]"},
		{"an authorization server over http", func(m *Metadata) { m.AuthorizationServers = []string{"http://idp.example.com"} }, "authorization_servers[0]"},
		{"an authorization server with a query", func(m *Metadata) { m.AuthorizationServers = []string{"https://idp.example.com?realm=a"} }, "authorization_servers[0]"},
		{"an authorization server with a quote", func(m *Metadata) { m.AuthorizationServers = []string{`https://idp.example.com/"`} }, "authorization_servers[0]"},
		{"an authorization server listed twice", func(m *Metadata) {
			m.AuthorizationServers = []string{"https://idp.example.com", "https://idp.example.com"}
		}, "authorization_servers[1]"},
		{"a jwks_uri over http", func(m *Metadata) { m.JWKSURI = "http://api.example.com/jwks.json" }, "jwks_uri"},
		{"a documentation page with a fragment", func(m *Metadata) { m.ResourceDocumentation = "https://docs.example.com/#orders" }, "resource_documentation"},
		{"a policy page that is relative", func(m *Metadata) { m.ResourcePolicyURI = "/privacy" }, "resource_policy_uri"},
		{"a tos page with a space", func(m *Metadata) { m.ResourceTOSURI = "https://example.com/terms of service" }, "resource_tos_uri"},
		{"an empty scope", func(m *Metadata) { m.ScopesSupported = []string{""} }, "scopes_supported[0]"},
		{"signing algorithm none", func(m *Metadata) { m.ResourceSigningAlgValuesSupported = []string{"none"} }, "resource_signing_alg_values_supported[0]"},
		{"an empty authorization details type", func(m *Metadata) { m.AuthorizationDetailsTypesSupported = []string{""} }, "authorization_details_types_supported[0]"},
		{"certificate-bound tokens, which the gateway does not check", func(m *Metadata) { m.TLSClientCertificateBoundAccessTokens = true }, "tls_client_certificate_bound_access_tokens"},
		{"DPoP algorithms, which the gateway does not verify", func(m *Metadata) { m.DPoPSigningAlgValuesSupported = []string{"ES256"} }, "dpop_signing_alg_values_supported"},
		{"DPoP-bound tokens required, which the gateway does not verify", func(m *Metadata) { m.DPoPBoundAccessTokensRequired = true }, "dpop_bound_access_tokens_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			tt.mutate(&m)
			err := m.Validate()
			var me *MemberError
			if !errors.As(err, &me) {
				t.Fatalf("Validate() = %v, want a *MemberError", err)
			}
			if me.Member != tt.member {
				t.Fatalf("refused member %q (%v), want %q", me.Member, err, tt.member)
			}
			if !strings.Contains(err.Error(), tt.member) {
				t.Fatalf("error %q does not name the member %q", err, tt.member)
			}
			if strings.Contains(tt.name, "gateway") && !strings.Contains(err.Error(), "gateway") {
				t.Fatalf("error %q does not say that the gateway would not honour it", err)
			}
			if _, err := NewSet([]Metadata{m}); !errors.As(err, &me) {
				t.Fatalf("NewSet() = %v, want the same refusal", err)
			}
		})
	}
}

func TestNewSetRefusesTwoDocumentsAtOneURL(t *testing.T) {
	tests := []struct {
		name string
		a, b string
	}{
		{"the same resource twice", "https://api.example.com/orders", "https://api.example.com/orders"},
		{"a host with and without its ending slash", "https://api.example.com", "https://api.example.com/"},
		{"a host with and without its default port", "https://api.example.com/orders", "https://api.example.com:443/orders"},
		{"http and https on one host and port", "http://127.0.0.1:443/a", "https://127.0.0.1/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSet([]Metadata{{Resource: tt.a}, {Resource: tt.b}})
			if err == nil || !strings.Contains(err.Error(), "same metadata URL") {
				t.Fatalf("NewSet(%q, %q) = %v, want a refusal for a shared URL", tt.a, tt.b, err)
			}
		})
	}
	if _, err := NewSet([]Metadata{{Resource: "https://api.example.com/orders"}, {Resource: "https://api.example.com/orders/"}}); err != nil {
		t.Fatalf("a path with and without a trailing slash are two URLs: %v", err)
	}
}

func TestLookup(t *testing.T) {
	set, err := NewSet([]Metadata{
		{Resource: "https://api.example.com/orders"},
		{Resource: "https://api.example.com"},
		{Resource: "https://other.example.com/orders", ResourceName: "other"},
		{Resource: "https://api.example.com:8443/billing"},
		{Resource: "http://localhost:8080/dev"},
		{Resource: "http://[::1]:9000/v6"},
	})
	if err != nil {
		t.Fatal(err)
	}
	const p = WellKnownPrefix
	tests := []struct {
		name         string
		host, path   string
		wantResource string // "" for no document
	}{
		{"the path-suffixed form on the right host", "api.example.com", p + "/orders", "https://api.example.com/orders"},
		{"the bare prefix for a host-only resource", "api.example.com", p, "https://api.example.com"},
		{"the same path on another host is another document", "other.example.com", p + "/orders", "https://other.example.com/orders"},
		{"a host in another case", "API.Example.COM", p + "/orders", "https://api.example.com/orders"},
		{"the scheme's default port named in Host", "api.example.com:443", p + "/orders", "https://api.example.com/orders"},
		{"an explicit port named in Host", "api.example.com:8443", p + "/billing", "https://api.example.com:8443/billing"},
		{"loopback http with its port", "localhost:8080", p + "/dev", "http://localhost:8080/dev"},
		{"an IPv6 literal with its port", "[::1]:9000", p + "/v6", "http://[::1]:9000/v6"},
		{"a wrong host", "evil.example.com", p + "/orders", ""},
		{"a host that only ends like the right one", "xapi.example.com", p + "/orders", ""},
		{"another port for a resource without one", "api.example.com:8080", p + "/orders", ""},
		{"no port for a resource with an explicit one", "api.example.com", p + "/billing", ""},
		{"another port for a resource with an explicit one", "api.example.com:9443", p + "/billing", ""},
		{"loopback http without its port", "localhost", p + "/dev", ""},
		{"an IPv6 literal without brackets", "::1:9000", p + "/v6", ""},
		{"the prefix with a path that is no resource", "api.example.com", p + "/invoices", ""},
		{"a trailing slash the resource does not have", "api.example.com", p + "/orders/", ""},
		{"the prefix with a trailing slash", "api.example.com", p + "/", ""},
		{"the resource path itself", "api.example.com", "/orders", ""},
		{"the path in another case", "api.example.com", p + "/ORDERS", ""},
		{"an empty host", "", p + "/orders", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, ok := set.Lookup(tt.host, tt.path)
			if tt.wantResource == "" {
				if ok {
					t.Fatalf("Lookup(%q, %q) found %s, want nothing", tt.host, tt.path, body)
				}
				return
			}
			if !ok {
				t.Fatalf("Lookup(%q, %q) found nothing, want %s", tt.host, tt.path, tt.wantResource)
			}
			var m Metadata
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			if m.Resource != tt.wantResource {
				t.Fatalf("Lookup(%q, %q) found %q, want %q", tt.host, tt.path, m.Resource, tt.wantResource)
			}
		})
	}
}

func TestNilSetServesNothing(t *testing.T) {
	var s *Set
	if _, ok := s.Lookup("api.example.com", WellKnownPrefix); ok {
		t.Fatal("a nil set found a document")
	}
	if s.IsMetadataPath(WellKnownPrefix) {
		t.Fatal("a nil set claimed a path")
	}
}

func TestIsMetadataPath(t *testing.T) {
	s, err := NewSet(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want bool
	}{
		{WellKnownPrefix, true},
		{WellKnownPrefix + "/orders", true},
		{WellKnownPrefix + "/", true},
		{WellKnownPrefix + "x", false},
		{WellKnownPrefix + "-extra", false},
		{"/.well-known/openid-configuration", false},
		{"/orders", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := s.IsMetadataPath(tt.path); got != tt.want {
			t.Errorf("IsMetadataPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// serve starts the set of documents for the given resource paths on a
// loopback server, as http://127.0.0.1:port<path>, and returns the
// resources.
func serve(t *testing.T, paths ...string) (*httptest.Server, []string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	origin := "http://" + srv.Listener.Addr().String()
	var docs []Metadata
	var resources []string
	for _, p := range paths {
		r := origin + p
		resources = append(resources, r)
		docs = append(docs, Metadata{Resource: r, AuthorizationServers: []string{"https://idp.example.com"},
			ScopesSupported: []string{"orders:read"}, BearerMethodsSupported: []string{"header"}})
	}
	set, err := NewSet(docs)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = set
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, resources
}

func TestServeHTTPPassesTheClientsIdentityCheck(t *testing.T) {
	srv, resources := serve(t, "", "/orders", "/v1/billing/")
	client := srv.Client()
	for _, resource := range resources {
		t.Run(resource, func(t *testing.T) {
			// What a client does (§3.3): derive the URL from the identifier
			// it knows, fetch it, and keep the document only if its resource
			// is that identifier.
			u, err := MetadataURL(resource)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q, want application/json", ct)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=300" {
				t.Fatalf("Cache-Control %q", cc)
			}
			var m Metadata
			if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
				t.Fatal(err)
			}
			if m.Resource != resource {
				t.Fatalf("document resource %q, want the identifier %q", m.Resource, resource)
			}
			if got := resp.Request.URL.String(); got != u {
				t.Fatalf("document fetched from %q, want MetadataURL(resource) %q", got, u)
			}
		})
	}
}

func TestServeHTTPWritesRegisteredMemberNames(t *testing.T) {
	srv, resources := serve(t, "/orders")
	u, _ := MetadataURL(resources[0])
	resp, err := srv.Client().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var members map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&members); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"resource", "authorization_servers", "scopes_supported", "bearer_methods_supported"} {
		if _, ok := members[name]; !ok {
			t.Errorf("member %q missing from %v", name, members)
		}
	}
	if len(members) != 4 {
		t.Errorf("members %v: empty members must be omitted", members)
	}
}

func TestServeHTTPMethodsAndMisses(t *testing.T) {
	srv, resources := serve(t, "/orders")
	u, _ := MetadataURL(resources[0])
	tests := []struct {
		name       string
		method     string
		url        string
		wantStatus int
		wantBody   bool
		wantAllow  string
		wantError  string
	}{
		{"HEAD has the headers and no body", http.MethodHead, u, http.StatusOK, false, "", ""},
		{"POST is not allowed", http.MethodPost, u, http.StatusMethodNotAllowed, true, "GET, HEAD", "method_not_allowed"},
		{"DELETE is not allowed", http.MethodDelete, u, http.StatusMethodNotAllowed, true, "GET, HEAD", "method_not_allowed"},
		{"the prefix with no resource there is not found", http.MethodGet, srv.URL + WellKnownPrefix + "/invoices", http.StatusNotFound, true, "", "not_found"},
		{"the bare prefix with no host-wide resource is not found", http.MethodGet, srv.URL + WellKnownPrefix, http.StatusNotFound, true, "", "not_found"},
		{"an encoded slash is not the resource path", http.MethodGet, srv.URL + WellKnownPrefix + "%2Forders", http.StatusNotFound, true, "", "not_found"},
		{"POST to a missing document is not found", http.MethodPost, srv.URL + WellKnownPrefix + "/x", http.StatusNotFound, true, "", "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if (len(body) > 0) != tt.wantBody {
				t.Fatalf("body %q, want a body: %v", body, tt.wantBody)
			}
			if got := resp.Header.Get("Allow"); got != tt.wantAllow {
				t.Fatalf("Allow %q, want %q", got, tt.wantAllow)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if tt.wantError != "" {
				var e struct{ Error string }
				if err := json.Unmarshal(body, &e); err != nil || e.Error != tt.wantError {
					t.Fatalf("body %q, want error %q", body, tt.wantError)
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Fatalf("a refusal is cached: Cache-Control %q", cc)
				}
			}
			if tt.method == http.MethodHead && resp.ContentLength <= 0 {
				t.Fatalf("HEAD Content-Length %d, want the document's", resp.ContentLength)
			}
		})
	}
}

func TestServeHTTPWritesNoBodyForHEAD(t *testing.T) {
	set, err := NewSet([]Metadata{{Resource: "https://api.example.com/orders"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{WellKnownPrefix + "/orders", WellKnownPrefix + "/missing"} {
		rec := httptest.NewRecorder()
		set.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "https://api.example.com"+target, nil))
		if rec.Body.Len() != 0 {
			t.Errorf("HEAD %s wrote %q", target, rec.Body)
		}
		if rec.Header().Get("Content-Length") == "" {
			t.Errorf("HEAD %s has no Content-Length", target)
		}
	}
}

func TestChallengeParamIsAnAuthParam(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want string // the parameter's value, unquoted
	}{
		{"a URL NewSet accepts is quoted unchanged", "https://api.example.com/.well-known/oauth-protected-resource/orders", ""},
		{"a URL with a port is quoted unchanged", "https://api.example.com:8443/.well-known/oauth-protected-resource", ""},
		{"a quote and a backslash become quoted-pairs", `https://x/"a\b`, ""},
		{"a line break cannot end the header", "https://x/\r\nSet-Cookie: a=b", "https://x/%0D%0ASet-Cookie: a=b"},
		{"bytes beyond ASCII are percent-encoded", "https://x/caf\xc3\xa9", "https://x/caf%C3%A9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == "" {
				want = tt.url
			}
			param := ChallengeParam(tt.url)
			for _, ch := range []string{
				"Bearer " + param,
				`Bearer realm="portcullis", error="invalid_token", error_description="the token has expired", ` + param,
			} {
				c, err := challenge.Parse(ch)
				if err != nil {
					t.Fatalf("%q: %v", ch, err)
				}
				if c.Scheme != "Bearer" {
					t.Fatalf("scheme %q", c.Scheme)
				}
				if got := c.Params["resource_metadata"]; got != want {
					t.Fatalf("resource_metadata %q, want %q", got, want)
				}
			}
		})
	}
	if got := ChallengeParam("https://api.example.com/.well-known/oauth-protected-resource"); got != `resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"` {
		t.Fatalf("ChallengeParam = %s", got)
	}
}

func FuzzLookupAndMetadataURL(f *testing.F) {
	for _, seed := range []struct{ resource, host, path string }{
		{"https://api.example.com/orders", "api.example.com", WellKnownPrefix + "/orders"},
		{"https://api.example.com", "API.example.com:443", WellKnownPrefix},
		{"http://[::1]:8080/a/", "[::1]:8080", WellKnownPrefix + "/a/"},
		{"https://x:/", "[", "%"},
		{"https://x/a?b#c", "x:99999", WellKnownPrefix + "//"},
	} {
		f.Add(seed.resource, seed.host, seed.path)
	}
	fixed, err := NewSet([]Metadata{{Resource: "https://api.example.com/orders"}, {Resource: "http://[::1]:8080"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, resource, host, path string) {
		fixed.Lookup(host, path)
		fixed.IsMetadataPath(path)
		u, err := MetadataURL(resource)
		if err != nil {
			return
		}
		// Whatever MetadataURL accepts, a set serves at that URL, with that
		// resource, and the challenge pointing there parses.
		set, err := NewSet([]Metadata{{Resource: resource}})
		if err != nil {
			t.Fatalf("MetadataURL(%q) accepted what NewSet refuses: %v", resource, err)
		}
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatalf("MetadataURL(%q) = %q, no URL: %v", resource, u, err)
		}
		body, ok := set.Lookup(parsed.Host, parsed.EscapedPath())
		if !ok {
			t.Fatalf("no document at %q for %q", u, resource)
		}
		var m Metadata
		if err := json.Unmarshal(body, &m); err != nil || m.Resource != resource {
			t.Fatalf("document at %q has resource %q (%v), want %q", u, m.Resource, err, resource)
		}
		if c, err := challenge.Parse("Bearer " + ChallengeParam(u)); err != nil || c.Params["resource_metadata"] != u {
			t.Fatalf("challenge for %q: %v %q", u, err, c.Params["resource_metadata"])
		}
	})
}

func TestLookupAllocatesNothing(t *testing.T) {
	set, err := NewSet([]Metadata{{Resource: "https://api.example.com/orders"}, {Resource: "https://other.example.com/orders"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { set.Lookup("Other.example.com:443", WellKnownPrefix+"/orders") }); n != 0 {
		t.Fatalf("Lookup allocates %v times", n)
	}
}

func BenchmarkLookup(b *testing.B) {
	docs := make([]Metadata, 0, 100)
	for i := range 100 {
		docs = append(docs, Metadata{Resource: fmt.Sprintf("https://api.example.com/r%d", i)})
	}
	set, err := NewSet(docs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		set.Lookup("api.example.com", WellKnownPrefix+"/r42")
	}
}
