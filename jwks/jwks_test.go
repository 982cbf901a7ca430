package jwks_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/token/tokentest"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		// source returns the source to load from is (an issuer serving ec-a and ec-b).
		source func(t *testing.T, is *tokentest.Issuer) jwks.Source
	}{
		{
			name: "keys load from the configured jwks_uri",
			source: func(t *testing.T, is *tokentest.Issuer) jwks.Source {
				return jwks.Source{JWKSURI: is.JWKSURL()}
			},
		},
		{
			name: "keys load through discovery when jwks_uri is empty",
			source: func(t *testing.T, is *tokentest.Issuer) jwks.Source {
				return jwks.Source{IssuerURL: is.URL(), Discovery: true}
			},
		},
		{
			name: "discovery of an issuer with a trailing slash reads {issuer without /}/.well-known",
			source: func(t *testing.T, is *tokentest.Issuer) jwks.Source {
				is.SetDiscovery(map[string]any{"issuer": is.URL() + "/"})
				return jwks.Source{IssuerURL: is.URL() + "/", Discovery: true}
			},
		},
		{
			name: "keys load from a file:// location",
			source: func(t *testing.T, is *tokentest.Issuer) jwks.Source {
				path := filepath.Join(t.TempDir(), "jwks.json")
				if err := os.WriteFile(path, tokentest.JWKS(ecA(), ecB()), 0o600); err != nil {
					t.Fatal(err)
				}
				return jwks.Source{JWKSURI: "file://" + path}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := tokentest.NewIssuer(ecA(), ecB())
			defer is.Close()
			h := newHarness(t, tt.source(t, is), nil)

			if h.set.Ready() || h.set.Keys() != nil || !h.set.LastSuccess().IsZero() {
				t.Fatal("the set is ready before any fetch")
			}
			if err := h.set.Refresh(context.Background()); err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if !h.set.Ready() {
				t.Fatal("Ready() = false after a successful fetch")
			}
			equalKids(t, h.kids(), "ec-a", "ec-b")
			if got := h.refreshes("success"); got != 1 {
				t.Errorf("success count = %v, want 1", got)
			}
			if got := h.keysGauge(); got != 2 {
				t.Errorf("keys gauge = %v, want 2", got)
			}
			if got := testutil.ToFloat64(h.metrics.JWKSLastSuccess.WithLabelValues(issuerName)); got <= 0 {
				t.Errorf("last success gauge = %v, want a timestamp", got)
			}
			loaded := h.logs.FilterMessage("jwks loaded").FilterField(zap.String("issuer", issuerName)).All()
			if len(loaded) != 1 {
				t.Fatalf("want one info log of the load, got %d", len(loaded))
			}
			if got := loaded[0].ContextMap()["kids"]; got == nil {
				t.Error("the load log does not name the kids")
			}
		})
	}
}

func TestDiscoveredJWKSURIIsCached(t *testing.T) {
	is := tokentest.NewIssuer(ecA())
	defer is.Close()
	h := newHarness(t, jwks.Source{IssuerURL: is.URL(), Discovery: true}, nil)

	for range 3 {
		if err := h.set.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := is.DiscoveryFetches(); got != 1 {
		t.Errorf("discovery fetched %d times for 3 successful refreshes, want 1", got)
	}
}

func TestKeysThatMovedAreFoundByRediscovery(t *testing.T) {
	is := tokentest.NewIssuer(ecA())
	defer is.Close()
	moved := tokentest.NewIssuer(ecB())
	defer moved.Close()
	h := newHarness(t, jwks.Source{IssuerURL: is.URL(), Discovery: true}, nil)
	if err := h.set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}

	is.SetStatus(http.StatusNotFound)
	is.SetDiscovery(map[string]any{"jwks_uri": moved.JWKSURL()})
	if err := h.set.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh after the keys moved: %v", err)
	}
	equalKids(t, h.kids(), "ec-b")
	if got := is.DiscoveryFetches(); got != 2 {
		t.Errorf("discovery fetched %d times, want 2 (the first load, then after the failure)", got)
	}
}

func TestDiscoveryRefuses(t *testing.T) {
	tests := []struct {
		name    string
		doc     map[string]any
		wantErr string
	}{
		{
			name:    "a document whose issuer differs from the configured one",
			doc:     map[string]any{"issuer": "https://evil.example.com"},
			wantErr: `discovery document issuer "https://evil.example.com" does not match configured issuer`,
		},
		{
			name:    "a jwks_uri on another scheme (file://)",
			doc:     map[string]any{"jwks_uri": "file:///etc/passwd"},
			wantErr: `scheme "file" refused`,
		},
		{
			name:    "a document without jwks_uri",
			doc:     map[string]any{"jwks_uri": ""},
			wantErr: "no valid jwks_uri",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := tokentest.NewIssuer(ecA())
			defer is.Close()
			is.SetDiscovery(tt.doc)
			h := newHarness(t, jwks.Source{IssuerURL: is.URL(), Discovery: true}, nil)

			errContains(t, h.set.Refresh(context.Background()), tt.wantErr)
			if h.set.Ready() {
				t.Error("Ready() = true after a refused discovery")
			}
			if got := is.JWKSFetches(); got != 0 {
				t.Errorf("the key set was fetched %d times after a refused discovery", got)
			}
			if got := h.refreshes("error"); got != 1 {
				t.Errorf("error count = %v, want 1", got)
			}
		})
	}
}

func TestDiscoveryOfAnHTTPSIssuerRefusesAnHTTPJWKSURI(t *testing.T) {
	var issuer string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"issuer":"` + issuer + `","jwks_uri":"http://` + r.Host + `/jwks"}`))
	}))
	defer srv.Close()
	issuer = srv.URL
	h := newHarness(t, jwks.Source{IssuerURL: issuer, Discovery: true}, srv.Client())

	errContains(t, h.set.Refresh(context.Background()), `scheme "http" refused`)
}

func TestServesTheLastGoodSetWhenARefreshFails(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(is *tokentest.Issuer)
	}{
		{"the server answers 500", func(is *tokentest.Issuer) { is.SetStatus(http.StatusInternalServerError) }},
		{"the server answers garbage", func(is *tokentest.Issuer) { is.SetBody([]byte("<html>oops</html>")) }},
		{"the server answers an empty key set", func(is *tokentest.Issuer) { is.SetBody([]byte(`{"keys":[]}`)) }},
		{"the server answers a document without keys", func(is *tokentest.Issuer) { is.SetBody([]byte(`{}`)) }},
		{"the server answers only unusable keys", func(is *tokentest.Issuer) {
			is.SetBody(tokentest.JWKS(tokentest.RSA("weak", 1024)))
		}},
		{"the body is over the 1 MiB cap", func(is *tokentest.Issuer) {
			is.SetBody(append([]byte(`{"keys":[`), bytes.Repeat([]byte(" "), 2<<20)...))
		}},
		{"the response is slower than the client timeout", func(is *tokentest.Issuer) { is.SetDelay(10 * time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := tokentest.NewIssuer(ecA())
			defer is.Close()
			h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL()}, &http.Client{Timeout: time.Second})
			if err := h.set.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			before := h.set.LastSuccess()

			tt.breakIt(is)
			err := h.set.Refresh(context.Background())
			if err == nil {
				t.Fatal("Refresh succeeded against a broken server")
			}
			if strings.Contains(err.Error(), "oops") {
				t.Errorf("the error repeats the response body: %v", err)
			}
			equalKids(t, h.kids(), "ec-a")
			if keys, err := h.set.Lookup(context.Background(), "ec-a"); err != nil || len(keys) != 1 {
				t.Errorf("Lookup of the known kid = %v, %v", keys, err)
			}
			if !h.set.LastSuccess().Equal(before) {
				t.Error("LastSuccess moved on a failed refresh")
			}
			if got := h.refreshes("error"); got != 1 {
				t.Errorf("error count = %v, want 1", got)
			}
			if got := h.refreshes("success"); got != 1 {
				t.Errorf("success count = %v, want 1", got)
			}
			if got := h.keysGauge(); got != 1 {
				t.Errorf("keys gauge = %v, want the last good set's 1", got)
			}
			if got := h.logs.FilterMessage("jwks fetch failed; serving the last good set").Len(); got != 1 {
				t.Errorf("want one warning of the failure, got %d", got)
			}
		})
	}
}

func TestARotatedKeyReplacesTheOldOne(t *testing.T) {
	is := tokentest.NewIssuer(ecA())
	defer is.Close()
	h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL()}, nil)
	if err := h.set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}

	is.SetKeys(ecB())
	if err := h.set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if keys, err := h.set.Lookup(context.Background(), "ec-b"); err != nil || len(keys) != 1 || keys[0].KeyID() != "ec-b" {
		t.Fatalf("Lookup(new kid) = %v, %v", kidsOf(keys), err)
	}
	if _, err := h.set.Lookup(context.Background(), "ec-a"); !errors.Is(err, jwks.ErrUnknownKey) {
		t.Fatalf("Lookup(old kid) error = %v, want ErrUnknownKey", err)
	}
	equalKids(t, h.kids(), "ec-b")
}

func TestLookup(t *testing.T) {
	t.Run("an empty kid gets every key", func(t *testing.T) {
		is := tokentest.NewIssuer(ecA(), ecB())
		defer is.Close()
		h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL()}, nil)
		if err := h.set.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		keys, err := h.set.Lookup(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		equalKids(t, kidsOf(keys), "ec-a", "ec-b")
	})

	t.Run("a lookup of a loaded kid, or of no kid, neither allocates nor fetches", func(t *testing.T) {
		is := tokentest.NewIssuer(ecA(), ecB())
		defer is.Close()
		h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL()}, nil)
		if err := h.set.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for _, kid := range []string{"ec-b", ""} {
			if n := testing.AllocsPerRun(100, func() { _, _ = h.set.Lookup(ctx, kid) }); n != 0 {
				t.Errorf("Lookup(%q) allocates %v times, want 0: it is on every request's path", kid, n)
			}
		}
		if got := is.JWKSFetches(); got != 1 {
			t.Errorf("%d fetches, want only the Refresh", got)
		}
	})

	t.Run("a lookup before the first load fetches the set itself", func(t *testing.T) {
		is := tokentest.NewIssuer(ecA())
		defer is.Close()
		h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL()}, nil)
		keys, err := h.set.Lookup(context.Background(), "ec-a")
		if err != nil || len(keys) != 1 {
			t.Fatalf("Lookup = %v, %v", kidsOf(keys), err)
		}
		if !h.set.Ready() {
			t.Error("the fetch made for the lookup did not load the set")
		}
	})

	t.Run("a lookup while the identity provider is down answers ErrNotLoaded", func(t *testing.T) {
		is := tokentest.NewIssuer(ecA())
		defer is.Close()
		is.SetStatus(http.StatusServiceUnavailable)
		h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL()}, nil)
		for range 3 {
			if _, err := h.set.Lookup(context.Background(), "ec-a"); !errors.Is(err, jwks.ErrNotLoaded) {
				t.Fatalf("Lookup error = %v, want ErrNotLoaded", err)
			}
		}
		if got := is.JWKSFetches(); got != 1 {
			t.Errorf("3 lookups fetched %d times, want 1 (rate-limited)", got)
		}
	})

	t.Run("a lookup waits for a slow first fetch no longer than its context", func(t *testing.T) {
		is := tokentest.NewIssuer(ecA())
		defer is.Close()
		is.SetDelay(1500 * time.Millisecond)
		h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL()}, &http.Client{Timeout: 10 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := h.set.Lookup(ctx, "ec-a")
		if !errors.Is(err, jwks.ErrNotLoaded) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Lookup error = %v, want ErrNotLoaded and DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited > time.Second {
			t.Errorf("Lookup waited %v past its 50ms context", waited)
		}
		// The shared fetch is not canceled with one caller: it completes.
		eventually(t, 5*time.Second, "the shared fetch loads the set", h.set.Ready)
	})
}

func TestAPrivateJWKKeepsOnlyItsPublicPart(t *testing.T) {
	is := tokentest.NewIssuer()
	defer is.Close()
	priv, err := ecA().Private.Clone()
	if err != nil {
		t.Fatal(err)
	}
	_ = priv.Set(jwk.KeyIDKey, "ec-a")
	is.SetBody(document(t, priv))
	h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL()}, nil)
	if err := h.set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}

	keys := h.set.Keys()
	equalKids(t, kidsOf(keys), "ec-a")
	if private, err := jwk.IsPrivateKey(keys[0]); err != nil || private {
		t.Fatalf("IsPrivateKey = %v, %v; want a public key", private, err)
	}
	if !jwk.Equal(keys[0], ecA().Public) {
		t.Error("the kept key is not the private key's public part")
	}
	if got := h.logs.FilterMessage("jwks publishes private key material; only the public part is kept").Len(); got != 1 {
		t.Errorf("want one warning about the private key, got %d", got)
	}
}

func TestConcurrentReadersDuringRefreshes(t *testing.T) {
	is := tokentest.NewIssuer(ecA())
	defer is.Close()
	h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL()}, nil)
	if err := h.set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for ; ctx.Err() == nil; runtime.Gosched() {
				if keys, err := h.set.Lookup(ctx, "ec-a"); err != nil || len(keys) != 1 {
					t.Errorf("Lookup during refreshes = %v, %v", kidsOf(keys), err)
					return
				}
				_ = h.set.Keys()
			}
		})
	}
	for range 20 {
		_ = h.set.Refresh(context.Background())
	}
	cancel()
	wg.Wait()
}

func BenchmarkLookupKnownKID(b *testing.B) {
	is := tokentest.NewIssuer(ecA(), ecB())
	defer is.Close()
	set := jwks.New(jwks.Source{JWKSURI: is.JWKSURL(), Algorithms: []string{"ES256"}}, nil, nil, nil)
	if err := set.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := set.Lookup(ctx, "ec-b"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVersionChangesOnlyWithTheKeys: the version is what the token cache
// compares to forget verifications when keys change, so it must change on
// every change of keys and on nothing else.
func TestVersionChangesOnlyWithTheKeys(t *testing.T) {
	is := tokentest.NewIssuer(ecA())
	defer is.Close()
	h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL()}, nil)
	if v := h.set.Version(); v != 0 {
		t.Fatalf("version before any load = %d, want 0", v)
	}
	refresh := func() {
		t.Helper()
		if err := h.set.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	refresh()
	v1 := h.set.Version()
	refresh()
	if v := h.set.Version(); v != v1 {
		t.Errorf("a refresh with the same keys changed the version %d -> %d", v1, v)
	}
	is.SetStatus(http.StatusInternalServerError)
	_ = h.set.Refresh(context.Background())
	if v := h.set.Version(); v != v1 {
		t.Errorf("a failed refresh changed the version %d -> %d", v1, v)
	}
	is.SetKeys(ecA(), ecB())
	refresh()
	v2 := h.set.Version()
	if v2 == v1 {
		t.Error("adding a key left the version unchanged")
	}
	is.SetKeys(ecB())
	refresh()
	if v := h.set.Version(); v == v2 {
		t.Error("removing a key left the version unchanged")
	}
	// Same kid, other key material: a replaced key is a change too.
	is.SetKeys(tokentest.EC("ec-b", jwa.ES256))
	v3 := h.set.Version()
	refresh()
	if v := h.set.Version(); v == v3 {
		t.Error("replacing a key under the same kid left the version unchanged")
	}
}

// A fetch that fails before any set was loaded says so: there is no last
// good set to serve, and the log must not claim one.
func TestAFailedFirstFetchClaimsNoLastGoodSet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	h := newHarness(t, jwks.Source{JWKSURI: srv.URL}, nil)
	if err := h.set.Refresh(context.Background()); err == nil {
		t.Fatal("a 503 key set loaded")
	}
	if n := h.logs.FilterMessageSnippet("serving the last good set").Len(); n != 0 {
		t.Errorf("%d lines claim a last good set that was never loaded", n)
	}
	if n := h.logs.FilterMessageSnippet("no key set was ever loaded").Len(); n != 1 {
		t.Errorf("%d lines say no key set was ever loaded, want 1", n)
	}
}
