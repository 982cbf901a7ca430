// Package attack_test is portcullis's adversarial test suite: every known
// JWT and reverse-proxy trick an attacker at the internet edge would try,
// played against a real gateway (gateway.New from a YAML file parsed by
// config.Parse, real keys, a real identity provider and a recording
// upstream on loopback), and, where the trick lives below the handler
// (slowloris, absolute-form request targets, oversized headers), against the
// gateway's own listeners through raw TCP.
//
// Every case names the CVE, CWE or RFC section it covers, and asserts two
// things: what the client got back, and that the upstream received nothing
// it should not have (no request at all for a refusal; no client-chosen
// value in a header the gateway owns for an allowed one). The suite exists
// so that removing a defence turns it red; SECURITY.md maps each defence to
// the tests that prove it.
//
// It is a test-only package: it imports the gateway the way the binary does
// and reaches into nothing unexported.
package attack_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/token/tokentest"
)

const (
	audience = "orders-api"
	apiHost  = "api.example.com"
	skew     = 30 * time.Second
)

// policyYAML is the configuration under attack: an identity provider
// ("corp"), a second one configured with a trailing slash ("slash"), and
// routes that put protected prefixes beside public ones, as real gateways
// do. Fields in {{ }} are filled in with loopback addresses.
const policyYAML = `
server:
  listen: "127.0.0.1:0"
  admin_listen: "127.0.0.1:0"
  read_header_timeout: {{.ReadHeaderTimeout}}
  read_timeout: {{.ReadTimeout}}
  write_timeout: 20s
  idle_timeout: 5s
  shutdown_grace: 2s
  max_header_bytes: {{.MaxHeaderBytes}}
  max_in_flight: {{.MaxInFlight}}
log:
  level: debug
  access_log: true
issuers:
  - name: corp
    issuer: "{{.Corp}}"
    jwks_uri: "{{.Corp}}/jwks"
    audiences: ["orders-api"]
    algorithms: ["RS256", "PS256", "ES256", "EdDSA"]
    refresh_interval: 1h
    min_refresh_interval: 1s
    clock_skew: 30s
    required_claims: ["sub", "exp"]
    scope_claims: ["scope", "scp"]
  - name: slash
    issuer: "{{.Slash}}/"
    jwks_uri: "{{.Slash}}/jwks"
    audiences: ["orders-api"]
    algorithms: ["RS256"]
    refresh_interval: 1h
    min_refresh_interval: 1s
    required_claims: ["sub", "exp"]
routes:
  - name: admin-host
    match: {hosts: ["admin.example.com"], path_prefix: "/"}
    upstream: "{{.Upstream}}"
    timeout: 5s
    auth: {mode: required, scopes: {all_of: ["admin"]}}
    forward: {claims_to_headers: {X-User-Id: sub}}
  - name: orders-read
    match: {path_prefix: /orders, methods: [GET, HEAD]}
    upstream: "{{.Upstream}}"
    timeout: 5s
    auth: {mode: required, issuers: [corp], scopes: {all_of: ["orders:read"]}}
    forward:
      claims_to_headers: {X-User-Id: sub, X-User-Scopes: scope, X-Tenant: org.tenant_id}
  - name: orders-write
    match: {path_prefix: /orders}
    upstream: "{{.Upstream}}"
    timeout: 5s
    auth: {mode: required, issuers: [corp], scopes: {all_of: ["orders:write"]}, claims: {tenant: acme}}
    forward: {claims_to_headers: {X-User-Id: sub}}
  - name: numeric
    match: {path_prefix: /numeric}
    upstream: "{{.Upstream}}"
    timeout: 5s
    auth: {mode: required, issuers: [corp], claims: {level: 5, code: "42"}}
  - name: one-of
    match: {path_prefix: /one-of}
    upstream: "{{.Upstream}}"
    timeout: 5s
    auth: {mode: required, issuers: [corp], claims: {region: {one_of: [eu, 5]}}}
  - name: contains
    match: {path_prefix: /contains}
    upstream: "{{.Upstream}}"
    timeout: 5s
    auth: {mode: required, issuers: [corp], claims: {groups: {contains: admins}}}
  - name: contains-any
    match: {path_prefix: /contains-any}
    upstream: "{{.Upstream}}"
    timeout: 5s
    auth: {mode: required, issuers: [corp], claims: {roles: {contains_any: [a, 7]}}}
  - name: contains-all
    match: {path_prefix: /contains-all}
    upstream: "{{.Upstream}}"
    timeout: 5s
    auth: {mode: required, issuers: [corp], claims: {perms: {contains_all: [read, 5]}}}
  - name: slash-only
    match: {path_prefix: /slash}
    upstream: "{{.Upstream}}"
    timeout: 5s
    auth: {mode: required, issuers: [slash]}
  - name: private
    match: {path_prefix: /private}
    upstream: "{{.Upstream}}"
    timeout: 5s
    auth: {mode: required}
    forward: {claims_to_headers: {X-User-Id: sub, X-User-Email: email}}
  - name: profile
    match: {path_prefix: /profile}
    upstream: "{{.Upstream}}"
    timeout: 5s
    auth: {mode: optional}
    forward: {claims_to_headers: {X-User-Id: sub, X-User-Email: email}}
  - name: slow
    match: {path_prefix: /slow}
    upstream: "{{.Upstream}}"
    timeout: 300ms
    auth: {mode: public}
  - name: public
    match: {path_prefix: /}
    upstream: "{{.Upstream}}"
    timeout: 60s
    auth: {mode: public}
    forward: {claims_to_headers: {X-Public-Sub: sub}}
`

// claimHeaders are every header any route sets from claims, folded.
var claimHeaders = []string{"x-user-id", "x-user-scopes", "x-tenant", "x-user-email", "x-public-sub"}

// settings fill policyYAML's limits; tests that are about a limit change one.
type settings struct {
	ReadHeaderTimeout string
	ReadTimeout       string
	MaxHeaderBytes    int
	MaxInFlight       int
	Corp, Slash       string
	Upstream          string

	// discardLogs writes the gateway's logs, access log included, as JSON
	// to io.Discard instead of keeping them for inspection: for tests that
	// measure memory across many requests.
	discardLogs bool
}

func defaults() settings {
	return settings{ReadHeaderTimeout: "500ms", ReadTimeout: "10s", MaxHeaderBytes: 8192, MaxInFlight: 64}
}

// target is one gateway under attack, with everything around it.
type target struct {
	t testing.TB

	corp  *tokentest.Issuer // the IdP the gateway trusts
	slash *tokentest.Issuer // a second IdP, configured as "{URL}/"
	rsa   *tokentest.Key    // rsa-1: published with alg RS256
	bare  *tokentest.Key    // rsa-bare: published without alg, as some IdPs do
	ec    *tokentest.Key    // ec-1: ES256
	ed    *tokentest.Key    // ed-1: EdDSA
	sk    *tokentest.Key    // slash-1: the slash IdP's key

	up       *gatewaytest.Upstream
	attacker *attacker
	// noExplain skips do's check that explain agrees with serving, for
	// tests that count what explain would add (cache hits).
	noExplain bool
	cfg       *config.Config
	gw        *gateway.Gateway
	h         http.Handler
	m         *metrics.Metrics
	logs      *observer.ObservedLogs
}

// keys are generated once for the whole suite: an RSA key costs tens of
// milliseconds, and nothing here depends on keys being fresh per test.
var (
	keysOnce                       sync.Once
	rsaKey, bareKey, ecKey, edKey  *tokentest.Key
	slashKey, attackerRSA, wrongEC *tokentest.Key
)

func suiteKeys() {
	keysOnce.Do(func() {
		rsaKey = tokentest.RSA("rsa-1", 2048)
		bareKey = tokentest.RSA("rsa-bare", 2048)
		_ = bareKey.Public.Remove(jwk.AlgorithmKey)
		ecKey = tokentest.EC("ec-1", jwa.ES256)
		edKey = tokentest.Ed25519("ed-1")
		slashKey = tokentest.RSA("slash-1", 2048)
		attackerRSA = tokentest.RSA("attacker-1", 2048)
		wrongEC = tokentest.EC("ec-1", jwa.ES256) // the real kid, another key
	})
}

// newTarget builds a gateway from policyYAML the way the binary does, in
// front of a recording upstream, and waits for its keys.
func newTarget(t testing.TB, mutate ...func(*settings)) *target {
	t.Helper()
	suiteKeys()
	tg := &target{t: t, rsa: rsaKey, bare: bareKey, ec: ecKey, ed: edKey, sk: slashKey}
	tg.corp = tokentest.NewIssuer()
	tg.corp.SetBody(tokentest.JWKS(tg.rsa, tg.bare, tg.ec, tg.ed)) // as they are: bare has no alg
	t.Cleanup(tg.corp.Close)
	tg.slash = tokentest.NewIssuer(tg.sk)
	t.Cleanup(tg.slash.Close)
	tg.up = gatewaytest.NewUpstream(t)
	tg.attacker = newAttacker(t)

	s := defaults()
	s.Corp, s.Slash, s.Upstream = tg.corp.URL(), tg.slash.URL(), tg.up.URL
	for _, m := range mutate {
		m(&s)
	}
	tg.cfg = parseConfig(t, policyYAML, s)
	tg.build(s.discardLogs)
	return tg
}

// parseConfig renders a YAML template and loads it as `portcullis serve`
// would: a problem in it fails the test, so a typo cannot quietly weaken
// the policy under attack.
func parseConfig(t testing.TB, text string, data any) *config.Config {
	t.Helper()
	var b strings.Builder
	if err := template.Must(template.New("policy").Parse(text)).Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	return gatewaytest.ParseConfig(t, "attack.yaml", b.String())
}

// build starts the gateway and waits until every issuer's keys are loaded.
func (tg *target) build(discardLogs bool) {
	tg.t.Helper()
	tg.use(gatewaytest.Options{LogLevel: zapcore.DebugLevel, DiscardLogs: discardLogs}.Start(tg.t, tg.cfg))
}

// start builds the gateway from tg.cfg and starts its key sets, without
// waiting for them.
func (tg *target) start(discardLogs bool) {
	tg.t.Helper()
	tg.use(gatewaytest.Options{LogLevel: zapcore.DebugLevel, DiscardLogs: discardLogs, NoWait: true}.Start(tg.t, tg.cfg))
}

// use takes the started gateway's handler, metrics and logs for the tests.
func (tg *target) use(g *gatewaytest.Gateway) {
	tg.gw, tg.m, tg.h, tg.logs = g.Gateway, g.Metrics(), g.Handler(), g.Logs
}

// claims is a token for the corp issuer that the orders-read route accepts.
func (tg *target) claims(scope string) tokentest.Claims {
	return tokentest.Standard(tg.corp.URL(), audience, "alice", scope, 10*time.Minute)
}

// attacker is a server the attacker controls: it serves its own JWKS and
// certificate, and counts every connection attempt that reaches it. The
// gateway must never contact it, whatever a token or a key set says.
type attacker struct {
	*httptest.Server
	hits atomic.Int64
}

func newAttacker(t testing.TB) *attacker {
	a := &attacker{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(tokentest.JWKS(attackerRSA))
	}))
	t.Cleanup(a.Close)
	return a
}

// response is what the client saw.
type response struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

// do serves req through the gateway's handler, as the proxy listener would.
//
// Every request is also explained (Gateway.ExplainRequest, what
// `portcullis explain` runs) and the verdict held to what was served: a
// request the pipeline refused must be explained as refused with the same
// status, and one that reached the upstream as allowed.
func (tg *target) do(req *http.Request) response {
	explained := req.Clone(req.Context())
	explained.Body, explained.ContentLength = http.NoBody, 0
	before := tg.up.Count()
	rec := httptest.NewRecorder()
	tg.h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, body: body}
	_ = json.Unmarshal(body, &r.json)
	tg.agreesWithExplain(explained, r, tg.up.Count() > before)
	return r
}

// decided are the errors of refusals the pipeline makes before anything is
// forwarded; explain must reach each of them too.
var decided = map[any]bool{"invalid_request": true, "unauthorized": true, "invalid_token": true,
	"insufficient_scope": true, "not_found": true, "method_not_allowed": true}

func (tg *target) agreesWithExplain(req *http.Request, served response, forwarded bool) {
	tg.t.Helper()
	if tg.noExplain {
		return
	}
	ex := tg.gw.ExplainRequest(tg.cfg, req)
	switch {
	case forwarded && !ex.Allowed:
		tg.t.Errorf("explain says %s %s is refused (%d), but it was forwarded", req.Method, req.URL, ex.Status)
	case decided[served.json["error"]] && (ex.Allowed || ex.Status != served.status):
		tg.t.Errorf("explain says %s %s gets %d (allowed %v), but it was refused with %d", req.Method, req.URL, ex.Status, ex.Allowed, served.status)
	}
}

// request builds a GET for path on api.example.com with the given
// Authorization header values and further header pairs.
func request(path string, auth []string, headers ...string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "http://"+apiHost+path, nil)
	for _, a := range auth {
		req.Header.Add("Authorization", a)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return req
}

func bearer(tok string) []string { return []string{"Bearer " + tok} }

// failures reads portcullis_auth_failures_total{issuer, reason}.
func (tg *target) failures(issuer, reason string) float64 {
	return testutil.ToFloat64(tg.m.AuthFailures.WithLabelValues(issuer, reason))
}

// allFailures sums portcullis_auth_failures_total over every label.
func (tg *target) allFailures(t *testing.T) float64 {
	t.Helper()
	families, err := tg.m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() == "portcullis_auth_failures_total" {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// refused asserts that req is refused with status, counted under
// issuer/reason, challenged as RFC 6750 §3 says, that nothing reached the
// upstream and nothing of the credentials came back. A refusal before any
// token is judged (400, 503) passes reason "": then no auth failure may be
// counted under any label.
func (tg *target) refused(t *testing.T, req *http.Request, status int, issuer, reason string) response {
	t.Helper()
	if reason == "" && (status == http.StatusUnauthorized || status == http.StatusForbidden) {
		t.Fatalf("a %d refusal must name the reason it is counted under", status)
	}
	before := tg.up.Count()
	var was float64
	if reason != "" {
		was = tg.failures(issuer, reason)
	}
	wasAll := tg.allFailures(t)
	res := tg.do(req)
	if res.status != status {
		t.Fatalf("status %d, want %d; body %s", res.status, status, res.body)
	}
	if n := tg.up.Count() - before; n != 0 {
		t.Errorf("a refused request reached the upstream (%d requests)", n)
	}
	if reason == "" {
		if got := tg.allFailures(t); got != wasAll {
			t.Errorf("portcullis_auth_failures_total went from %v to %v, want no failure counted (body %s)", wasAll, got, res.body)
		}
	} else if got := tg.failures(issuer, reason); got != was+1 {
		t.Errorf("portcullis_auth_failures_total{issuer=%q,reason=%q} went from %v to %v, want +1 (body %s)", issuer, reason, was, got, res.body)
	}
	if status == http.StatusUnauthorized {
		c := res.header.Get("WWW-Authenticate")
		if !strings.HasPrefix(c, `Bearer realm="portcullis"`) {
			t.Errorf("WWW-Authenticate = %q", c)
		}
		if reason != "missing" && !strings.Contains(c, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate = %q, want error=\"invalid_token\"", c)
		}
	}
	if res.json["error"] == nil {
		t.Errorf("body is not a JSON error: %q", res.body)
	}
	echo := string(res.body) + res.header.Get("WWW-Authenticate")
	for _, a := range req.Header.Values("Authorization") {
		for _, part := range strings.FieldsFunc(a, func(r rune) bool { return r == '.' || r == ' ' }) {
			if len(part) >= 16 && strings.Contains(echo, part) {
				t.Errorf("the response echoes part of the credentials: %.32q", part)
			}
		}
	}
	return res
}

// allowed asserts that req reaches the upstream exactly once and returns
// what the upstream saw.
func (tg *target) allowed(t *testing.T, req *http.Request) gatewaytest.Request {
	t.Helper()
	before := tg.up.Count()
	res := tg.do(req)
	if res.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", res.status, res.body)
	}
	if n := tg.up.Count() - before; n != 1 {
		t.Fatalf("the upstream received %d requests, want 1", n)
	}
	return tg.up.Last()
}

// Forging helpers: they sign raw header and payload JSON with raw crypto,
// so that a case can say exactly which bytes the attacker sends.

var b64 = base64.RawURLEncoding

// forge signs header and payload JSON with k's private key, using the
// algorithm k was made for (RS256, PS256, ES256 or EdDSA).
func forge(k *tokentest.Key, header, payload string) string {
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	return input + "." + b64.EncodeToString(signRaw(k, k.Alg, []byte(input)))
}

func signRaw(k *tokentest.Key, alg jwa.SignatureAlgorithm, input []byte) []byte {
	var raw any
	if err := k.Private.Raw(&raw); err != nil {
		panic(err)
	}
	switch priv := raw.(type) {
	case *rsa.PrivateKey:
		h, id := hashFor(alg)
		h.Write(input)
		var sig []byte
		var err error
		if strings.HasPrefix(string(alg), "PS") {
			sig, err = rsa.SignPSS(rand.Reader, priv, id, h.Sum(nil), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, priv, id, h.Sum(nil))
		}
		if err != nil {
			panic(err)
		}
		return sig
	case *ecdsa.PrivateKey:
		h, _ := hashFor(alg)
		h.Write(input)
		r, s, err := ecdsa.Sign(rand.Reader, priv, h.Sum(nil))
		if err != nil {
			panic(err)
		}
		size := (priv.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	case ed25519.PrivateKey:
		return ed25519.Sign(priv, input)
	}
	panic(fmt.Sprintf("signRaw: %T", raw))
}

func hashFor(alg jwa.SignatureAlgorithm) (hash.Hash, crypto.Hash) {
	switch string(alg)[2:] {
	case "384":
		return sha512.New384(), crypto.SHA384
	case "512":
		return sha512.New(), crypto.SHA512
	}
	return sha256.New(), crypto.SHA256
}

// payloadJSON renders claims; keys in sorted order (encoding/json).
func payloadJSON(c tokentest.Claims) string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// header renders a protected header from alternating names and values.
func header(kv ...any) string {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// ecOrder is the order n of P-256, for signatures with r = s = n.
var ecOrder = func() []byte {
	n, _ := new(big.Int).SetString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16)
	return n.Bytes()
}()

// accessLine waits up to 5s for the access-log line whose field has value
// (a path, a request id) and returns its fields: a streamed or tunnelled
// exchange logs when it ends, after the client has seen its response.
func accessLine(t *testing.T, tg *target, field, value string) map[string]any {
	t.Helper()
	return accessLineIn(t, tg.logs, field, value)
}

// accessLineIn is accessLine for the logs of any gateway.
func accessLineIn(t *testing.T, logs *observer.ObservedLogs, field, value string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, e := range logs.FilterMessage("request").All() {
			if f := e.ContextMap(); f[field] == value {
				return f
			}
		}
	}
	t.Fatalf("no access-log line with %s %q within 5s", field, value)
	return nil
}
