package proxy_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/proxy"
	"github.com/portcullis/portcullis/token"
	"github.com/portcullis/portcullis/token/tokentest"
)

const audience = "orders-api"

// upstream is an echo server that records what reached it.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
	// handle, when set, answers instead of the echo.
	handle http.HandlerFunc
}

type echo struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Clone(context.Background()))
		h := u.handle
		u.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echo{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header})
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) setHandle(h http.HandlerFunc) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.handle = h
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

func (u *upstream) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

// fixture is a whole gateway handler in front of an echo upstream, trusting
// one real issuer on loopback (plus a second one, "partner").
type fixture struct {
	t        *testing.T
	issuer   *tokentest.Issuer
	partner  *tokentest.Issuer
	rsa      *tokentest.Key
	ec       *tokentest.Key
	ed       *tokentest.Key
	pkey     *tokentest.Key
	up       *upstream
	cfg      *config.Config
	keySets  map[string]*jwks.KeySet
	metrics  *metrics.Metrics
	logs     *observer.ObservedLogs
	handler  *proxy.Handler
	verifier *token.Verifier
	noWait   bool // do not wait for the key sets to load
}

func route(name, prefix, up string, mode string, mutate ...func(*config.Route)) config.Route {
	r := config.Route{
		Name:     name,
		Match:    config.Match{PathPrefix: prefix},
		Upstream: up,
		Timeout:  config.Duration(5 * time.Second),
		Auth:     config.Auth{Mode: mode},
		Forward: config.Forward{ClaimsToHeaders: map[string]string{
			"X-User-Id":     "sub",
			"X-User-Scopes": "scope",
			"X-Tenant":      "org.tenant_id",
		}},
	}
	for _, m := range mutate {
		m(&r)
	}
	return r
}

func newFixture(t *testing.T, mutate ...func(f *fixture)) *fixture {
	t.Helper()
	f := &fixture{t: t}
	f.rsa = tokentest.RSA("rsa-1", 2048)
	f.ec = tokentest.EC("ec-1", "ES256")
	f.ed = tokentest.Ed25519("ed-1")
	f.pkey = tokentest.RSA("partner-1", 2048)
	f.issuer = tokentest.NewIssuer(f.rsa, f.ec, f.ed)
	t.Cleanup(f.issuer.Close)
	f.partner = tokentest.NewIssuer(f.pkey)
	t.Cleanup(f.partner.Close)
	f.up = newUpstream(t)
	up := f.up.URL
	f.cfg = &config.Config{
		Issuers: []config.Issuer{{
			Name:               "corp",
			Issuer:             f.issuer.URL(),
			JWKSURI:            f.issuer.JWKSURL(),
			Audiences:          []string{audience},
			Algorithms:         []string{"RS256", "ES256", "EdDSA"},
			RefreshInterval:    config.Duration(time.Hour),
			MinRefreshInterval: config.Duration(time.Second),
			ClockSkew:          config.Duration(30 * time.Second),
			RequiredClaims:     []string{"sub", "exp"},
			ScopeClaims:        []string{"scope", "scp"},
		}, {
			Name:               "partner",
			Issuer:             f.partner.URL(),
			Discovery:          true,
			Algorithms:         []string{"RS256"},
			RefreshInterval:    config.Duration(time.Hour),
			MinRefreshInterval: config.Duration(time.Second),
			ClockSkew:          config.Duration(30 * time.Second),
			RequiredClaims:     []string{"exp"},
			ScopeClaims:        []string{"scope", "scp"},
		}},
		Routes: []config.Route{
			route("orders-read", "/orders", up, config.ModeRequired, func(r *config.Route) {
				r.Match.Methods = []string{"GET", "HEAD"}
				r.Auth.Issuers = []string{"corp"}
				r.Auth.Scopes.AllOf = []string{"orders:read"}
			}),
			route("orders-write", "/orders", up, config.ModeRequired, func(r *config.Route) {
				r.Auth.Scopes.AllOf = []string{"orders:write"}
				r.Auth.Claims = map[string]any{"tenant": "acme"}
			}),
			route("partner", "/partner", up, config.ModeRequired, func(r *config.Route) {
				r.Auth.Issuers = []string{"partner"}
			}),
			route("profile", "/profile", up, config.ModeOptional),
			route("stripped", "/api", up, config.ModeRequired, func(r *config.Route) {
				r.StripPrefix = true
				r.Forward.StripAuthorization = true
			}),
			route("public", "/", up, config.ModePublic, func(r *config.Route) {
				r.Forward.ClaimsToHeaders = map[string]string{"X-Public-Sub": "sub"}
			}),
		},
		Log: config.Log{Level: "debug", Format: "json", AccessLog: true},
	}
	for _, m := range mutate {
		m(f)
	}
	f.build()
	return f
}

// build wires the configuration into a handler, the way the binary does.
func (f *fixture) build() {
	t := f.t
	t.Helper()
	f.metrics = metrics.New()
	core, logs := observer.New(zapcore.DebugLevel)
	f.logs = logs
	log := zap.New(core)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.keySets = map[string]*jwks.KeySet{}
	var issuers []token.Issuer
	for _, is := range f.cfg.Issuers {
		ks := jwks.New(jwks.Source{
			Issuer: is.Name, IssuerURL: is.Issuer, JWKSURI: is.JWKSURI, Discovery: is.Discovery,
			Algorithms: is.Algorithms, RefreshInterval: is.RefreshInterval.D(),
			MinRefreshInterval: is.MinRefreshInterval.D(),
		}, nil, log, f.metrics)
		ks.Start(ctx)
		f.keySets[is.Name] = ks
		issuers = append(issuers, token.Issuer{
			Name: is.Name, Issuer: is.Issuer, Audiences: is.Audiences, Algorithms: is.Algorithms,
			ClockSkew: is.ClockSkew.D(), RequiredClaims: is.RequiredClaims, TokenTypes: is.TokenTypes,
			Keys: ks,
		})
	}
	v, err := token.NewVerifier(issuers)
	if err != nil {
		t.Fatal(err)
	}
	f.verifier = v
	table, err := policy.Compile(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.handler = proxy.New(proxy.NewRuntime(table, v, proxy.Options{}), f.metrics, log, true)
	if !f.noWait {
		f.waitReady()
	}
}

func (f *fixture) waitReady() {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for name, ks := range f.keySets {
		for !ks.Ready() {
			if time.Now().After(deadline) {
				f.t.Fatalf("issuer %s never loaded its keys", name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// claims are the claims of a token for the corp issuer.
func (f *fixture) claims(scope string) tokentest.Claims {
	return tokentest.Standard(f.issuer.URL(), audience, "alice", scope, 5*time.Minute)
}

// response is what the client saw.
type response struct {
	*http.Response
	body []byte
	json map[string]any
}

func (f *fixture) do(req *http.Request) *response {
	f.t.Helper()
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	r := &response{Response: res, body: body}
	_ = json.Unmarshal(body, &r.json)
	return r
}

func (f *fixture) get(path, tok string, headers ...string) *response {
	f.t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://api.example.com"+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return f.do(req)
}
