package token

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/portcullis/portcullis/introspect"
	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/metrics"
)

// Keys is where an issuer's verification keys come from: a *jwks.KeySet.
type Keys interface {
	Lookup(ctx context.Context, kid string) ([]jwk.Key, error)
}

// Introspector asks the issuer's authorization server about a token (RFC
// 7662): an *introspect.Client.
type Introspector interface {
	Introspect(ctx context.Context, token string) (introspect.Response, error)
}

// RevocationList names revoked tokens: a *revocation.List.
type RevocationList interface {
	Ready() bool
	Revoked(jti, sub string, iat time.Time, hasIat bool) bool
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
	// Keys verify the issuer's JWTs; nil for an issuer whose tokens are
	// all opaque (Introspection), whose JWTs are then refused.
	Keys Keys
	// Cache bounds the verified-token cache; MaxEntries 0 turns it off.
	Cache CacheOptions
	// Introspection, when set, is asked about the tokens of this issuer
	// that are not JWTs, and with IntrospectJWTs about its JWTs too, once
	// they verified.
	Introspection  Introspector
	IntrospectJWTs bool
	// Revocation, when set, is checked for every token of this issuer,
	// cached ones included.
	Revocation RevocationList
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
	opaque []*issuer          // issuers with introspection, in configuration order
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
	if !prev.Issuer.verifiesAs(is) {
		return nil
	}
	return prev.cache
}

// verifiesAs reports whether a and b verify every token alike, so that what
// a verified and cached is true of b: every field of Issuer, each compared
// as what it means. The list is explicit, and TestVerifiesAsComparesEveryField
// changes each field of Issuer in turn, so a field added later fails that
// test until it is listed here.
func (a Issuer) verifiesAs(b Issuer) bool {
	return a.Name == b.Name &&
		a.Issuer == b.Issuer &&
		slices.Equal(a.Audiences, b.Audiences) &&
		a.AudienceClaim == b.AudienceClaim &&
		slices.Equal(a.Algorithms, b.Algorithms) &&
		a.ClockSkew == b.ClockSkew &&
		slices.Equal(a.RequiredClaims, b.RequiredClaims) &&
		slices.Equal(a.TokenTypes, b.TokenTypes) &&
		// nil keeps every claim, an empty list none.
		(a.Claims == nil) == (b.Claims == nil) && slices.Equal(a.Claims, b.Claims) &&
		same(a.Keys, b.Keys) &&
		a.Cache == b.Cache &&
		same(a.Introspection, b.Introspection) &&
		a.IntrospectJWTs == b.IntrospectJWTs &&
		same(a.Revocation, b.Revocation)
}

// same reports whether a and b are the same source: both nil, or the same
// comparable value (a pointer, not an equal copy). Sources that cannot be
// compared (a slice of keys, or a struct holding one, even behind an
// interface) are never the same.
func same[T any](a, b T) bool {
	av, bv := reflect.ValueOf(&a).Elem(), reflect.ValueOf(&b).Elem()
	if av.IsNil() || bv.IsNil() {
		return av.IsNil() && bv.IsNil()
	}
	return reflect.TypeOf(a) == reflect.TypeOf(b) && av.Elem().Comparable() && any(a) == any(b)
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
		if is.Keys == nil && is.Introspection == nil {
			return nil, fmt.Errorf("token: issuer %q has no key source", is.Name)
		}
		if is.IntrospectJWTs && (is.Keys == nil || is.Introspection == nil) {
			return nil, fmt.Errorf("token: issuer %q introspects JWTs without keys or introspection", is.Name)
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
		if is.Introspection != nil {
			v.opaque = append(v.opaque, c)
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
	c.opaque = nil // the copies, in configuration order
	for _, is := range v.opaque {
		c.opaque = append(c.opaque, c.names[is.Name])
	}
	return &c
}

// Runs reports whether Verify runs check c for tokens of the named issuer:
// every check of Checks or OpaqueChecks runs for every issuer, but the
// introspection of a JWT only with IntrospectJWTs and the revocation check
// only with a list. portcullis explain asks, to show a check that does not
// run as such rather than as passed.
func (v *Verifier) Runs(issuer string, opaque bool, c Check) bool {
	is := v.names[issuer]
	switch {
	case is == nil:
		return true
	case c == CheckRevocation:
		return is.Revocation != nil
	case c == CheckIntrospection && !opaque:
		return is.IntrospectJWTs
	}
	return true
}
