// Package token verifies JWT bearer tokens (RFC 7519, RFC 9068) for the
// gateway: which configured issuer a token claims to come from, whether one of
// that issuer's keys signed it with an allowed algorithm, and whether its
// registered claims (exp, nbf, iat, aud, typ, required claims) hold.
//
// It is its own top-level package because verification sits between proxy
// (which extracts the bearer token) and jwks (which only holds keys), and
// belongs to neither. JOSE parsing and signature checks are jwx v2's; this
// package decides which key and algorithm jwx may use, and never takes either
// from the token itself: alg must be on the issuer's allow-list, and keys
// come only from the issuer's key set (jku, x5u, jwk and x5c headers are
// ignored). It never logs or returns token material.
package token

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/metrics"
)

// MaxLength is the longest token looked at. Longer ones are refused as
// malformed before any decoding, so that a 100 KB token costs nothing.
const MaxLength = 8 << 10

// maxKeysTried bounds signature attempts for a token without a kid.
const maxKeysTried = 8

// Reason is why a token was refused; the values are the contract's metric
// label values, so they must never change.
type Reason string

const (
	Missing      Reason = "missing"
	Malformed    Reason = "malformed"
	BadSignature Reason = "bad_signature"
	UnknownKey   Reason = "unknown_key"
	BadAlgorithm Reason = "bad_algorithm"
	Expired      Reason = "expired"
	NotYetValid  Reason = "not_yet_valid"
	BadIssuer    Reason = "bad_issuer"
	BadAudience  Reason = "bad_audience"
	BadType      Reason = "bad_type"
	MissingClaim Reason = "missing_claim"
	// KeysUnavailable is not the client's fault: the issuer's key set has
	// never been loaded (the IdP has been unreachable since start). The
	// gateway answers 503 and does not count it as an auth failure.
	KeysUnavailable Reason = "keys_unavailable"
)

// Error is a refused token.
type Error struct {
	Reason Reason
	Issuer string // issuer name when known, else ""
	// Detail is for logs: safe text that never contains token material.
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return string(e.Reason)
	}
	return string(e.Reason) + ": " + e.Detail
}

// Description is the error_description sent to the client: fixed text per
// reason, so that nothing of the token or the key set is reflected.
func (e *Error) Description() string {
	switch e.Reason {
	case Missing:
		return "a bearer token is required"
	case Malformed:
		return "the token is malformed"
	case BadSignature:
		return "the token signature is invalid"
	case UnknownKey:
		return "the token is signed by an unknown key"
	case BadAlgorithm:
		return "the token's signing algorithm is not accepted"
	case Expired:
		return "the token has expired"
	case NotYetValid:
		return "the token is not valid yet"
	case BadIssuer:
		return "the token's issuer is not accepted"
	case BadAudience:
		return "the token's audience is not accepted"
	case BadType:
		return "the token's type is not accepted"
	case MissingClaim:
		return "the token lacks a required claim"
	case KeysUnavailable:
		return "the issuer's signing keys are not available yet"
	}
	return "the token is invalid"
}

func fail(r Reason, issuer, format string, args ...any) *Error {
	return &Error{Reason: r, Issuer: issuer, Detail: fmt.Sprintf(format, args...)}
}

// Keys is where an issuer's verification keys come from: a *jwks.KeySet.
type Keys interface {
	Lookup(ctx context.Context, kid string) ([]jwk.Key, error)
}

// versioned keys say when their contents change (jwks.KeySet.Version). Only
// an issuer whose keys are versioned gets a token cache: without a version
// the cache could not forget the tokens of a key that left the set.
type versioned interface {
	Version() uint64
}

// Issuer is what the verifier needs to know of one configured issuer.
type Issuer struct {
	Name           string
	Issuer         string // exact iss value
	Audiences      []string
	AudienceClaim  string // top-level claim holding the audience (string or array); "" = "aud"
	Algorithms     []string
	ClockSkew      time.Duration
	RequiredClaims []string
	TokenTypes     []string
	// Claims are the top-level claims a verified token keeps in
	// Token.Claims, once every claim check of the issuer has run on the
	// whole payload; nil keeps them all. The gateway keeps what its routes
	// can read (policy.Table.ClaimNames): the rest would only take room in
	// the token cache (1.7 KB a token with all nine claims of a typical
	// access token, 1.1 KB with the three a route reads, one of them an
	// object).
	Claims []string
	Keys   Keys
	// Cache bounds the verified-token cache; MaxEntries 0 turns it off.
	Cache CacheOptions
}

type issuer struct {
	Issuer
	algs     []jwa.SignatureAlgorithm
	types    []string // normalised
	versions versioned
	cache    *cache // nil when off
}

// Verifier verifies tokens against a fixed set of issuers. It is immutable
// and safe for concurrent use.
type Verifier struct {
	byIss  map[string]*issuer // by iss value
	names  map[string]*issuer // by issuer name
	cached []*issuer          // issuers with a token cache, in configuration order
	now    func() time.Time
	// skipSignatures: see WithoutSignatures.
	skipSignatures bool
}

// Option configures NewVerifier.
type Option func(*options)

type options struct {
	metrics *metrics.Metrics
	old     *Verifier
}

// WithMetrics reports the token caches' hits, misses, evictions and sizes.
func WithMetrics(m *metrics.Metrics) Option { return func(o *options) { o.metrics = m } }

// WithCachesOf hands the new verifier old's token cache of every issuer
// whose verification is unchanged: the same name, iss, key source (the same
// key set, not an equal one), algorithms, audiences, claim rules, clock skew,
// kept claims and cache bounds. Its entries stay true, since each records a
// verification that these settings and keys made, and a reload that only
// changes routes but not the claims they read then costs no token a second
// signature check. Any difference starts that issuer's cache empty.
func WithCachesOf(old *Verifier) Option { return func(o *options) { o.old = old } }

// cacheFor returns v's cache for is when is verifies exactly as v's issuer
// of that name did, else nil.
func (v *Verifier) cacheFor(is Issuer) *cache {
	if v == nil {
		return nil
	}
	prev := v.names[is.Name]
	if prev == nil || prev.cache == nil {
		return nil
	}
	// Every setting but the key source compares by value; a setting added
	// to Issuer later takes part without being listed here.
	a, b := prev.Issuer, is
	if !sameKeys(a.Keys, b.Keys) {
		return nil
	}
	a.Keys, b.Keys = nil, nil
	if !reflect.DeepEqual(a, b) {
		return nil
	}
	return prev.cache
}

// sameKeys reports whether a and b are the same key source. Sources that
// cannot be compared (a slice of keys, or a struct holding one, even behind
// an interface) are never the same.
func sameKeys(a, b Keys) bool {
	if a == nil || b == nil || reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	return reflect.ValueOf(a).Comparable() && reflect.ValueOf(b).Comparable() && a == b
}

// NewVerifier builds a verifier. Issuer values must be unique.
func NewVerifier(issuers []Issuer, opts ...Option) (*Verifier, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	v := &Verifier{byIss: map[string]*issuer{}, names: map[string]*issuer{}, now: time.Now}
	for _, is := range issuers {
		if _, dup := v.byIss[is.Issuer]; dup {
			return nil, fmt.Errorf("token: issuer %q configured twice", is.Issuer)
		}
		if is.Keys == nil {
			return nil, fmt.Errorf("token: issuer %q has no key source", is.Name)
		}
		// The verifier keeps copies: WithCachesOf compares the settings of
		// two verifiers, which must not be one slice edited in place.
		is.Audiences, is.Algorithms = slices.Clone(is.Audiences), slices.Clone(is.Algorithms)
		is.RequiredClaims, is.TokenTypes = slices.Clone(is.RequiredClaims), slices.Clone(is.TokenTypes)
		is.Claims = slices.Clone(is.Claims) // nil stays nil: every claim
		c := &issuer{Issuer: is}
		for _, a := range is.Algorithms {
			if !jwks.Supported(a) {
				return nil, fmt.Errorf("token: issuer %q: algorithm %q is not supported", is.Name, a)
			}
			c.algs = append(c.algs, jwa.SignatureAlgorithm(a))
		}
		if len(c.algs) == 0 {
			return nil, fmt.Errorf("token: issuer %q has no algorithms", is.Name)
		}
		for _, t := range is.TokenTypes {
			c.types = append(c.types, normalType(t))
		}
		if vk, ok := is.Keys.(versioned); ok {
			c.versions = vk
			if c.cache = o.old.cacheFor(is); c.cache == nil {
				c.cache = newCache(is.Name, is.Cache, o.metrics)
			}
		}
		if c.cache != nil {
			v.cached = append(v.cached, c)
		}
		v.byIss[is.Issuer] = c
		v.names[is.Name] = c
	}
	return v, nil
}

// WithClock returns a copy of v that reads the time from now (for tests).
func (v *Verifier) WithClock(now func() time.Time) *Verifier {
	c := *v
	c.now = now
	return &c
}

// WithoutSignatures returns a copy of v that checks everything but the
// signature, and marks the tokens it returns Unverified. It exists for
// `portcullis explain -no-verify`, which asks what a policy would do with a
// token whose keys are not at hand; the gateway never makes one. Its copy
// has no token cache.
func (v *Verifier) WithoutSignatures() *Verifier {
	c := *v
	c.skipSignatures = true
	c.cached = nil
	// Its issuers have no caches either: a token it passes was never
	// checked, and must never be put where v (or a verifier given v's
	// caches by WithCachesOf) would find it.
	c.byIss, c.names = map[string]*issuer{}, map[string]*issuer{}
	for iss, is := range v.byIss {
		u := *is
		u.cache = nil
		c.byIss[iss] = &u
		c.names[u.Name] = &u
	}
	return &c
}

// Token is a verified token. It may be shared by every request that presents
// the same token (the cache hands out the same value): never modify it.
type Token struct {
	Issuer    string         // issuer name
	Subject   string         // sub, "" when absent
	KeyID     string         // kid of the verifying key
	Algorithm string         // alg it was verified with
	Expiry    time.Time      // zero when the token has no exp
	Claims    map[string]any // the payload (or the Issuer.Claims of it), JSON-decoded with json.Number for numbers
	// Unverified marks a token whose signature was not checked: only ever
	// from a verifier made by WithoutSignatures, for portcullis explain.
	Unverified bool
}

// Verify checks raw (the compact JWS from the Authorization header) and
// returns the verified token or an *Error. allowed restricts the issuers by
// name (nil: any configured issuer).
//
// The order of the checks is deliberate: nothing about the claims is
// reported until the signature has been verified, so a forged token is
// always refused as forged and never as, say, expired.
func (v *Verifier) Verify(ctx context.Context, raw string, allowed []string) (*Token, error) {
	// Bounded first, so that hashing and scanning cost at most MaxLength.
	if len(raw) > MaxLength {
		return nil, fail(Malformed, "", "token longer than %d bytes", MaxLength)
	}
	// A token seen before skips the signature check, but never the checks
	// that depend on the request or the time: the route's issuers here,
	// expiry in the cache, scopes and claims in the route's policy. Only
	// verified tokens are cached, so a hit needs no format scan either.
	// (The string's bytes are hashed in place: Sum256 only reads them.)
	var h tokenHash
	if len(v.cached) > 0 {
		h = sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
		now := v.now()
		for _, is := range v.cached {
			if tok, ok := is.cache.get(h, is.versions.Version(), now); ok {
				if allowed != nil && !slices.Contains(allowed, is.Name) {
					return nil, fail(BadIssuer, is.Name, "issuer %s is not accepted on this route", is.Name)
				}
				return tok, nil
			}
		}
	}
	if err := wellFormed(raw); err != nil {
		return nil, err
	}
	tok, entry, err := v.verify(ctx, raw, allowed)
	// A miss counts against the issuer the token turned out to have.
	name := ""
	if tok != nil {
		name = tok.Issuer
	} else if te, ok := err.(*Error); ok {
		name = te.Issuer
	}
	if is := v.names[name]; is != nil && is.cache != nil {
		is.cache.misses.Inc()
		if err == nil {
			is.cache.put(h, entry)
		}
	}
	return tok, err
}

// verify is the full verification, and what the cache remembers of it.
func (v *Verifier) verify(ctx context.Context, raw string, allowed []string) (*Token, *verified, error) {
	msg, err := jws.Parse([]byte(raw))
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, nil, fail(Malformed, "", "not a compact JWS")
	}
	sig := msg.Signatures()[0]
	hdr := sig.ProtectedHeaders()
	// jwx's header decoder stops after the first JSON value, so
	// `{"alg":"EdDSA"}0` passed as a header (found by FuzzVerifyPayload).
	// The header must be exactly one JSON object, as RFC 7515 §4 says.
	if h, err := base64.RawURLEncoding.DecodeString(raw[:strings.IndexByte(raw, '.')]); err != nil ||
		!json.Valid(h) || !bytes.HasPrefix(bytes.TrimLeft(h, " \t\r\n"), []byte("{")) {
		return nil, nil, fail(Malformed, "", "the header is not one JSON object")
	}
	// base64url leaves unused bits in a segment's last character, and the
	// decoder ignores them: without this, every token would have 4 or 16
	// spellings that verify alike, and anything keyed on the token string
	// (a deny-list, a replay cache, an upstream's) could be bypassed by
	// re-spelling it (RFC 4648 §3.5 allows refusing non-zero pad bits).
	// The header and payload are covered by the signature as spelled.
	if base64.RawURLEncoding.EncodeToString(sig.Signature()) != raw[strings.LastIndexByte(raw, '.')+1:] {
		return nil, nil, fail(Malformed, "", "the signature is not in canonical base64url")
	}

	// The texts of these errors are fixed: the decoders' own quote the
	// payload, which is token material.
	claims, err := decodeClaims(msg.Payload())
	if err != nil {
		return nil, nil, fail(Malformed, "", "the payload is not one JSON object")
	}
	reg, err := readRegistered(claims)
	if err != nil {
		return nil, nil, fail(Malformed, "", "%v", err)
	}

	// Choose the issuer by the unverified iss, then trust nothing else of
	// the token until one of that issuer's keys has verified it.
	is, ok := v.byIss[reg.iss]
	if !ok {
		return nil, nil, fail(BadIssuer, "", "iss is not a configured issuer")
	}
	if allowed != nil && !slices.Contains(allowed, is.Name) {
		return nil, nil, fail(BadIssuer, is.Name, "issuer %s is not accepted on this route", is.Name)
	}
	// RFC 7515 §4.1.11: a recipient must refuse extensions it does not
	// understand; portcullis understands none. b64 (RFC 7797) changes what
	// is signed, so it is refused too.
	if len(hdr.Critical()) > 0 {
		return nil, nil, fail(Malformed, is.Name, "crit header names unsupported extensions")
	}
	if _, ok := hdr.Get("b64"); ok {
		return nil, nil, fail(Malformed, is.Name, "b64 header is not supported")
	}
	// RFC 7519 §5.2 and §7.2 step 8: cty "JWT" says the payload is a
	// nested token, an envelope rather than claims. Judging the payload as
	// claims would read what the signer did not mean as claims; unwrapping
	// it would take an inner token's claims on the outer signature. Neither
	// is done: such a token is refused. cty is compared as a media type
	// (RFC 7515 §4.1.10: case-insensitive, "application/" optional).
	if normalType(hdr.ContentType()) == "jwt" {
		return nil, nil, fail(Malformed, is.Name, "cty names a nested JWT, which is not accepted")
	}
	alg := hdr.Algorithm()
	if !slices.Contains(is.algs, alg) {
		return nil, nil, fail(BadAlgorithm, is.Name, "alg %.16q is not on the allow-list", string(alg))
	}
	if len(is.types) > 0 && !slices.Contains(is.types, normalType(hdr.Type())) {
		return nil, nil, fail(BadType, is.Name, "typ %.32q is not accepted", hdr.Type())
	}

	kid := hdr.KeyID()
	verifiedKID, version := kid, uint64(0)
	if !v.skipSignatures {
		key, ver, ferr := v.checkSignature(ctx, is, raw, sig.Signature(), kid, alg)
		if ferr != nil {
			return nil, nil, ferr
		}
		verifiedKID, version = key.KeyID(), ver
	}

	if err := reg.inTime(v.now(), is.ClockSkew); err != nil {
		err.Issuer = is.Name
		return nil, nil, err
	}
	if len(is.Audiences) > 0 {
		// Read from the claims rather than jwx's Audience(), because the
		// claim is configurable: Cognito's access tokens carry no aud and
		// name their app client in client_id.
		name := is.AudienceClaim
		if name == "" {
			name = "aud"
		}
		if !audienceAccepted(claims[name], is.Audiences) {
			return nil, nil, fail(BadAudience, is.Name, "%.64s contains none of the accepted audiences", name)
		}
	}
	for _, name := range is.RequiredClaims {
		if v, ok := claims[name]; !ok || v == nil {
			return nil, nil, fail(MissingClaim, is.Name, "required claim %q is absent", name)
		}
	}
	if is.Claims != nil {
		kept := make(map[string]any, len(is.Claims))
		for _, name := range is.Claims {
			if v, ok := claims[name]; ok {
				kept[name] = v
			}
		}
		claims = kept
	}
	t := &Token{
		Issuer:     is.Name,
		Subject:    reg.sub,
		KeyID:      verifiedKID,
		Algorithm:  string(alg),
		Expiry:     reg.exp,
		Claims:     claims,
		Unverified: v.skipSignatures,
	}
	e := &verified{tok: t, version: version}
	if reg.hasExp {
		e.expires = reg.exp.Add(is.ClockSkew)
	}
	if reg.hasNbf {
		e.nbf = reg.nbf.Add(-is.ClockSkew)
	}
	return t, e, nil
}

// checkSignature finds the issuer's keys that may verify a token with this
// kid and alg and checks the signature with them. It returns the key that
// verified it and the key set's version read before the keys.
func (v *Verifier) checkSignature(ctx context.Context, is *issuer, raw string, signature []byte, kid string, alg jwa.SignatureAlgorithm) (jwk.Key, uint64, *Error) {
	// The version is read before the keys: if the set changes during this
	// verification, the entry records the older version and is forgotten.
	var version uint64
	if is.versions != nil {
		version = is.versions.Version()
	}
	keys, err := is.Keys.Lookup(ctx, kid)
	switch {
	case errors.Is(err, jwks.ErrNotLoaded):
		return nil, 0, fail(KeysUnavailable, is.Name, "key set not loaded")
	case err != nil:
		return nil, 0, fail(UnknownKey, is.Name, "kid not in the key set")
	}
	verifier, err := jws.NewVerifier(alg)
	if err != nil {
		return nil, 0, fail(BadAlgorithm, is.Name, "no verifier for %s", alg)
	}
	// The signing input is read in place, as the cache key's hash reads the
	// token: the verifiers only read it.
	input := raw[:strings.LastIndexByte(raw, '.')]
	signingInput := unsafe.Slice(unsafe.StringData(input), len(input))
	// Only keys that fit alg are tried, at most maxKeysTried of them (a
	// token without kid is tried against the set). The slice is the key
	// set's own, read in place.
	fitting := 0
	for _, k := range keys {
		if !jwks.Fits(k, alg) {
			continue
		}
		if fitting++; fitting > maxKeysTried {
			break
		}
		if verifier.Verify(signingInput, signature, k) == nil {
			return k, version, nil
		}
	}
	if fitting == 0 {
		if kid != "" {
			// The named key exists but cannot make this algorithm: an
			// algorithm-confusion attempt or a misissued token.
			return nil, 0, fail(BadAlgorithm, is.Name, "key %.64q cannot verify %s", kid, alg)
		}
		return nil, 0, fail(UnknownKey, is.Name, "no key in the set fits %s", alg)
	}
	return nil, 0, fail(BadSignature, is.Name, "signature does not verify")
}

// wellFormed refuses, before any decoding, what cannot be a compact JWS:
// not three non-empty dot-separated segments, or bytes outside the
// base64url alphabet. (Verify has already bounded the length.)
func wellFormed(raw string) *Error {
	dots := 0
	last := -1
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if base64URL[c] {
			continue
		}
		if c != '.' {
			return fail(Malformed, "", "character outside base64url")
		}
		if i == last+1 {
			return fail(Malformed, "", "empty segment")
		}
		dots++
		last = i
	}
	if dots != 2 || last == len(raw)-1 {
		return fail(Malformed, "", "not three segments")
	}
	return nil
}

// base64URL marks the bytes of the base64url alphabet (RFC 4648 §5). A
// table scans a 700-byte token in 0.6-0.9 µs where the range tests it
// replaced took 1.2-1.7 µs (wellFormed was 3% of the CPU profile of the
// rs256-fresh load).
var base64URL = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

// decodeClaims decodes the payload as one JSON object, keeping numbers as
// json.Number so that they are forwarded and compared as written.
func decodeClaims(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, errors.New("not a JSON object")
	}
	if claims == nil {
		return nil, errors.New("not a JSON object")
	}
	if dec.More() {
		return nil, errors.New("trailing data after the claims")
	}
	if !finiteNumbers(claims, 0) {
		return nil, errors.New("a number beyond float64 range, or nesting deeper than 32")
	}
	return claims, nil
}

// finiteNumbers reports whether every number in v is a finite float64 and
// v nests at most 32 deep. RFC 8259 §6 leaves larger numbers to each
// implementation; refusing them means no two readers of the token (policy,
// upstreams) can take one for different values, and no comparison has to
// reckon with 5e1000000.
func finiteNumbers(v any, depth int) bool {
	if depth > 32 {
		return false
	}
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return err == nil && !math.IsInf(f, 0)
	case map[string]any:
		for _, e := range x {
			if !finiteNumbers(e, depth+1) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !finiteNumbers(e, depth+1) {
				return false
			}
		}
	}
	return true
}

// audienceAccepted reports whether an audience claim holds one of want.
// The claim is read the way RFC 7519 §4.1.3 defines aud: one string, or an
// array of strings. Any other shape (a number, an object, an array holding
// a non-string) is not an audience at all, so it matches nothing rather
// than being coerced into one. It does not allocate: it runs on every
// verification.
func audienceAccepted(v any, want []string) bool {
	switch x := v.(type) {
	case string:
		return slices.Contains(want, x)
	case []any:
		found := false
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return false
			}
			found = found || slices.Contains(want, s)
		}
		return found
	}
	return false
}

// normalType folds a typ value for comparison (RFC 9068 §2.1, RFC 7515
// §4.1.9): case-insensitive, "application/" optional.
func normalType(t string) string {
	t = strings.ToLower(t)
	return strings.TrimPrefix(t, "application/")
}

// registered are the registered claims (RFC 7519 §4.1) the verifier judges,
// read once from the decoded payload: decoding it a second time through
// jwx's token type cost as much CPU as the RSA check. The rules are jwx's
// (whole seconds, the skew on each side), with two differences that close
// holes: a NumericDate must be a JSON number (jwx also reads strings as
// dates), and an exp at the epoch is a date like any other (jwx reads it as
// no exp, so {"exp":0} would never expire).
type registered struct {
	iss, sub               string
	exp, nbf, iat          time.Time // whole seconds
	hasExp, hasNbf, hasIat bool
	// dateErr is a NumericDate that is not one. It is reported only once
	// the signature has verified, like every other judgement of claims.
	dateErr error
}

// maxNumericDate bounds NumericDates to what float64 holds exactly; beyond
// it a date is not a date.
const maxNumericDate = 1 << 53

func readRegistered(claims map[string]any) (registered, error) {
	var r registered
	var err error
	for _, c := range [...]struct {
		name string
		dst  *string
	}{{"iss", &r.iss}, {"sub", &r.sub}, {"jti", nil}} {
		switch v := claims[c.name].(type) {
		case nil:
		case string:
			if c.dst != nil {
				*c.dst = v
			}
		default:
			return r, fmt.Errorf("%s is not a string", c.name)
		}
	}
	switch v := claims["aud"].(type) {
	case nil, string:
	case []any:
		for _, a := range v {
			if _, ok := a.(string); !ok {
				return r, errors.New("aud is not a string or an array of strings")
			}
		}
	default:
		return r, errors.New("aud is not a string or an array of strings")
	}
	if r.exp, r.hasExp, err = numericDate(claims, "exp"); err != nil {
		r.dateErr = err
	}
	if r.nbf, r.hasNbf, err = numericDate(claims, "nbf"); err != nil && r.dateErr == nil {
		r.dateErr = err
	}
	if r.iat, r.hasIat, err = numericDate(claims, "iat"); err != nil && r.dateErr == nil {
		r.dateErr = err
	}
	return r, nil
}

// numericDate reads a NumericDate (RFC 7519 §2): a JSON number of seconds,
// truncated to whole seconds as jwx does.
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	v, ok := claims[name]
	if !ok || v == nil {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false, fmt.Errorf("%s is not a NumericDate", name)
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f > maxNumericDate || f < -maxNumericDate {
		return time.Time{}, false, fmt.Errorf("%s is not a NumericDate", name)
	}
	return time.Unix(int64(f), 0), true, nil
}

// inTime applies exp, nbf and iat at now with skew of leeway each way.
func (r registered) inTime(now time.Time, skew time.Duration) *Error {
	if r.dateErr != nil {
		return fail(Malformed, "", "%v", r.dateErr)
	}
	now = now.Truncate(time.Second)
	if r.hasExp && !now.Before(r.exp.Add(skew)) {
		return fail(Expired, "", "exp is in the past beyond the allowed skew")
	}
	if r.hasNbf && now.Add(skew).Before(r.nbf) {
		return fail(NotYetValid, "", "nbf is in the future beyond the allowed skew")
	}
	if r.hasIat && now.Add(skew).Before(r.iat) {
		return fail(NotYetValid, "", "iat is in the future beyond the allowed skew")
	}
	return nil
}
