package introspect_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/portcullis/portcullis/introspect"
	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/remote"
	"github.com/portcullis/portcullis/token/tokentest"
)

// An issuer's configured headers travel on the client of its identity,
// which its key set and its introspection share. A configured Authorization
// (an API key the IdP wants on its key set) goes on the key-set GET, which
// has none of its own, but never over client_secret_basic's credentials;
// the form's Content-Type and the call's Accept are not replaced either.
func TestIssuerHeadersNeverReplaceTheCallsOwn(t *testing.T) {
	key := tokentest.EC("ec-1", "ES256")
	s := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/jwks" {
			w.Header().Set("Content-Type", "application/json")
			w.Write(tokentest.JWKS(key))
			return
		}
		answer(`{"active":false}`)(w, r)
	})
	// Configuration refuses Content-Type; the client does not count on it.
	id := remote.Identity{Headers: remote.HeaderLines(map[string]string{
		"Authorization": "ApiKey k1",
		"Content-Type":  "text/plain",
		"X-Tenant":      "t1",
	})}
	client, err := remote.NewClient(id, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	keys := jwks.New(jwks.Source{Issuer: "idp", JWKSURI: s.URL + "/jwks", Algorithms: []string{"ES256"}}, client, nil, nil)
	if err := keys.Refresh(ctx); err != nil {
		t.Fatalf("key set: %v", err)
	}
	h, _ := s.last()
	if got := h.Get("Authorization"); got != "ApiKey k1" {
		t.Errorf("the key-set GET carried Authorization %q, want the configured %q", got, "ApiKey k1")
	}
	if got := h.Get("X-Tenant"); got != "t1" {
		t.Errorf("the key-set GET carried X-Tenant %q, want t1", got)
	}

	o := options(s.endpoint())
	o.Client, o.Method = client, introspect.ClientSecretBasic
	if _, err := mustNew(t, o).Introspect(ctx, opaque); err != nil {
		t.Fatalf("introspection: %v", err)
	}
	h, form := s.last()
	user, pass, ok := (&http.Request{Header: h}).BasicAuth()
	if !ok || user != url.QueryEscape(clientID) || pass != url.QueryEscape(secret) {
		t.Errorf("introspection carried Authorization %q, want client_secret_basic's credentials", h.Get("Authorization"))
	}
	if got := h.Values("Authorization"); len(got) != 1 {
		t.Errorf("introspection carried %d Authorization headers, want 1: %q", len(got), got)
	}
	if got := h.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		t.Errorf("introspection carried Content-Type %q, want the form's", got)
	}
	if form.Get("token") != opaque {
		t.Errorf("the IdP read token %q from the form", form.Get("token"))
	}
	if got := h.Get("X-Tenant"); got != "t1" {
		t.Errorf("introspection carried X-Tenant %q, want t1", got)
	}
}
