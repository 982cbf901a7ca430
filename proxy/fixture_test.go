package proxy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/token/tokentest"
)

const audience = "orders-api"

// fixture is a whole gateway handler in front of an echo upstream, trusting
// one real issuer on loopback (plus a second one, "partner").
type fixture struct {
	t       *testing.T
	issuer  *tokentest.Issuer
	partner *tokentest.Issuer
	rsa     *tokentest.Key
	ec      *tokentest.Key
	ed      *tokentest.Key
	pkey    *tokentest.Key
	up      *gatewaytest.Upstream
	cfg     *config.Config
	gw      *gateway.Gateway
	metrics *metrics.Metrics
	logs    *observer.ObservedLogs
	handler http.Handler
	noWait  bool // do not wait for the key sets to load
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
	f.up = gatewaytest.NewUpstream(t)
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
				r.Auth.Claims = map[string]config.ClaimRule{"tenant": config.ClaimEquals("acme")}
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

// build wires the configuration into a gateway, the way the binary does.
func (f *fixture) build() {
	f.t.Helper()
	g := gatewaytest.Options{LogLevel: zapcore.DebugLevel, NoWait: f.noWait}.Start(f.t, f.cfg)
	f.gw, f.metrics, f.handler, f.logs = g.Gateway, g.Metrics(), g.Handler(), g.Logs
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
