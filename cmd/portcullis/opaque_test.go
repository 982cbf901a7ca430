package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// introspectionMode is how an introspectionServer answers.
type introspectionMode int

const (
	answering introspectionMode = iota // RFC 7662 answers from the table
	slow                               // holds each call for longer than any gateway timeout
	garbage                            // 200 with a body that is not JSON
)

// introspectionServer is an RFC 7662 endpoint on loopback: it answers from
// a table of tokens (unknown ones are inactive), refuses calls without the
// client's credentials, counts the calls, and can be switched slow, to
// garbage, or down (its port closed) and up again on the same address.
type introspectionServer struct {
	addr           string // 127.0.0.1:port, kept across down and up
	clientID       string
	secret         string
	mu             sync.Mutex
	srv            *http.Server
	mode           introspectionMode
	answers        map[string]map[string]any
	calls          atomic.Int64
	unauthenticate atomic.Int64 // calls without the right credentials
}

func newIntrospectionServer(t *testing.T, clientID, secret string) *introspectionServer {
	t.Helper()
	s := &introspectionServer{clientID: clientID, secret: secret, answers: map[string]map[string]any{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.down)
	return s
}

// URL is the server's base URL: the issuer identifier of its tokens.
func (s *introspectionServer) URL() string { return "http://" + s.addr }

// Endpoint is the introspection endpoint.
func (s *introspectionServer) Endpoint() string { return s.URL() + "/introspect" }

func (s *introspectionServer) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the port and every connection: calls are refused.
func (s *introspectionServer) down() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens on the same address again (retrying for at most 2s while the
// port is released).
func (s *introspectionServer) up(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		ln, err := net.Listen("tcp", s.addr)
		if err == nil {
			s.serve(ln)
			return
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			t.Fatalf("listening on %s again: %v", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *introspectionServer) setMode(m introspectionMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

// answer sets what the server says of tok.
func (s *introspectionServer) answer(tok string, members map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[tok] = members
}

func (s *introspectionServer) handle(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/introspect" {
		http.Error(w, "not here", http.StatusNotFound)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok || id != s.clientID || secret != s.secret {
		s.unauthenticate.Add(1)
		w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	tok := r.PostForm.Get("token")
	s.mu.Lock()
	mode, members := s.mode, s.answers[tok]
	s.mu.Unlock()
	switch mode {
	case slow:
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	case garbage:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("<html>upstream connect error</html>"))
		return
	}
	if members == nil {
		members = map[string]any{"active": false}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(members)
}

// randomText is n random bytes as hex: tokens and secrets that no log line
// can hold by chance.
func randomText(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// opaqueConfig renders a gateway with two issuers, "corp" (JWTs, keys from
// idp) and "opaque" (no keys: its tokens are introspected at in, the
// client secret read from secretFile), and one route, orders, that accepts
// either, requires orders:read and forwards sub, client_id and scope.
func opaqueConfig(idp *tokentest.Issuer, in *introspectionServer, secretFile, upstream string) func(listen, admin string) string {
	return func(listen, admin string) string {
		return featureHead(listen, admin) + "issuers:\n" + corpIssuer(idp) + fmt.Sprintf(`  - name: opaque
    issuer: %q
    discovery: false
    audiences: ["orders-api"]
    algorithms: ["RS256"]
    required_claims: ["sub", "exp"]
    introspection:
      endpoint: %q
      client_id: %q
      client_secret_file: %q
      timeout: 300ms
      cache_ttl: 30s
      negative_cache_ttl: 0s
routes:
`, in.URL(), in.Endpoint(), in.clientID, secretFile) + ordersRoute(upstream, "X-Client-Id: client_id", "X-User-Scopes: scope")
	}
}

// activeAnswer is what the endpoint says of a good token of sub.
func activeAnswer(in *introspectionServer, sub string) map[string]any {
	return map[string]any{
		"active":    true,
		"iss":       in.URL(),
		"sub":       sub,
		"client_id": "mobile-app",
		"scope":     "orders:read profile",
		"aud":       "orders-api",
		"exp":       time.Now().Add(time.Hour).Unix(),
		"iat":       time.Now().Add(-time.Minute).Unix(),
	}
}

// TestOpaqueTokens drives `portcullis serve` with an issuer whose tokens
// are opaque and introspected (RFC 7662) beside a JWT issuer.
func TestOpaqueTokens(t *testing.T) {
	t.Parallel()
	idp, keys := newIssuer(t, "k1")
	secret := "introspection-secret-" + randomText(16)
	in := newIntrospectionServer(t, "portcullis-test", secret)
	secretFile := gatewaytest.WriteFile(t, "introspection-secret", secret+"\n")
	upstream := gatewaytest.NewUpstream(t)
	g := startGateway(t, opaqueConfig(idp, in, secretFile, upstream.URL))
	waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)

	jwt := keys[0].Sign(tokentest.Standard(idp.URL(), "orders-api", "jwt-user", "orders:read", time.Hour))
	active := "opq" + randomText(24)
	oneDot := "opq" + randomText(12) + "." + randomText(12)
	threeDots := "opq." + randomText(8) + "." + randomText(8) + "." + randomText(8)
	inactive := "opq" + randomText(24)
	wrongAud := "opq" + randomText(24)
	expired := "opq" + randomText(24)
	noScope := "opq" + randomText(24)
	whileDown, whileSlow, whileGarbage := "opq"+randomText(24), "opq"+randomText(24), "opq"+randomText(24)
	tokens := []string{jwt, active, oneDot, threeDots, inactive, wrongAud, expired, noScope, whileDown, whileSlow, whileGarbage}

	for _, tok := range []string{active, oneDot, threeDots, whileDown, whileSlow, whileGarbage} {
		in.answer(tok, activeAnswer(in, "user-"+tok[len(tok)-6:]))
	}
	in.answer(inactive, map[string]any{"active": false, "sub": "ghost", "scope": "orders:read"})
	in.answer(wrongAud, withMembers(activeAnswer(in, "bob"), "aud", "billing-api"))
	in.answer(expired, withMembers(activeAnswer(in, "bob"), "exp", time.Now().Add(-time.Hour).Unix()))
	in.answer(noScope, withMembers(activeAnswer(in, "bob"), "scope", "profile"))

	// get sends tok to the route and checks the status, that exactly
	// calls calls reached the endpoint, and that the request reached the
	// upstream if and only if it was allowed.
	get := func(t *testing.T, tok string, status int, calls int64) *response {
		t.Helper()
		before, forwarded := in.calls.Load(), upstream.Count()
		res := do(t, http.MethodGet, g.URL("/orders/1"), withHeaders(bearer(tok), map[string]string{"X-User-Id": "mallory", "X-Client-Id": "mallory"}))
		if res.StatusCode != status {
			t.Errorf("status %d, want %d: %s", res.StatusCode, status, res.body)
		}
		if n := in.calls.Load() - before; n != calls {
			t.Errorf("the introspection endpoint got %d calls, want %d", n, calls)
		}
		want := 0
		if status == http.StatusOK {
			want = 1
		}
		if n := upstream.Count() - forwarded; n != want {
			t.Errorf("the upstream received %d requests, want %d", n, want)
		}
		return res
	}
	forwardedAs := func(t *testing.T, sub string) {
		t.Helper()
		h := upstream.Last().Header
		for name, want := range map[string]string{"X-User-Id": sub, "X-Client-Id": "mobile-app", "X-User-Scopes": "orders:read profile"} {
			if got := h.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("upstream %s = %q, want [%s] from the introspection answer", name, got, want)
			}
		}
	}
	invalidToken := func(t *testing.T, res *response, reason string) {
		t.Helper()
		ch := onlyChallenge(t, res)
		if ch.Params["error"] != "invalid_token" {
			t.Errorf("challenge %q: want error=invalid_token", res.Header.Get("WWW-Authenticate"))
		}
		checkFields(t, accessLine(t, g, res), map[string]any{"reason": reason, "issuer": "opaque", "status": 401.0})
	}
	unavailable := func(t *testing.T, res *response) {
		t.Helper()
		if ra := res.Header.Get("Retry-After"); ra == "" {
			t.Errorf("a 503 without Retry-After")
		}
		var body map[string]string
		decodeJSON(t, res, &body)
		if body["error"] != "temporarily_unavailable" {
			t.Errorf("body %s, want error temporarily_unavailable", res.body)
		}
		checkFields(t, accessLine(t, g, res), map[string]any{"reason": "introspection_unavailable", "status": 503.0})
	}

	t.Run("an active opaque token is forwarded with claim headers from the answer", func(t *testing.T) {
		get(t, active, http.StatusOK, 1)
		forwardedAs(t, "user-"+active[len(active)-6:])
	})
	t.Run("within cache_ttl the same token is answered from the cache, without a call", func(t *testing.T) {
		get(t, active, http.StatusOK, 0)
		get(t, active, http.StatusOK, 0)
		forwardedAs(t, "user-"+active[len(active)-6:])
	})
	t.Run("tokens with one or three dots are opaque too", func(t *testing.T) {
		get(t, oneDot, http.StatusOK, 1)
		forwardedAs(t, "user-"+oneDot[len(oneDot)-6:])
		get(t, threeDots, http.StatusOK, 1)
		forwardedAs(t, "user-"+threeDots[len(threeDots)-6:])
	})
	t.Run("a token with exactly two dots is read as a JWT and never introspected", func(t *testing.T) {
		res := get(t, "opq"+randomText(4)+"."+randomText(4)+"."+randomText(4), http.StatusUnauthorized, 0)
		if onlyChallenge(t, res).Params["error"] != "invalid_token" {
			t.Errorf("WWW-Authenticate %q, want invalid_token", res.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("an inactive token is 401 invalid_token", func(t *testing.T) {
		invalidToken(t, get(t, inactive, http.StatusUnauthorized, 1), "inactive")
		// negative_cache_ttl 0s: asked again.
		get(t, inactive, http.StatusUnauthorized, 1)
	})
	t.Run("an active token for another audience is 401 invalid_token", func(t *testing.T) {
		invalidToken(t, get(t, wrongAud, http.StatusUnauthorized, 1), "bad_audience")
	})
	t.Run("an active answer whose exp has passed is 401 invalid_token", func(t *testing.T) {
		invalidToken(t, get(t, expired, http.StatusUnauthorized, 1), "expired")
	})
	t.Run("an active token without the scope is 403", func(t *testing.T) {
		res := get(t, noScope, http.StatusForbidden, 1)
		if onlyChallenge(t, res).Params["error"] != "insufficient_scope" {
			t.Errorf("WWW-Authenticate %q, want insufficient_scope", res.Header.Get("WWW-Authenticate"))
		}
	})

	jwtStillServed := func(t *testing.T) {
		t.Helper()
		res := do(t, http.MethodGet, g.URL("/orders/jwt"), bearer(jwt))
		if res.StatusCode != http.StatusOK {
			t.Errorf("a JWT of the JWKS issuer while introspection fails: status %d, want 200: %s", res.StatusCode, res.body)
		}
		if got := upstream.Last().Header.Get("X-User-Id"); got != "jwt-user" {
			t.Errorf("upstream X-User-Id = %q, want jwt-user", got)
		}
	}
	t.Run("endpoint down: 503 with Retry-After, JWTs still served, and a token asked again once it is back", func(t *testing.T) {
		in.down()
		unavailable(t, get(t, whileDown, http.StatusServiceUnavailable, 0))
		jwtStillServed(t)
		in.up(t)
		get(t, whileDown, http.StatusOK, 1) // the failure was not cached
	})
	t.Run("endpoint slower than the timeout: 503 within a bound, JWTs still served", func(t *testing.T) {
		in.setMode(slow)
		start := time.Now()
		res := get(t, whileSlow, http.StatusServiceUnavailable, 1)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("the 503 took %v; introspection.timeout is 300ms", d)
		}
		unavailable(t, res)
		jwtStillServed(t)
		in.setMode(answering)
		get(t, whileSlow, http.StatusOK, 1)
	})
	t.Run("endpoint answering garbage: 503, JWTs still served", func(t *testing.T) {
		in.setMode(garbage)
		unavailable(t, get(t, whileGarbage, http.StatusServiceUnavailable, 1))
		jwtStillServed(t)
		in.setMode(answering)
		get(t, whileGarbage, http.StatusOK, 1)
	})
	t.Run("every call carried the client's credentials", func(t *testing.T) {
		if n := in.unauthenticate.Load(); n != 0 {
			t.Errorf("%d calls lacked the client_secret_basic credentials", n)
		}
	})

	t.Run("metrics count calls by result, and an unavailable endpoint is no auth failure", func(t *testing.T) {
		// active: active, oneDot, threeDots, wrongAud, expired, noScope and
		// the three recovered tokens; inactive: twice; error: down, slow,
		// garbage once each; overloaded: never (no request waited out a
		// slot).
		checkSeries(t, g, "portcullis_introspection_requests_total", map[string]float64{
			labels("issuer", "opaque", "result", "active"):     9,
			labels("issuer", "opaque", "result", "inactive"):   2,
			labels("issuer", "opaque", "result", "error"):      3,
			labels("issuer", "opaque", "result", "overloaded"): 0,
		})
		checkSeries(t, g, "portcullis_auth_failures_total", map[string]float64{
			labels("issuer", "unknown", "reason", "malformed"):         1,
			labels("issuer", "opaque", "reason", "inactive"):           2,
			labels("issuer", "opaque", "reason", "bad_audience"):       1,
			labels("issuer", "opaque", "reason", "expired"):            1,
			labels("issuer", "opaque", "reason", "insufficient_scope"): 1,
		})
		if hits := counter(t, g, "portcullis_introspection_cache_hits_total", labels("issuer", "opaque")); hits < 2 {
			t.Errorf("portcullis_introspection_cache_hits_total{issuer=\"opaque\"} = %v, want >= 2", hits)
		}
	})

	t.Run("neither the client secret nor any token is in the logs or /metrics", func(t *testing.T) {
		// The secret as sent too: in the Basic credentials.
		basic := base64.StdEncoding.EncodeToString([]byte(in.clientID + ":" + secret))
		secrets := append([]string{secret, basic}, tokens...)
		checkNoSecret(t, "stdout", g.Stdout(), secrets...)
		checkNoSecret(t, "stderr", g.Stderr(), secrets...)
		checkNoSecret(t, "/metrics", string(metricsText(t, g)), secrets...)
		checkJSONLog(t, g.Stderr(), jwt)
	})
}

// withMembers returns a copy of m with the given members set.
func withMembers(m map[string]any, kv ...any) map[string]any {
	return map[string]any(tokentest.Claims(m).With(kv...))
}

// TestExplainOpaque: portcullis explain asks the introspection endpoint
// about an opaque token and shows the introspection check, and never
// prints the client secret.
func TestExplainOpaque(t *testing.T) {
	t.Parallel()
	idp, _ := newIssuer(t, "k1")
	secret := "introspection-secret-" + randomText(16)
	in := newIntrospectionServer(t, "portcullis-test", secret)
	secretFile := gatewaytest.WriteFile(t, "introspection-secret", secret+"\n")
	cfg := gatewaytest.WriteFile(t, "portcullis.yaml", opaqueConfig(idp, in, secretFile, "http://127.0.0.1:9")("127.0.0.1:0", "127.0.0.1:0"))

	active, inactive := "opq"+randomText(24), "opq"+randomText(24)
	in.answer(active, activeAnswer(in, "carol"))
	activeFile := gatewaytest.WriteFile(t, "active.token", active+"\n")
	inactiveFile := gatewaytest.WriteFile(t, "inactive.token", inactive+"\n")
	line := func(mark, stage, detail string) string { return fmt.Sprintf("%s  %-16s %s", mark, stage, detail) }

	cases := []struct {
		name     string
		args     []string
		code     int
		contains []string
		absent   []string
	}{
		{name: "an active opaque token: introspection passes and the claim headers come from the answer",
			args: []string{"-token", "@" + activeFile, "GET", "http://api.example.com/orders/1"},
			code: 0,
			contains: []string{
				line("pass", "bearer", "present: not a JWT, so the issuer is asked (RFC 7662 introspection)"),
				line("pass", "introspection", "active"),
				"ALLOWED",
				"X-User-Id: carol",
				"X-Client-Id: mobile-app",
			},
			absent: []string{"FAIL"}},
		{name: "an inactive opaque token fails at introspection, exit 1",
			args: []string{"-token", "@" + inactiveFile, "GET", "http://api.example.com/orders/1"},
			code: 1,
			contains: []string{
				line("FAIL", "introspection", "inactive: the token is not active"),
				"REFUSED: 401",
				`error="invalid_token"`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := in.calls.Load()
			stdout, stderr := runExplain(t, tc.code, tc.contains, tc.absent, append([]string{"-config", cfg}, tc.args...)...)
			if n := in.calls.Load() - before; n != 1 {
				t.Errorf("explain made %d introspection calls, want 1", n)
			}
			checkNoSecret(t, "explain's stdout", stdout, secret)
			checkNoSecret(t, "explain's stderr", stderr, secret)
		})
	}
	t.Run("an unreachable endpoint: 503 in explain, exit 3 (could not check), and the secret is still not printed", func(t *testing.T) {
		in.down()
		code, stdout, stderr := runCommand(t, nil, "explain", "-config", cfg, "-token", "@"+activeFile, "GET", "http://api.example.com/orders/1")
		if code != 3 || !strings.Contains(stdout, "REFUSED: 503") || !strings.Contains(stdout, "FAIL  introspection") {
			t.Errorf("exit %d, want 3 (could not check) with FAIL introspection and REFUSED: 503:\n%s\n%s", code, stdout, stderr)
		}
		checkNoSecret(t, "explain's output", stdout+stderr, secret, active)
	})
}
