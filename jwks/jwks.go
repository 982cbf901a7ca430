// Package jwks owns an issuer's signing keys: where they come from (a
// jwks_uri over HTTP(S), OIDC discovery, or a file), keeping them fresh
// (periodic refresh, a rate-limited refetch when a token names an unknown
// kid), and keeping them safe (only usable signature keys are ever served; a
// failed or empty fetch never replaces the last good set).
//
// It knows nothing of routes, requests or tokens. It must never fetch from a
// location that a token names (jku, x5u): the only locations are those in the
// configuration, and discovery's jwks_uri for the configured issuer.
//
// Reads (Keys, Lookup of a known kid) load one atomic pointer to an immutable
// snapshot: they never wait for a fetch, whatever the identity provider is
// doing. Only a request that names a kid the set lacks, or that arrives before
// the first load, may wait, and then only for one fetch that it shares with
// every other such request.
package jwks

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/remote"
)

// Errors of Lookup.
var (
	// ErrNotLoaded: no key set has been loaded yet for this issuer (the IdP
	// has been unreachable since start); the caller answers 503.
	ErrNotLoaded = errors.New("jwks: no key set loaded yet")
	// ErrUnknownKey: the kid is not in the set, even after a refetch (or a
	// refetch was not allowed yet by min_refresh_interval).
	ErrUnknownKey = errors.New("jwks: no key with that kid")
)

// Source says where one issuer's keys come from and how to keep them.
type Source struct {
	Issuer             string        // issuer name: the metrics and log label
	IssuerURL          string        // the configured iss value (for discovery)
	JWKSURI            string        // http(s):// or file://; empty: use discovery
	Discovery          bool          // read jwks_uri from {IssuerURL}/.well-known/openid-configuration
	Algorithms         []string      // the issuer's allow-list; keys whose alg conflicts are dropped
	RefreshInterval    time.Duration // periodic refresh
	MinRefreshInterval time.Duration // at most one unknown-kid refetch per this interval
	// Identity is how the calls to the issuer verify it and present
	// themselves (CAs, client certificate, headers); the client given to
	// New is built from it.
	Identity remote.Identity
}

// Same reports whether a and b describe the same key set, so that a reload
// may keep the set (its keys, its refresh loop) rather than fetch it anew.
// Every field is listed; TestSourceSameComparesEveryField changes each field
// in turn, so a field added later fails that test until it is listed here.
func (a Source) Same(b Source) bool {
	return a.Issuer == b.Issuer &&
		a.IssuerURL == b.IssuerURL &&
		a.JWKSURI == b.JWKSURI &&
		a.Discovery == b.Discovery &&
		slices.Equal(a.Algorithms, b.Algorithms) &&
		a.RefreshInterval == b.RefreshInterval &&
		a.MinRefreshInterval == b.MinRefreshInterval &&
		a.Identity == b.Identity
}

// Defaults for the intervals of a Source that leaves them zero. A zero
// MinRefreshInterval is not taken to mean "no limit": that would let anyone
// who can send a token with a made-up kid make the gateway fetch the key set
// on every request.
const (
	defaultRefreshInterval    = 15 * time.Minute
	defaultMinRefreshInterval = 30 * time.Second
)

// KeySet is one issuer's keys. It is safe for concurrent use; reads never
// take a lock shared with fetching.
type KeySet struct {
	src    Source
	client *http.Client
	log    *zap.Logger
	m      *metrics.Metrics
	now    func() time.Time // the clock of timestamps and rate limits (tests replace it)

	// current is the last good set; nil until the first successful fetch.
	current atomic.Pointer[snapshot]

	// fetchSem serializes fetches, so that an older fetch can never
	// overwrite the result of a newer one. Readers never touch it.
	fetchSem chan struct{}
	// discovered is the jwks_uri found by discovery; only the fetch holding
	// fetchSem reads or writes it.
	discovered string

	// group shares one fetch among the requests (and the background loop)
	// that need one at the same time.
	group singleflight.Group

	mu          sync.Mutex // guards the fields below, never held during I/O
	lastAttempt time.Time  // start of the latest fetch of any kind
	flight      string     // singleflight key of the shared fetch in progress; "" when none
	generation  uint64     // makes each shared fetch's key unique

	started atomic.Bool

	// tracer makes each fetch a span (trace.go); nil: tracing off.
	tracer trace.Tracer
}

// snapshot is one fetched key set. It is never modified after it is
// published, which is what lets readers use it without a lock.
type snapshot struct {
	keys []jwk.Key // in document order
	// byKID holds, for each key that has a kid, the one-key slice that
	// Lookup returns: built once per fetch so that a lookup allocates
	// nothing.
	byKID   map[string][]jwk.Key
	fetched time.Time // when the fetch that produced it succeeded
	// fingerprint identifies the set's contents (every key's kid and RFC
	// 7638 thumbprint); version counts the changes of fingerprint.
	fingerprint [sha256.Size]byte
	version     uint64
}

// New creates a key set; nothing is fetched until Start. client may be nil
// for a default client with timeouts; m and log may be nil.
//
// A client that is given is copied and its CheckRedirect replaced: the key
// set follows at most three redirects and only within the same scheme and
// host, so that an open redirect on the identity provider's host cannot hand
// key distribution to another server, nor downgrade https to http.
func New(src Source, client *http.Client, log *zap.Logger, m *metrics.Metrics) *KeySet {
	if src.RefreshInterval <= 0 {
		src.RefreshInterval = defaultRefreshInterval
	}
	if src.MinRefreshInterval <= 0 {
		src.MinRefreshInterval = defaultMinRefreshInterval
	}
	src.Algorithms = slices.Clone(src.Algorithms)
	client = remote.Client(client)
	if log == nil {
		log = zap.NewNop()
	}
	return &KeySet{
		src:      src,
		client:   client,
		log:      log.With(zap.String("issuer", src.Issuer)),
		m:        m,
		now:      time.Now,
		fetchSem: make(chan struct{}, 1),
	}
}

// Start fetches the set in the background and keeps it refreshed until ctx
// is done. It returns at once.
//
// A failed fetch, first or periodic, is retried after 1s, 2s, 4s and so on,
// up to the smaller of RefreshInterval and a minute; after a success the set
// is refreshed every RefreshInterval. Every wait is jittered by ±10% so that
// many gateways restarted together do not fetch in lockstep. Start must be
// called at most once; later calls do nothing.
func (k *KeySet) Start(ctx context.Context) {
	if !k.started.CompareAndSwap(false, true) {
		return
	}
	go k.run(ctx)
}

// Ready reports whether a key set has been loaded at least once.
func (k *KeySet) Ready() bool { return k.current.Load() != nil }

// LastSuccess is when the current set was fetched; zero before the first
// load. A LastSuccess far older than RefreshInterval means the identity
// provider has been failing and the set is being served stale.
func (k *KeySet) LastSuccess() time.Time {
	if s := k.current.Load(); s != nil {
		return s.fetched
	}
	return time.Time{}
}

// Version identifies the contents of the current set: it changes whenever a
// fetch publishes a set whose keys differ from the previous one (a key added,
// removed or replaced), and stays the same when a refresh brings the same
// keys. 0 means no set has loaded. Whoever remembers what a key verified (the
// token cache) compares versions to forget it when keys change.
func (k *KeySet) Version() uint64 {
	if s := k.current.Load(); s != nil {
		return s.version
	}
	return 0
}

// Keys returns the current usable keys (nil before the first load). The
// slice is the caller's; the keys are shared and must not be modified.
func (k *KeySet) Keys() []jwk.Key {
	if s := k.current.Load(); s != nil {
		return slices.Clone(s.keys)
	}
	return nil
}

// Lookup returns the keys that may verify a token with this kid: the key
// with that kid, or, when kid is empty, every key in the set. The slice is
// shared with every other caller and must not be modified. When no key has
// that kid it triggers one refetch shared by all concurrent callers (at most
// once per MinRefreshInterval) and waits for it, bounded by ctx and by the
// fetch timeout; then answers ErrUnknownKey if the kid is still absent.
//
// Before the first load, Lookup joins the fetch in progress (or starts one,
// under the same rate limit) and answers ErrNotLoaded if it brings no set.
// The returned errors wrap ctx's error when ctx ended the wait.
func (k *KeySet) Lookup(ctx context.Context, kid string) ([]jwk.Key, error) {
	if keys, ok := k.find(kid); ok {
		return keys, nil
	}
	err := k.refetch(ctx, k.fetchBase(ctx), true)
	// Look again whatever refetch said: a fetch that another caller started
	// may have brought the key while this one was being turned away.
	if keys, ok := k.find(kid); ok {
		return keys, nil
	}
	want := ErrUnknownKey
	if !k.Ready() { // a set once loaded is never unloaded
		want = ErrNotLoaded
	}
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return nil, fmt.Errorf("%w: %w", want, ctxErr)
	}
	return nil, want
}

// find looks kid up in the current snapshot. It is on every request's path,
// so it neither locks nor allocates: the slices it returns are the
// snapshot's own, clipped so that an append copies them.
func (k *KeySet) find(kid string) ([]jwk.Key, bool) {
	s := k.current.Load()
	if s == nil {
		return nil, false
	}
	if kid == "" {
		return s.keys, true
	}
	keys, ok := s.byKID[kid]
	return keys, ok
}

// Refresh fetches now, whatever the intervals, and reports the outcome. A
// failure keeps the last good set.
//
// Refresh never joins a fetch already in progress, since that one may have
// started before the change the caller wants to see; it waits for it to
// finish and then fetches.
func (k *KeySet) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	return k.fetch(ctx)
}
