// Package tokentest mints keys, key sets and signed tokens, and serves them
// from a real HTTP identity provider on loopback, so that every package's
// tests (and the demo and the benchmark harness) speak the same language.
//
// It signs with jwx v2 and real keys (RSA, ECDSA, Ed25519). It is never
// imported by the request path: it holds private keys in memory and would
// sign anything it is asked to.
package tokentest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Key is a private signing key with its public JWK.
type Key struct {
	Alg     jwa.SignatureAlgorithm
	KID     string
	Private jwk.Key
	Public  jwk.Key
}

// rsaCache holds generated RSA keys by size: 2048-bit generation costs tens
// of milliseconds, and tests need many distinct keys but not fresh entropy.
var (
	rsaMu    sync.Mutex
	rsaPool  = map[int][]*rsa.PrivateKey{}
	rsaTaken = map[int]int{}
)

// RSA returns a new RS256 key of the given size (use 2048 unless testing
// weak keys). Distinct calls return distinct keys.
func RSA(kid string, bits int) *Key {
	rsaMu.Lock()
	n := rsaTaken[bits]
	rsaTaken[bits] = n + 1
	var priv *rsa.PrivateKey
	if n < len(rsaPool[bits]) {
		priv = rsaPool[bits][n]
	}
	rsaMu.Unlock()
	if priv == nil {
		var err error
		priv, err = rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			panic(err)
		}
		rsaMu.Lock()
		rsaPool[bits] = append(rsaPool[bits], priv)
		rsaMu.Unlock()
	}
	return FromPrivate(priv, jwa.RS256, kid)
}

// ResetRSAPool lets RSA hand out previously generated keys again. Tests that
// create many RSA keys call it to bound generation time; keys handed out
// after a reset may equal keys handed out before it.
func ResetRSAPool() {
	rsaMu.Lock()
	defer rsaMu.Unlock()
	rsaTaken = map[int]int{}
}

// WithAlg returns a copy of k that signs with alg (for example PS256 or
// RS384 with an RSA key).
func (k *Key) WithAlg(alg jwa.SignatureAlgorithm) *Key {
	return FromPrivate(rawPrivate(k), alg, k.KID)
}

// EC returns a new ECDSA key: P-256 for ES256, P-384 for ES384, P-521 for ES512.
func EC(kid string, alg jwa.SignatureAlgorithm) *Key {
	var c elliptic.Curve
	switch alg {
	case jwa.ES256:
		c = elliptic.P256()
	case jwa.ES384:
		c = elliptic.P384()
	case jwa.ES512:
		c = elliptic.P521()
	default:
		panic("tokentest: EC needs ES256, ES384 or ES512")
	}
	priv, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return FromPrivate(priv, alg, kid)
}

// Ed25519 returns a new EdDSA key.
func Ed25519(kid string) *Key {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return FromPrivate(priv, jwa.EdDSA, kid)
}

// FromPrivate makes a Key of a crypto private key (for keys a test needs
// to be the same on every run, such as the fuzzers' seeded ones).
func FromPrivate(raw any, alg jwa.SignatureAlgorithm, kid string) *Key {
	priv, err := jwk.FromRaw(raw)
	if err != nil {
		panic(err)
	}
	pub, err := priv.PublicKey()
	if err != nil {
		panic(err)
	}
	// Only the public key carries the kid: jws.Sign would copy a private
	// key's kid into the header over whatever a test asks for.
	if kid != "" {
		_ = pub.Set(jwk.KeyIDKey, kid)
	}
	_ = pub.Set(jwk.AlgorithmKey, alg)
	_ = pub.Set(jwk.KeyUsageKey, "sig")
	return &Key{Alg: alg, KID: kid, Private: priv, Public: pub}
}

func rawPrivate(k *Key) any {
	var raw any
	if err := k.Private.Raw(&raw); err != nil {
		panic(err)
	}
	return raw
}

// RawPublic returns the crypto public key (*rsa.PublicKey, *ecdsa.PublicKey
// or ed25519.PublicKey).
func (k *Key) RawPublic() any {
	var raw any
	if err := k.Public.Raw(&raw); err != nil {
		panic(err)
	}
	return raw
}

// Claims is a token's payload.
type Claims map[string]any

// Standard builds the usual claims of an access token for iss and aud,
// valid from a minute ago for ttl.
func Standard(iss, aud, sub, scope string, ttl time.Duration) Claims {
	now := time.Now()
	c := Claims{
		"iss": iss,
		"sub": sub,
		"iat": now.Add(-time.Minute).Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	if aud != "" {
		c["aud"] = aud
	}
	if scope != "" {
		c["scope"] = scope
	}
	return c
}

// With returns a copy of c with the given claims set; a nil value deletes.
func (c Claims) With(kv ...any) Claims {
	out := maps.Clone(c)
	for i := 0; i+1 < len(kv); i += 2 {
		name := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, name)
			continue
		}
		out[name] = kv[i+1]
	}
	return out
}

// Sign signs claims with k into a compact JWS. headers are extra protected
// header fields (typ, crit, jku...); kid and alg are set from k unless
// headers overrides them ("kid": "" removes the kid).
func (k *Key) Sign(claims Claims, headers ...map[string]any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	return k.SignPayload(payload, headers...)
}

// SignPayload signs arbitrary payload bytes (not necessarily a JSON object).
func (k *Key) SignPayload(payload []byte, headers ...map[string]any) string {
	hdr := jws.NewHeaders()
	if k.KID != "" {
		_ = hdr.Set(jws.KeyIDKey, k.KID)
	}
	_ = hdr.Set(jws.TypeKey, "JWT")
	for _, h := range headers {
		for name, v := range h {
			if name == jws.KeyIDKey && v == "" {
				_ = hdr.Remove(jws.KeyIDKey)
				continue
			}
			if v == nil {
				_ = hdr.Remove(name)
				continue
			}
			if err := hdr.Set(name, v); err != nil {
				panic(fmt.Sprintf("tokentest: header %s: %v", name, err))
			}
		}
	}
	signed, err := jws.Sign(payload, jws.WithKey(k.Alg, k.Private, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		panic(err)
	}
	return string(signed)
}

// Compact assembles a token from raw header and payload JSON and raw
// signature bytes, without signing: for forged tokens.
func Compact(header, payload string, sig []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig)
}

// JWKS renders public keys as a JWK Set document.
func JWKS(keys ...*Key) []byte {
	set := jwk.NewSet()
	for _, k := range keys {
		_ = set.AddKey(k.Public)
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	return b
}

// Issuer is an identity provider on loopback: it serves a JWKS at /jwks and
// an OpenID discovery document at /.well-known/openid-configuration, counts
// the fetches and can be told to rotate keys, fail, or stall.
type Issuer struct {
	Server *httptest.Server

	mu        sync.Mutex
	keys      []*Key
	body      []byte // when set, served instead of the keys
	status    int    // when set, served instead of 200
	delay     time.Duration
	discovery map[string]any

	jwksFetches      atomic.Int64
	discoveryFetches atomic.Int64
}

// NewIssuer starts an issuer serving keys. Close it with Close.
func NewIssuer(keys ...*Key) *Issuer {
	is := &Issuer{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", is.serveJWKS)
	mux.HandleFunc("/.well-known/openid-configuration", is.serveDiscovery)
	is.Server = httptest.NewServer(mux)
	return is
}

// URL is the issuer's base URL (no trailing slash): the iss of its tokens.
func (is *Issuer) URL() string { return is.Server.URL }

// JWKSURL is where its key set is served.
func (is *Issuer) JWKSURL() string { return is.Server.URL + "/jwks" }

// Close stops the server.
func (is *Issuer) Close() { is.Server.Close() }

// SetKeys replaces the served keys (rotation) and clears any failure mode.
func (is *Issuer) SetKeys(keys ...*Key) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys, is.body, is.status = keys, nil, 0
}

// SetBody serves body verbatim as the JWKS (garbage, empty sets, odd keys).
func (is *Issuer) SetBody(body []byte) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.body = body
}

// SetStatus makes the JWKS endpoint answer with status (0 restores 200).
func (is *Issuer) SetStatus(status int) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.status = status
}

// SetDelay stalls every JWKS response by d.
func (is *Issuer) SetDelay(d time.Duration) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.delay = d
}

// SetDiscovery overrides the discovery document's fields.
func (is *Issuer) SetDiscovery(doc map[string]any) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.discovery = doc
}

// JWKSFetches counts requests to /jwks.
func (is *Issuer) JWKSFetches() int64 { return is.jwksFetches.Load() }

// DiscoveryFetches counts requests to the discovery document.
func (is *Issuer) DiscoveryFetches() int64 { return is.discoveryFetches.Load() }

func (is *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	is.jwksFetches.Add(1)
	is.mu.Lock()
	keys, body, status, delay := is.keys, is.body, is.status, is.delay
	is.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		http.Error(w, "unavailable", status)
		return
	}
	if body == nil {
		body = JWKS(keys...)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func (is *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	is.discoveryFetches.Add(1)
	doc := map[string]any{
		"issuer":   is.URL(),
		"jwks_uri": is.JWKSURL(),
	}
	is.mu.Lock()
	maps.Copy(doc, is.discovery)
	is.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

// Bearer formats an Authorization header value.
func Bearer(token string) string { return "Bearer " + token }

// Segments splits a compact token into its three parts.
func Segments(token string) (header, payload, sig string) {
	parts := strings.SplitN(token, ".", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	return parts[0], parts[1], parts[2]
}
