// Package revocation owns an issuer's revocation list: a document the
// gateway polls (over HTTP(S) or from a file) that names tokens to refuse
// although their signature and claims are valid, and the check of a verified
// token against it.
//
// The document:
//
//	{
//	  "entries": [
//	    {"jti": "4f1c0a…", "exp": 1767225600},
//	    {"sub": "alice", "before": 1767225600}
//	  ]
//	}
//
// Its entries:
//
//   - A jti entry revokes the token with that jti. Its exp (a NumericDate,
//     required) is the exp of the revoked token: the entry is dropped once exp
//     plus the clock skew has passed, when the token is refused as expired
//     anyway, so the list needs no cleanup by its publisher. If several
//     entries name one jti, the latest exp counts.
//   - A sub entry logs a subject out everywhere: every token of that subject
//     whose iat is before "before" is revoked (a token issued at "before" or
//     later is not). A token without iat whose sub has an entry is revoked,
//     since it cannot prove it was issued after. If several entries name one
//     sub, the latest before counts. Sub entries stay until the publisher
//     removes them.
//   - Each entry is exactly one of the two shapes. The whole document is
//     refused when any entry is not: an unknown or repeated member, both jti
//     and sub, a missing exp or before, a time that is not a non-negative
//     integer (or lies past the year 9999), an empty jti or sub, or one over
//     1 KiB. Unknown top-level members, a missing "entries", and more than
//     MaxEntries entries are refused too. Member names are matched exactly
//     (case included).
//
// It is a package of its own, beside token and policy, because a list of
// revoked tokens is neither keys (jwks) nor route policy: it is a stage of its
// own with one entry point, Check. Fetching follows the same rules as the key
// sets' (package remote): a size cap, same-origin redirects only, jittered
// polling with backoff, conditional GETs.
//
// It must never un-revoke on error: a failed fetch (unreachable, an error
// status, garbage, too large, too many entries, a missing file) keeps the
// last good list, however old. It must never trust a partially valid
// document: one bad entry refuses them all, since skipping it would silently
// un-revoke what it named. Until the first load nothing is served: Check
// answers ErrNotLoaded and Revoked true.
//
// Check and Revoked load one atomic pointer to an immutable snapshot: they
// take no lock and allocate nothing, so they can run on every request,
// verified-token cache hits included.
package revocation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/remote"
)

// Answers of Check.
var (
	// ErrNotLoaded: no list has been loaded yet for this issuer (its source
	// has failed since start); the caller answers 503, since whether the
	// token is revoked is unknown.
	ErrNotLoaded = errors.New("revocation: no revocation list loaded yet")
	// ErrRevoked: the list revokes the token (by jti, or by sub and iat).
	ErrRevoked = errors.New("revocation: token revoked")
)

// Defaults for the Options a caller leaves zero.
const (
	DefaultRefreshInterval = 30 * time.Second
	DefaultMaxEntries      = 100000
)

// Options says where one issuer's list comes from and how to keep it.
type Options struct {
	// Issuer is the configured issuer's name: the log field and the metric
	// label. Required.
	Issuer string
	// URI is the list's location: https://, http:// or file:// (a local
	// path). Required.
	URI string
	// RefreshInterval is how often the list is polled after a success
	// (±10%); after a failure the retry comes sooner (1s, 2s, 4s ... up to
	// the smaller of RefreshInterval and a minute). Zero means
	// DefaultRefreshInterval.
	RefreshInterval time.Duration
	// MaxEntries bounds the entries of a document; one with more is refused
	// whole and the last good list stays. It also sizes the cap on the
	// document's bytes: 256 bytes per entry plus 64 KiB. Zero means DefaultMaxEntries.
	MaxEntries int
	// ClockSkew keeps a jti entry for this long past its exp: set it to the
	// skew the verifier allows on exp, so that an entry outlives the token
	// it names.
	ClockSkew time.Duration
	// Client fetches http(s) locations; nil means a default with timeouts.
	// A given client is copied and its CheckRedirect replaced: at most three
	// redirects, within the same scheme and host.
	Client *http.Client
	// Log receives one line per failed fetch and per change; nil: none.
	Log *zap.Logger
	// Metrics records every fetch; nil: none.
	Metrics *metrics.Revocation
	// Now is the clock of jti expiry and of timestamps; nil: time.Now.
	Now func() time.Time
}

// The cap on a document's bytes: bytesPerEntry per allowed entry plus
// documentOverhead, about 25 MiB at the default MaxEntries. It scales with
// MaxEntries so that raising one raises the other, and 256 bytes hold a
// pretty-printed entry with a jti of some 200 characters: an ordinary list
// within MaxEntries is never refused for its size first. It still keeps a
// broken or hostile server from making the gateway buffer an unbounded body;
// a list whose every jti is near the 1 KiB limit is not admitted whole, and
// no publisher needs one.
const (
	bytesPerEntry    = 256
	documentOverhead = 64 << 10
)

// fetchTimeout bounds one fetch, whatever the client's own timeouts (a
// given client may have none), so that a stalled source shows up as an
// error in the log and the metrics rather than as a silent stall.
const fetchTimeout = 30 * time.Second

// maxMember is the longest jti or sub an entry may have.
const maxMember = 1 << 10

// List is one issuer's revocation list. It is safe for concurrent use;
// Check and Revoked never wait for a fetch.
type List struct {
	issuer     string
	uri        string
	interval   time.Duration
	maxEntries int
	maxBytes   int64
	skew       time.Duration
	client     *http.Client
	log        *zap.Logger
	m          *metrics.Revocation
	now        func() time.Time

	// current is the last good list; nil until the first successful fetch.
	current atomic.Pointer[snapshot]

	// fetching holds a token while a fetch runs: it serializes fetches, so
	// that an older fetch can never overwrite the result of a newer one,
	// and guards lastSuccess. A channel, not a mutex, so that a caller
	// waiting for the fetch in progress can give up with its context (a
	// reload is bounded). Readers never take it.
	fetching    chan struct{}
	lastSuccess time.Time

	started atomic.Bool
}

// snapshot is one loaded list. It is never modified after it is published,
// which is what lets readers use it without a lock.
type snapshot struct {
	jti map[string]int64 // jti -> exp of the revoked token (Unix seconds)
	sub map[string]int64 // sub -> before (Unix seconds)
	// version counts the changes of the entries in effect.
	version uint64
	// The validators of the document that brought this list, for the next
	// conditional GET.
	etag         string
	lastModified string
}

// entries is how many entries the snapshot holds.
func (s *snapshot) entries() int { return len(s.jti) + len(s.sub) }

// New checks o and creates the list; nothing is fetched until Start or
// Refresh. Its errors name the issuer and the option at fault.
func New(o Options) (*List, error) {
	if o.Issuer == "" {
		return nil, errors.New("revocation: issuer name is empty")
	}
	u, err := url.Parse(o.URI)
	if err != nil {
		return nil, fmt.Errorf("revocation: issuer %q: uri %q: %w", o.Issuer, remote.Clip(o.URI), err)
	}
	switch u.Scheme {
	case "https", "http", "file":
	default:
		return nil, fmt.Errorf("revocation: issuer %q: uri %s: scheme %q is not https, http or file", o.Issuer, remote.Display(u), u.Scheme)
	}
	if o.RefreshInterval < 0 {
		return nil, fmt.Errorf("revocation: issuer %q: refresh interval %s is negative", o.Issuer, o.RefreshInterval)
	}
	if o.MaxEntries < 0 {
		return nil, fmt.Errorf("revocation: issuer %q: max entries %d is negative", o.Issuer, o.MaxEntries)
	}
	if o.ClockSkew < 0 {
		return nil, fmt.Errorf("revocation: issuer %q: clock skew %s is negative", o.Issuer, o.ClockSkew)
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Metrics.IssuerConfigured(o.Issuer)
	return &List{
		issuer:     o.Issuer,
		uri:        o.URI,
		interval:   o.RefreshInterval,
		maxEntries: o.MaxEntries,
		maxBytes:   int64(o.MaxEntries)*bytesPerEntry + documentOverhead,
		skew:       o.ClockSkew,
		client:     remote.Client(o.Client),
		log:        o.Log.With(zap.String("issuer", o.Issuer), zap.String("location", remote.Display(u))),
		m:          o.Metrics,
		now:        o.Now,
		fetching:   make(chan struct{}, 1),
	}, nil
}

// Start loads the list at once in the background and keeps polling it until
// ctx is done. It returns at once. Start must be called at most once; later
// calls do nothing.
func (l *List) Start(ctx context.Context) {
	if !l.started.CompareAndSwap(false, true) {
		return
	}
	go remote.Poll(ctx, l.interval, l.Refresh)
}

// Ready reports whether a list has been loaded at least once.
func (l *List) Ready() bool { return l.current.Load() != nil }

// Version identifies the entries in effect: it changes whenever a fetch
// brings a list whose entries differ from the previous one's, and stays the
// same when a refresh brings the same entries (or a 304). 0 means no list
// has loaded.
func (l *List) Version() uint64 {
	if s := l.current.Load(); s != nil {
		return s.version
	}
	return 0
}

// Check tells whether the current list revokes a verified token of this
// issuer: ErrRevoked when it does, ErrNotLoaded before the first load, nil
// otherwise. jti and sub are the token's claims ("" when absent); iat is its
// issued-at, meaningful only when hasIat.
//
// It runs on every request, so it takes no lock and allocates nothing; the
// clock is read only when the token's jti is listed.
func (l *List) Check(jti, sub string, iat time.Time, hasIat bool) error {
	s := l.current.Load()
	if s == nil {
		return ErrNotLoaded
	}
	if jti != "" {
		if exp, ok := s.jti[jti]; ok && !expired(exp, l.now(), l.skew) {
			return ErrRevoked
		}
	}
	if sub != "" {
		if before, ok := s.sub[sub]; ok && (!hasIat || iat.Before(time.Unix(before, 0))) {
			return ErrRevoked
		}
	}
	return nil
}

// Revoked is Check as a yes or no: true when the list revokes the token, and
// true before the first load too (a token is never let through on a list
// that is not there). Callers that must tell the two apart (401 from 503)
// use Check, or Ready first.
func (l *List) Revoked(jti, sub string, iat time.Time, hasIat bool) bool {
	return l.Check(jti, sub, iat, hasIat) != nil
}
