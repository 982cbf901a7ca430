// Package providers_test shows that portcullis accepts the tokens of real
// identity providers as they issue them, out of the box: Keycloak, Entra ID
// (v1 and v2), Auth0 (default and RFC 9068 profiles), Okta, Amazon Cognito,
// Google and Ory Hydra. Each provider has an example configuration in
// examples/ that users copy; the tests load that very file, point its
// issuer or key set URL at an identity provider on loopback that serves a
// key set shaped like the provider's (x5c chains, keys without alg, an
// encryption key beside the signing keys), and send tokens shaped exactly
// like the provider's (claim names and types, typ, kid or none) through
// the real gateway handler to an echo upstream.
//
// It is a test-only package and owns no code of the gateway. It rewrites
// nothing of an example but where keys are fetched from and where requests
// are forwarded to: what is tested is the file users copy.
package providers_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// examplesDir holds the configurations users copy.
const examplesDir = "../examples"

// idp is an identity provider on loopback shaped like a real one: it serves
// its key set, verbatim, at every path but discovery's, and for each
// registered issuer a discovery document at
// {issuer without trailing /}/.well-known/openid-configuration that names
// that issuer exactly (a trailing slash, as Auth0's, included).
type idp struct {
	srv *httptest.Server

	mu      sync.Mutex
	jwks    []byte
	issuers map[string]string // discovery path -> issuer
}

const wellKnown = "/.well-known/openid-configuration"

func newIDP(t *testing.T, jwks []byte) *idp {
	t.Helper()
	p := &idp{jwks: jwks, issuers: map[string]string{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	body, iss := p.jwks, p.issuers[r.URL.Path]
	p.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, wellKnown) {
		if iss == "" {
			http.NotFound(w, r)
			return
		}
		body, _ = json.Marshal(map[string]any{"issuer": iss, "jwks_uri": p.srv.URL + "/jwks"})
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// loopbackIssuer registers an issuer served by this IdP with the path of
// real (so "/realms/acme" stays "/realms/acme") and returns its URL.
func (p *idp) loopbackIssuer(t *testing.T, real string) string {
	t.Helper()
	u, err := url.Parse(real)
	if err != nil {
		t.Fatalf("issuer %q: %v", real, err)
	}
	iss := p.srv.URL + u.Path
	p.mu.Lock()
	defer p.mu.Unlock()
	p.issuers[strings.TrimSuffix(u.Path, "/")+wellKnown] = iss
	return iss
}

// jwksDoc renders a JWK Set from entries built by rsaJWK.
func jwksDoc(keys ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

// rsaJWK renders k's public key as a JWK with exactly the members given
// (kid, alg, use, x5c... are each provider's choice) besides kty, n and e.
func rsaJWK(k *tokentest.Key, members map[string]any) map[string]any {
	pub := k.RawPublic().(*rsa.PublicKey)
	out := map[string]any{
		"kty": "RSA",
		"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
	for name, v := range members {
		out[name] = v
	}
	return out
}

// cert is a self-signed X.509 certificate for a key, as Keycloak, Entra ID
// and Auth0 publish in x5c beside the key.
type cert struct {
	der []byte
}

func selfSigned(t *testing.T, k *tokentest.Key, cn string) cert {
	t.Helper()
	var priv any
	if err := k.Private.Raw(&priv); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.RawPublic(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return cert{der: der}
}

// x5c is the certificate chain member: standard base64 DER, not base64url
// (RFC 7517 §4.7).
func (c cert) x5c() []string { return []string{base64.StdEncoding.EncodeToString(c.der)} }

// x5t is the SHA-1 thumbprint (RFC 7517 §4.8), which Entra ID also uses as kid.
func (c cert) x5t() string {
	sum := sha1.Sum(c.der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// x5tS256 is the SHA-256 thumbprint (RFC 7517 §4.9).
func (c cert) x5tS256() string {
	sum := sha256.Sum256(c.der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// provider is one example configuration running as a gateway in front of
// an echo upstream, with its key set served by a loopback IdP.
type provider struct {
	t       *testing.T
	idp     *idp
	cfg     *config.Config
	handler http.Handler
	up      *gatewaytest.Upstream
	logs    *observer.ObservedLogs
}

// upstreamRef finds the upstreams of an example, to point them at the echo.
var upstreamRef = regexp.MustCompile(`(?m)^(\s*upstream:\s*)"[^"]*"`)

// startProvider loads examples/file, rewrites only where it fetches from
// (an issuer used for discovery keeps its path on the loopback IdP; a
// jwks_uri keeps its path too) and where it forwards to (the echo
// upstream), validates the result as the binary would, and builds and
// starts a gateway from it. Issuers with an explicit jwks_uri keep their
// iss exactly as the provider writes it.
func startProvider(t *testing.T, file string, jwks []byte) *provider {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(examplesDir, file))
	if err != nil {
		t.Fatal(err)
	}
	orig := gatewaytest.ParseConfig(t, "examples/"+file, string(raw))
	p := &provider{t: t, idp: newIDP(t, jwks)}
	text := string(raw)
	done := map[string]bool{} // issuers may share a jwks_uri (Google's two)
	for _, is := range orig.Issuers {
		if is.JWKSURI != "" {
			if done[is.JWKSURI] {
				continue
			}
			done[is.JWKSURI] = true
			u, err := url.Parse(is.JWKSURI)
			if err != nil {
				t.Fatal(err)
			}
			text = replaceQuoted(t, text, "jwks_uri", is.JWKSURI, p.idp.srv.URL+u.Path)
			continue
		}
		text = replaceQuoted(t, text, "issuer", is.Issuer, p.idp.loopbackIssuer(t, is.Issuer))
	}
	p.up = gatewaytest.NewUpstream(t)
	if !upstreamRef.MatchString(text) {
		t.Fatalf("examples/%s has no quoted upstream to point at the echo server", file)
	}
	text = upstreamRef.ReplaceAllString(text, `${1}"`+p.up.URL+`"`)

	p.cfg = gatewaytest.ParseConfig(t, "examples/"+file+" with loopback addresses", text)
	g := gatewaytest.Start(t, p.cfg)
	p.handler, p.logs = g.Handler(), g.Logs
	return p
}

// replaceQuoted replaces `key: "old"` with `key: "new"` wherever it is
// written, and fails the test if it is written nowhere (the example would
// then not be what the test exercises).
func replaceQuoted(t *testing.T, text, key, old, new string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^(\s*(?:- )?` + regexp.QuoteMeta(key) + `:\s*)"` + regexp.QuoteMeta(old) + `"`)
	if !re.MatchString(text) {
		t.Fatalf("%s %q is not written as %s: \"...\" in the example", key, old, key)
	}
	return re.ReplaceAllString(text, `${1}"`+new+`"`)
}

// issuer returns the iss that the named issuer of the loaded configuration
// accepts (the loopback one, for an issuer found by discovery).
func (p *provider) issuer(name string) string {
	for _, is := range p.cfg.Issuers {
		if is.Name == name {
			return is.Issuer
		}
	}
	p.t.Fatalf("no issuer %q in the example", name)
	return ""
}

// request is one request through the gateway and what must come of it.
type request struct {
	name   string
	method string // GET when empty
	path   string
	token  string // no Authorization header when empty
	// spoof are headers the client sends (to check they are replaced).
	spoof map[string]string

	status int
	// forwarded are headers the upstream must receive with these exact
	// values; a value of "" means the header must not reach it.
	forwarded map[string]string
	// challenge is a fragment the WWW-Authenticate header must contain.
	challenge string
}

// check sends each request through the gateway and checks the outcome.
func (p *provider) check(t *testing.T, reqs []request) {
	t.Helper()
	for _, rq := range reqs {
		t.Run(rq.name, func(t *testing.T) {
			method := rq.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, "http://api.example.com"+rq.path, nil)
			if rq.token != "" {
				req.Header.Set("Authorization", tokentest.Bearer(rq.token))
			}
			for name, v := range rq.spoof {
				req.Header.Set(name, v)
			}
			before := p.up.Count()
			rec := httptest.NewRecorder()
			p.handler.ServeHTTP(rec, req)
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != rq.status {
				t.Fatalf("status %d, want %d\nWWW-Authenticate: %s\nbody: %s",
					res.StatusCode, rq.status, res.Header.Get("WWW-Authenticate"), body)
			}
			if rq.challenge != "" && !strings.Contains(res.Header.Get("WWW-Authenticate"), rq.challenge) {
				t.Errorf("WWW-Authenticate %q does not contain %q", res.Header.Get("WWW-Authenticate"), rq.challenge)
			}
			forwarded := p.up.Count() - before
			if rq.status != http.StatusOK {
				if forwarded != 0 {
					t.Errorf("a refused request reached the upstream (%d requests)", forwarded)
				}
				return
			}
			if forwarded != 1 {
				t.Fatalf("the upstream received %d requests, want 1", forwarded)
			}
			seen := p.up.Last().Header
			for name, want := range rq.forwarded {
				got, present := seen[http.CanonicalHeaderKey(name)]
				switch {
				case want == "" && present:
					t.Errorf("%s reached the upstream as %q, want no such header", name, got)
				case want != "" && (len(got) != 1 || got[0] != want):
					t.Errorf("%s = %q at the upstream, want %q", name, got, want)
				}
			}
		})
	}
}

// times are the registered time claims of a token minted now for ttl.
func times(ttl time.Duration) tokentest.Claims {
	now := time.Now()
	return tokentest.Claims{
		"iat": now.Add(-10 * time.Second).Unix(),
		"exp": now.Add(ttl).Unix(),
	}
}

// merge returns the union of claim sets; later ones win.
func merge(sets ...tokentest.Claims) tokentest.Claims {
	out := tokentest.Claims{}
	for _, s := range sets {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

// rsaKey returns a 2048-bit RSA key whose tokens carry kid (none when kid
// is empty), distinct from every other key of the same test.
func rsaKey(kid string) *tokentest.Key { return tokentest.RSA(kid, 2048) }

// reuseKeys lets this test take the RSA keys earlier tests generated
// (generation costs tens of milliseconds a key, more under -race). Keys stay
// distinct within a test; no test here runs in parallel with another.
func reuseKeys() { tokentest.ResetRSAPool() }

// noTyp removes the typ header that tokentest sets by default: Okta and
// Cognito issue access tokens without one.
var noTyp = map[string]any{"typ": nil}

// hour is the lifetime of a valid token.
const hour = time.Hour

// expired is a lifetime that ended well beyond any configured clock skew.
const expired = -10 * time.Minute
