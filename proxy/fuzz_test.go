package proxy_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"go.uber.org/zap"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/token"
	"github.com/portcullis/portcullis/token/tokentest"
)

// fuzzSeed derives the fuzz targets' signing key, so that valid tokens in
// the checked-in corpus and in every fuzzing worker verify alike.
var fuzzSeed = bytes.Repeat([]byte{42}, ed25519.SeedSize)

// fuzzHeaders are the claim headers of the fuzzed routes, and the claim
// paths they render.
var fuzzHeaders = map[string]string{
	"X-User-Email":  "email",
	"X-Tenant":      "org.tenant_id",
	"X-User-Scopes": "scope",
	"X-User-Roles":  "https://example.com/roles",
}

const fuzzPolicy = `
issuers:
  - name: corp
    issuer: "{{ISS}}"
    jwks_uri: "{{ISS}}/jwks"
    audiences: ["orders-api"]
    algorithms: ["EdDSA"]
    required_claims: ["sub", "exp"]
routes:
  - name: required
    match: {path_prefix: /r}
    upstream: "{{UP}}"
    auth: {mode: required}
    forward: &fw
      claims_to_headers:
        X-User-Id: sub
        X-User-Email: email
        X-Tenant: org.tenant_id
        X-User-Scopes: scope
        X-User-Roles: "https://example.com/roles"
  - name: optional
    match: {path_prefix: /o}
    upstream: "{{UP}}"
    auth: {mode: optional}
    forward: *fw
`

// fuzzTarget is a real gateway (from YAML, through gateway.New) trusting
// one loopback issuer that publishes the fixed key, in front of an upstream
// that remembers the last request it got.
type fuzzTarget struct {
	handler http.Handler
	issuer  string
	key     ed25519.PrivateKey

	mu       sync.Mutex
	requests int
	last     http.Header
}

func newFuzzTarget(f *testing.F) *fuzzTarget {
	ft := &fuzzTarget{key: ed25519.NewKeyFromSeed(fuzzSeed)}
	is := tokentest.NewIssuer(tokentest.FromPrivate(ft.key, jwa.EdDSA, "fz"))
	f.Cleanup(is.Close)
	ft.issuer = is.URL()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ft.mu.Lock()
		ft.requests++
		ft.last = r.Header.Clone()
		ft.mu.Unlock()
	}))
	f.Cleanup(up.Close)

	yaml := strings.NewReplacer("{{ISS}}", is.URL(), "{{UP}}", up.URL).Replace(fuzzPolicy)
	cfg, err := config.Parse([]byte(yaml), "fuzz.yaml")
	if err != nil {
		f.Fatal(err)
	}
	g, err := gateway.New(cfg, zap.NewNop(), metrics.New())
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	g.Start(ctx)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := g.WaitReady(wctx); err != nil {
		f.Fatal(err)
	}
	ft.handler = g.Handler()
	return ft
}

// sign makes a compact EdDSA token of payload with the fixed key.
func (ft *fuzzTarget) sign(payload string) string {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(`{"alg":"EdDSA","kid":"fz","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload))
	return input + "." + enc.EncodeToString(ed25519.Sign(ft.key, []byte(input)))
}

// exchange serves req and returns the response and whether, and with
// which headers, the upstream was reached.
func (ft *fuzzTarget) exchange(req *http.Request) (*http.Response, []byte, http.Header) {
	ft.mu.Lock()
	before := ft.requests
	ft.mu.Unlock()
	rec := httptest.NewRecorder()
	ft.handler.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.requests == before {
		return res, body, nil
	}
	return res, body, ft.last
}

// FuzzBearer sends any one or two Authorization header values to a route
// that requires a token and to one where it is optional. Whatever they
// hold, the answer is 200 or 401, never anything the client could use to
// crash or confuse the gateway, and:
//
//   - a request reaches the upstream only with exactly one Authorization
//     header whose scheme is "Bearer" in any case, followed by spaces and a
//     token a trusted key signed; or, on the optional route, with no bearer
//     credential at all and then without any claim header;
//   - a refusal carries an RFC 6750 challenge and never echoes the header.
func FuzzBearer(f *testing.F) {
	ft := newFuzzTarget(f)
	exp := strconv.FormatInt(time.Now().Add(24*time.Hour).Unix(), 10)
	valid := ft.sign(`{"iss":"` + ft.issuer + `","aud":"orders-api","sub":"alice","exp":` + exp + `}`)
	for _, s := range [][2]string{
		{"Bearer " + valid, ""},
		{"bearer  " + valid + "\t", ""},
		{"BEARER " + valid, "Bearer " + valid},
		{"Bearer " + valid + " x", ""},
		{"Bearer\t" + valid, ""},
		{"Basic YWxpY2U6c2VjcmV0", ""},
		{"Bearer " + strings.TrimSuffix(valid, valid[len(valid)-2:]) + "AA", ""},
		{"Bearer eyJhbGciOiJub25lIn0.e30.", ""},
		{"Bearer ", ""},
		{"", ""},
		{"Bearer " + strings.Repeat("A", 9000), ""},
		{"Bearer a.b.c\r\nX-Injected: 1", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, first, second string) {
		if !fieldValue(first) || !fieldValue(second) {
			return // the listener answers 400 before any handler runs
		}
		// The listener trims optional white space around a value.
		values := []string{strings.Trim(first, " \t")}
		if second != "" {
			values = append(values, strings.Trim(second, " \t"))
		}
		for _, path := range []string{"/r", "/o"} {
			req := httptest.NewRequest(http.MethodGet, "http://api.example.com"+path, nil)
			req.Header["Authorization"] = values
			res, body, up := ft.exchange(req)
			switch res.StatusCode {
			case http.StatusOK:
				if up == nil {
					t.Fatalf("%s: 200 without reaching the upstream", path)
				}
				tok, isBearer := bearerToken(values)
				switch {
				case tok == valid:
					if up.Get("X-User-Id") != "alice" {
						t.Fatalf("%s: X-User-Id = %q", path, up.Get("X-User-Id"))
					}
				case path == "/o" && !isBearer:
					if got := up.Values("X-User-Id"); len(got) != 0 {
						t.Fatalf("anonymous request forwarded with X-User-Id %q", got)
					}
				default:
					t.Fatalf("%s: Authorization %q reached the upstream", path, values)
				}
			case http.StatusUnauthorized:
				if up != nil {
					t.Fatalf("%s: a refused request reached the upstream", path)
				}
				if c := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(c, `Bearer realm="portcullis"`) {
					t.Fatalf("%s: WWW-Authenticate %q", path, c)
				}
				var e map[string]any
				if json.Unmarshal(body, &e) != nil || e["error"] == nil {
					t.Fatalf("%s: body %q", path, body)
				}
				for _, v := range values {
					if len(v) >= 16 && (bytes.Contains(body, []byte(v)) || strings.Contains(res.Header.Get("WWW-Authenticate"), v)) {
						t.Fatalf("%s: the response echoes the Authorization header", path)
					}
				}
			default:
				t.Fatalf("%s: status %d for Authorization %q: %s", path, res.StatusCode, values, body)
			}
		}
	})
}

// fieldValue reports whether s can arrive as a header value through
// net/http's server (RFC 9110 §5.5: no control character but HTAB).
func fieldValue(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f })
}

// bearerToken reads values the way RFC 6750 §2.1 and RFC 9110 §11.4 do,
// independently of the gateway: one header, the scheme "Bearer" in any
// case, one or more spaces, and a token (trailing spaces and tabs are
// optional white space). isBearer reports whether the one header has the
// Bearer scheme at all.
func bearerToken(values []string) (tok string, isBearer bool) {
	if len(values) != 1 {
		return "", len(values) > 1
	}
	scheme, rest, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.Trim(rest, " \t"), true
}

// FuzzClaimHeaders signs a token whose claims email, org.tenant_id, scope
// and "https://example.com/roles" all hold one fuzzed JSON value, and sends
// it with every spelling of those headers set by the client to a fuzzed
// value. Whatever the value, the upstream receives each claim header at
// most once, exactly as policy.HeaderValue renders the claim (so never a CR,
// LF or other control character), and never the client's copy.
func FuzzClaimHeaders(f *testing.F) {
	ft := newFuzzTarget(f)
	for _, s := range [][2]string{
		{`"alice@example.com"`, "spoofed"},
		{`"a\r\nX-Injected: 1"`, "x\r\nX-Injected: 2"},
		{`["admin","user",null,""]`, "admin"},
		{`{"b":1,"a":"x"}`, ""},
		{`12345678901234567890`, "1"},
		{`"\u2028\u0085\u0000"`, "\x00"},
		{`null`, "spoofed"},
		{`""`, " "},
		{`[]`, "[]"},
		{`"` + strings.Repeat("é", 3000) + `"`, "long"},
		{`1e400`, "inf"},
		// Nesting at and past the verifier's limit of 32.
		{strings.Repeat("[", 30) + strings.Repeat("]", 30), ""},
		{strings.Repeat("[", 31) + strings.Repeat("]", 31), ""},
		{strings.Repeat("[", 32) + strings.Repeat("]", 32), ""},
	} {
		f.Add([]byte(s[0]), s[1])
	}
	exp := strconv.FormatInt(time.Now().Add(24*time.Hour).Unix(), 10)
	f.Fuzz(func(t *testing.T, value []byte, spoofed string) {
		if !json.Valid(value) {
			return
		}
		v := string(value)
		payload := `{"iss":"` + ft.issuer + `","aud":"orders-api","sub":"alice","exp":` + exp +
			`,"email":` + v + `,"org":{"tenant_id":` + v + `},"scope":` + v + `,"https://example.com/roles":` + v + `}`
		d := json.NewDecoder(strings.NewReader(v))
		d.UseNumber()
		var claim any
		if d.Decode(&claim) != nil {
			return
		}
		want, set := policy.HeaderValue(claim)

		req := httptest.NewRequest(http.MethodGet, "http://api.example.com/o", nil)
		tok := ft.sign(payload)
		req.Header.Set("Authorization", "Bearer "+tok)
		for name := range fuzzHeaders {
			for _, s := range []string{name, strings.ToLower(name), strings.ReplaceAll(name, "-", "_")} {
				req.Header[s] = append(req.Header[s], spoofed)
			}
		}
		res, body, up := ft.exchange(req)
		if res.StatusCode == http.StatusUnauthorized && up == nil && (len(tok) > token.MaxLength || !readable(value)) {
			// Malformed, and rightly: a token over 8 KiB (the value is
			// there four times), a number beyond float64 (1e400) or
			// nesting past 32.
			return
		}
		if res.StatusCode != http.StatusOK || up == nil {
			t.Fatalf("status %d, upstream reached %v: %s", res.StatusCode, up != nil, body)
		}
		for name := range fuzzHeaders {
			var got []string
			for h, vals := range up {
				if strings.EqualFold(strings.ReplaceAll(h, "_", "-"), name) {
					got = append(got, vals...)
				}
			}
			switch {
			case !set && len(got) != 0:
				t.Fatalf("%s: the claim renders no header, but the upstream got %q", name, got)
			case set && (len(got) != 1 || got[0] != want):
				t.Fatalf("%s: the upstream got %q, want [%q]", name, got, want)
			}
			for _, g := range got {
				if strings.ContainsFunc(g, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
					t.Fatalf("%s: control character in %q", name, g)
				}
			}
		}
	})
}

// readable says, by other means than the verifier's, whether it accepts
// the fuzzed value in a payload: every number a finite float64 (what
// encoding/json's own float64 decoding refuses otherwise) and no node
// deeper than 32, counted from the payload object at 0 (the deepest copy
// of the value, org.tenant_id, sits at 2).
func readable(value []byte) bool {
	var v any
	return json.Unmarshal(value, &v) == nil && 2+height(v) <= 32
}

// height is how many levels a JSON value's children reach below it.
func height(v any) int {
	var children []any
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			children = append(children, e)
		}
	case []any:
		children = x
	}
	h := 0
	for _, c := range children {
		h = max(h, 1+height(c))
	}
	return h
}
